"""The throwaway PostgreSQL cluster of the lab: who runs it, where it listens, restart and clean-up."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path
from typing import Callable

import psycopg
import pytest

from farmhand.lab import pgcluster
from farmhand.lab.pgcluster import PgCluster


def _postmaster_pid(cluster: PgCluster) -> int:
    return int((cluster.data / "postmaster.pid").read_text().splitlines()[0])


def test_runs_unprivileged_on_a_socket_and_loopback(pg_cluster: PgCluster) -> None:
    owner = os.stat(f"/proc/{_postmaster_pid(pg_cluster)}").st_uid
    if os.geteuid() == 0:
        assert owner != 0 and pwd.getpwuid(owner).pw_name in pgcluster.SYSTEM_USERS
    else:
        assert owner == os.geteuid()
    assert pg_cluster.sql("SHOW listen_addresses;").strip() == "127.0.0.1"
    assert list(pg_cluster.socket_dir.glob(".s.PGSQL.*"))  # the Unix socket psql used
    with psycopg.connect(pg_cluster.url(), autocommit=True) as conn:  # and TCP on the free port
        row = conn.execute("SELECT inet_server_addr()::text, inet_server_port()").fetchone()
    assert row == ("127.0.0.1/32", pg_cluster.port)
    assert pg_cluster.password not in repr(pg_cluster)


def test_restart_keeps_committed_data_and_stop_removes_everything(
    make_cluster: Callable[..., PgCluster],
) -> None:
    cluster = make_cluster()
    cluster.create_role("artist1", "pw")
    cluster.create_database("farm", owner="artist1")
    url = cluster.url("artist1", "pw", "farm")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t(x int)")
        conn.execute("INSERT INTO t VALUES (1)")
    before = _postmaster_pid(cluster)
    cluster.restart("immediate")  # a crash: the server recovers from its WAL
    assert _postmaster_pid(cluster) != before
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT x FROM t").fetchall() == [(1,)]
    directory = cluster.directory
    cluster.stop()
    assert not directory.exists()
    assert not cluster.running()


def test_bad_names_and_shutdown_modes_are_refused(pg_cluster: PgCluster) -> None:
    with pytest.raises(ValueError, match="not a plain identifier"):
        pg_cluster.create_database("farm; DROP ROLE x")
    with pytest.raises(ValueError, match="unknown shutdown mode"):
        pg_cluster.stop_server("gently")
    with pytest.raises(RuntimeError, match=r"psql failed: .*syntax error"):
        pg_cluster.sql("SELEC 1;")


def test_clusters_of_dead_test_runs_are_cleaned_up(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = tmp_path / f"fh-pg-{gone.pid}-abcdef"
    (stale / "data").mkdir(parents=True)
    mine = tmp_path / f"fh-pg-{os.getpid()}-123456"
    mine.mkdir()
    other = tmp_path / "fh-pg-notours"
    other.mkdir()
    pgcluster.cleanup_stale(tmp_path)
    assert not stale.exists()
    assert mine.exists() and other.exists()


def test_missing_server_binaries_say_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FARMHAND_PG_BINDIR", str(tmp_path))
    with pytest.raises(RuntimeError, match="install Debian's 'postgresql' package"):
        pgcluster.find_bindir()
