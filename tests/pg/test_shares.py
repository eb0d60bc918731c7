"""Fair-share weights on a real farm database: a wrangler sets them from the CLI, an artist may only
read them, a job counts against its project when the project has a weight (FARMHAND_PROJECT)."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from farmhand.cli import main
from farmhand.engine.pg import work
from farmhand.engine.pg.roles import FarmRole
from farmhand.engine.pg.store import PgStore
from farmhand.jobs import JobSpec

from .conftest import FarmDb, User


def _log_in(farm_db: FarmDb, monkeypatch: pytest.MonkeyPatch, role: FarmRole, stem: str) -> User:
    """A new login of ``role``, and this process pointed at the farm database as it."""
    user = farm_db.user(role, stem)
    monkeypatch.setenv("FARMHAND_STORE", user.url)
    return user


def test_a_wrangler_sets_lists_and_removes_weights(
    farm_db: FarmDb, farmhand_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    del farmhand_home
    wendy = _log_in(farm_db, monkeypatch, FarmRole.WRANGLER, "wendy")
    assert main(["shares"]) == 0
    assert "even share" in capsys.readouterr().out
    assert main(["shares", "set", "alice", "2"]) == 0
    assert main(["shares", "set", "--project", "show_x", "0.5"]) == 0
    capsys.readouterr()
    assert main(["shares", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["preempt"] is False
    assert sorted((s["kind"], s["name"], s["weight"]) for s in listed["shares"]) == [
        ("project", "show_x", 0.5), ("user", "alice", 2.0)]
    assert main(["shares", "set", "alice", "3"]) == 0  # changed, not added
    assert main(["shares", "rm", "--project", "show_x"]) == 0
    assert "back to an even share" in capsys.readouterr().out
    with psycopg.connect(farm_db.admin_url, autocommit=True) as conn:
        assert work.fair_inputs(conn).weights == {"alice": 3.0}
    assert main(["shares", "preempt", "on"]) == 0
    assert main(["shares"]) == 0
    out = capsys.readouterr().out
    assert "pre-emption: on" in out and wendy.password not in out


def test_an_artist_may_read_but_not_change_weights(
    farm_db: FarmDb, farmhand_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    del farmhand_home
    carol = _log_in(farm_db, monkeypatch, FarmRole.ARTIST, "carol")
    assert main(["shares"]) == 0
    capsys.readouterr()
    for argv in (["shares", "set", carol.name, "50"], ["shares", "preempt", "on"]):
        assert main(argv) != 0
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "only a wrangler may change fair share" in err[0], err
        assert carol.password not in err[0]


def test_one_artists_sqlite_store_has_no_weights(
    farmhand_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    del farmhand_home
    assert main(["shares"]) != 0
    assert "need a farm database" in capsys.readouterr().err


def test_a_job_counts_against_its_project_once_the_project_has_a_weight(
    farm_db: FarmDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = farm_db.user(FarmRole.ARTIST, "alice")
    monkeypatch.setenv("FARMHAND_PROJECT", "show_x")
    from farmhand.engine.store.backend import project

    store = PgStore(alice.url, project=project())
    try:
        job = store.insert_job(JobSpec(preset="demo", frames="1-2"), [1.0, 2.0], [None, None])
    finally:
        store.close()
    with psycopg.connect(farm_db.admin_url, autocommit=True) as conn:
        assert conn.execute("SELECT project FROM jobs WHERE num = %s", (int(job),)).fetchone() == ("show_x",)
        assert [q.user for q in work.fair_inputs(conn).queued] == [alice.name]  # no project weight yet
        work.set_share(conn, "project", "show_x", 2.0)
        assert [q.user for q in work.fair_inputs(conn).queued] == ["project:show_x"]


def test_a_bad_project_name_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from farmhand.engine.store.backend import project
    from farmhand.errors import ConfigError

    monkeypatch.setenv("FARMHAND_PROJECT", "show x; drop")
    with pytest.raises(ConfigError, match="FARMHAND_PROJECT"):
        project()
