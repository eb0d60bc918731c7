"""End to end on real sshd nodes with the job store in PostgreSQL (``FARMHAND_STORE``): the CLI submits,
the dispatcher it starts renders on the lab's nodes, every row lives in the farm database; the server
restarted mid-job loses nothing. The dispatcher reaches the server over its Unix socket (the lab's
network namespace has its own loopback)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Callable, Optional

import psycopg
import pytest
from tests.engine.conftest import FAST_SETTINGS, EngineFarm, assert_complete

from farmhand import paths
from farmhand.engine import process as dispatcher_process
from farmhand.engine.pg import schema
from farmhand.engine.store import Store
from farmhand.jobs import FrameState
from farmhand.lab import LocalFarm, pgrelay
from farmhand.lab.pgcluster import PgCluster
from farmhand.nodes.registry import Registry

pytestmark = [pytest.mark.lab, pytest.mark.slow]
Make = Callable[[PgCluster, str], EngineFarm]


def socket_url(cluster: PgCluster, database: str) -> str:
    """The superuser's URL over the cluster's Unix socket, password in the URL (a test cluster's)."""
    base = cluster.url(database=database)
    return f"{base.split('@')[0]}@/{database}?host={cluster.socket_dir}&port={cluster.port}"


@pytest.fixture
def pg_engine_farm(
    make_lab: Callable[..., LocalFarm], farmhand_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Make]:
    farms: list[EngineFarm] = []

    def make(cluster: PgCluster, database: str, n: int = 3) -> EngineFarm:
        with psycopg.connect(cluster.url(database=database), autocommit=True) as conn:
            schema.migrate(conn)
        monkeypatch.setenv("FARMHAND_STORE", socket_url(cluster, database))
        lab = make_lab(n=n)
        lab.trust()
        ssh = Path(os.path.expanduser("~/.ssh/config"))
        ssh.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        ssh.write_text(lab.ssh_config_text())
        farmhand_home.mkdir(parents=True, exist_ok=True)
        (farmhand_home / "dispatcher.json").write_text(json.dumps(FAST_SETTINGS))
        farm = EngineFarm(lab, farmhand_home)
        farm.register()
        farms.append(farm)
        return farm

    yield make
    for farm in farms:
        farm.stop_dispatcher()
        farm.client.close()
    for farm in farms:
        farm.assert_no_orphans()


def demo_args(farm: EngineFarm, frames: str, spf: float = 0.2) -> list[str]:
    return ["--preset", "demo", "--frames", frames, "--output", str(farm.share / "out" / "img.$F4.png"),
            "--param", f"seconds_per_frame={spf}"]


def frames_in_database(cluster: PgCluster, database: str, job: str) -> dict[str, int]:
    with psycopg.connect(cluster.url(database=database), autocommit=True) as conn:
        found = conn.execute("SELECT state, count(*) FROM frames WHERE job = %s GROUP BY state",
                             (int(job.lstrip("#")),)).fetchall()
    return {str(state): int(n) for state, n in found}


def sqlite_jobs() -> list[str]:
    """Jobs in FARMHAND_HOME's SQLite store (engine.previews still opens one of its own: see docs/team.md)."""
    if not paths.jobs_db().exists():
        return []
    store = Store(readonly=True)
    try:
        return store.job_ids()
    finally:
        store.close()


def test_one_dispatcher_renders_a_job_with_the_postgresql_store(
    pg_cluster: PgCluster, pg_engine_farm: Make
) -> None:
    database = pg_cluster.create_database("lab_one")
    try:
        farm = pg_engine_farm(pg_cluster, database)
        job = farm.submit(*demo_args(farm, "1-30"))
        snap = farm.wait(job, timeout=120)
        assert_complete(farm, snap)
        assert len({r.node for r in snap.frames}) > 1  # spread over the lab's nodes
        assert frames_in_database(pg_cluster, database, job) == {FrameState.DONE.value: 30}
        assert sqlite_jobs() == []  # nothing went to a SQLite store
        farm.stop_dispatcher()
    finally:
        pg_cluster.drop_database(database)


def test_postgresql_restarted_mid_job_loses_nothing(
    make_cluster: Callable[..., PgCluster], pg_engine_farm: Make
) -> None:
    cluster = make_cluster()
    database = cluster.create_database("lab_restart")
    farm = pg_engine_farm(cluster, database)
    job = farm.submit(*demo_args(farm, "1-40", spf=0.3))
    farm.wait_for(lambda: farm.client.job(job).summary.frames_done >= 6, timeout=60, what="some frames done")
    before = {r.frame for r in farm.client.job(job).frames if r.state is FrameState.DONE}
    cluster.restart()
    snap = farm.wait(job, timeout=150)
    assert_complete(farm, snap)
    assert before <= {r.frame for r in snap.frames if r.state is FrameState.DONE}
    assert frames_in_database(cluster, database, job) == {FrameState.DONE.value: 40}
    farm.stop_dispatcher()




# --- several dispatchers on the lab's nodes ----------------------------------------------------------

TEAM_SETTINGS = {**FAST_SETTINGS, "policy": {"target_chunk_seconds": 3.0, "max_chunk_frames": 3}}


def open_chunks_by_dispatcher(cluster: PgCluster, database: str) -> dict[str, int]:
    with psycopg.connect(cluster.url(database=database), autocommit=True) as conn:
        found = conn.execute("SELECT dispatcher, count(*) FROM chunks WHERE state IN ('starting', 'running')"
                             " GROUP BY 1").fetchall()
    return {str(d): int(n) for d, n in found}


def second_home(farm: EngineFarm, home: Path, other: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second artist's FARMHAND_HOME (own registry copy, own dispatcher) on the same farm database; the
    first sees the lab's nodes but the last, the second all but the first: they race for the middle ones."""
    (home / "dispatcher.json").write_text(json.dumps(TEAM_SETTINGS))
    shutil.copytree(home, other)
    names = [n.name for n in farm.lab.nodes]
    Registry().set_enabled(names[-1], False)
    with monkeypatch.context() as m:
        m.setenv("FARMHAND_HOME", str(other))
        Registry().set_enabled(names[0], False)


def start_dispatcher(farm: EngineFarm, home: Path, store: Optional[str] = None) -> subprocess.Popen[bytes]:
    env = dict(farm.env, FARMHAND_HOME=str(home))
    if store is not None:
        env["FARMHAND_STORE"] = store
    proc = farm.lab.popen_in_lab([sys.executable, "-m", "farmhand", "dispatcher"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc


def test_a_dispatcher_killed_mid_job_is_taken_over_by_the_other(
    pg_cluster: PgCluster, pg_engine_farm: Make, farmhand_home: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGKILL one of two dispatchers while both render one job: its leases run out (3 s here), the other
    adopts its nodes and chunks, and every frame ends done."""
    monkeypatch.setenv("FARMHAND_LEASE_SECONDS", "3")
    database = pg_cluster.create_database("lab_kill")
    farm = pg_engine_farm(pg_cluster, database, n=4)
    other = tmp_path / "home-b"
    second_home(farm, farmhand_home, other, monkeypatch)
    first, second = start_dispatcher(farm, farmhand_home), start_dispatcher(farm, other)
    try:
        farm.wait_for(dispatcher_process.running, timeout=30, what="the first dispatcher")
        job = farm.submit(*demo_args(farm, "1-60", spf=0.3))
        farm.wait_for(lambda: len(open_chunks_by_dispatcher(pg_cluster, database)) == 2, timeout=60,
                      what="both dispatchers rendering")
        killed = f"dispatcher:{socket.gethostname()}:{first.pid}"
        assert killed in open_chunks_by_dispatcher(pg_cluster, database)
        first.kill()  # SIGKILL: no goodbye, its SSH connections just drop
        first.wait(10)
        snap = farm.wait(job, timeout=180)
        assert_complete(farm, snap)
        assert frames_in_database(pg_cluster, database, job) == {FrameState.DONE.value: 60}
        adopted = [e for e in snap.events if e.kind == "adopted"]
        assert adopted and all(killed in e.message for e in adopted), [e.message for e in snap.events][-10:]
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(20)
    pg_cluster.drop_database(database)


RELAY_PORT = 15432  # inside the lab's namespace, whose loopback nothing else uses


def test_a_dispatcher_cut_off_from_the_database_stops_and_the_other_carries_on(
    pg_cluster: PgCluster, pg_engine_farm: Make, farmhand_home: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first dispatcher reaches the database over TCP through the lab's network; its packets are then
    dropped (iptables) while both render one job. The other adopts its nodes once its leases expire and
    renders every frame; the cut-off one stays up, hands out nothing, and holds no chunk once back."""
    monkeypatch.setenv("FARMHAND_LEASE_SECONDS", "3")
    database = pg_cluster.create_database("lab_cut")
    farm = pg_engine_farm(pg_cluster, database, n=4)
    other = tmp_path / "home-b"
    second_home(farm, farmhand_home, other, monkeypatch)
    sock = pg_cluster.socket_dir / f".s.PGSQL.{pg_cluster.port}"
    relay = farm.lab.popen_in_lab([sys.executable, "-m", "farmhand.lab.pgrelay", str(RELAY_PORT), str(sock)],
                                  env=farm.env, stdout=subprocess.PIPE)
    procs = [relay]
    try:
        assert relay.stdout is not None and relay.stdout.readline().strip() == b"ready"
        tcp = pg_cluster.url(database=database).replace(f"@{pg_cluster.host}:{pg_cluster.port}/",
                                                        f"@127.0.0.1:{RELAY_PORT}/")
        first = start_dispatcher(farm, farmhand_home, store=tcp)
        procs += [first, start_dispatcher(farm, other)]
        farm.wait_for(dispatcher_process.running, timeout=30, what="the first dispatcher")
        job = farm.submit(*demo_args(farm, "1-60", spf=0.3))
        farm.wait_for(lambda: len(open_chunks_by_dispatcher(pg_cluster, database)) == 2, timeout=60,
                      what="both dispatchers rendering")
        cut_off = f"dispatcher:{socket.gethostname()}:{first.pid}"
        pgrelay.cut(farm.lab.lab_ns, RELAY_PORT)
        try:
            snap = farm.wait(job, timeout=180)
            assert_complete(farm, snap)
            assert frames_in_database(pg_cluster, database, job) == {FrameState.DONE.value: 60}
            adopted = [e for e in snap.events if e.kind == "adopted"]
            assert adopted and all(cut_off in e.message for e in adopted), [e.message for e in snap.events]
            assert first.poll() is None  # cut off, not dead
        finally:
            pgrelay.mend(farm.lab.lab_ns, RELAY_PORT)
        # Back on the network it holds no chunk of the job; none of its chunks is open.
        assert cut_off not in open_chunks_by_dispatcher(pg_cluster, database)
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)
    pg_cluster.drop_database(database)
