"""The store backend seam: FARMHAND_STORE chooses PostgreSQL, unset keeps SQLite; PgStore's own parts."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from farmhand import paths
from farmhand.engine.pg.sqlite_dialect import translate_sql
from farmhand.engine.pg.store import PgStore, check_dispatcher_role
from farmhand.engine.store import Store
from farmhand.engine.store.backend import open_store
from farmhand.errors import ConfigError, FarmhandError
from farmhand.jobs import JobSpec
from farmhand.lab.pgcluster import PgCluster

from .conftest import FarmDb


def test_unset_or_empty_keeps_the_sqlite_store(farmhand_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for value in (None, "", "  "):
        if value is None:
            monkeypatch.delenv("FARMHAND_STORE", raising=False)
        else:
            monkeypatch.setenv("FARMHAND_STORE", value)
        store = open_store()
        try:
            assert type(store) is Store
            assert store.path == paths.jobs_db()
            assert farmhand_home in store.path.parents
        finally:
            store.close()


def test_a_url_chooses_the_farm_database(farm_db: FarmDb, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FARMHAND_STORE", farm_db.admin_url)
    store = open_store(readonly=True)
    try:
        assert isinstance(store, PgStore)
        before = store.version()
        job = store.insert_job(JobSpec(preset="demo", frames="1-3"), [1.0, 2.0, 3.0], [None, None, None])
        assert store.version() > before
        assert [r.frame for r in store.frames(job)] == [1.0, 2.0, 3.0]
        assert store.meta("nothing") is None
        store.set_meta("k", "v")
        store.set_meta("k", "w")
        assert store.meta("k") == "w"
        assert "***" in repr(store) or farm_db.cluster.password not in repr(store)
    finally:
        store.close()


def test_anything_else_is_one_line(monkeypatch: pytest.MonkeyPatch, farmhand_home: Path) -> None:
    del farmhand_home
    monkeypatch.setenv("FARMHAND_STORE", "mysql://farm")
    with pytest.raises(ConfigError, match="must be a postgresql://"):
        open_store()


def test_an_unmigrated_database_is_refused_in_one_line(pg_cluster: PgCluster) -> None:
    name = pg_cluster.create_database("bare_farm")
    try:
        with pytest.raises(ConfigError, match="has no Farmhand schema") as caught:
            PgStore(pg_cluster.url(database=name))
        assert "\n" not in str(caught.value)
        assert pg_cluster.password not in str(caught.value)
    finally:
        pg_cluster.drop_database(name)


def test_an_artist_login_may_not_dispatch(farm_db: FarmDb) -> None:
    from farmhand.engine.pg.roles import FarmRole

    artist = farm_db.user(FarmRole.ARTIST, "carol")
    store = PgStore(artist.url)
    try:
        with pytest.raises(FarmhandError, match="may not dispatch") as caught:
            check_dispatcher_role(store)
        assert artist.password not in str(caught.value)
        dispatcher = PgStore(farm_db.user(FarmRole.DISPATCHER, "disp").url)
        check_dispatcher_role(dispatcher)
        dispatcher.close()
    finally:
        store.close()


def test_writers_of_a_farm_database_go_one_at_a_time(farm_db: FarmDb) -> None:
    """Several dispatchers write one database: a write transaction takes the farm's write lock before its
    first write (as SQLite's writers go one at a time), so a second writer waits for the first to
    commit; a transaction that only reads, and a reader, never wait."""
    first, second, third, reader = (PgStore(farm_db.admin_url) for _ in range(4))
    order: list[str] = []

    def write() -> None:
        with second.tx():
            second.meta("k")  # reading first: no lock yet
            second.set_meta("k", "2")  # the first write waits for the lock
            order.append("second")

    try:
        with first.tx():
            first.set_meta("k", "1")
            waiting = threading.Thread(target=write)
            waiting.start()
            waiting.join(0.5)
            assert waiting.is_alive()  # held back by the first writer's open transaction
            with third.tx():
                assert third.meta("k") is None  # a transaction writing nothing is not held back
            assert reader.meta("k") is None  # nor is a reader (and it sees nothing uncommitted)
            order.append("first")
        waiting.join(10)
        assert not waiting.is_alive() and order == ["first", "second"]
        assert reader.meta("k") == "2"
    finally:
        for store in (first, second, third, reader):
            store.close()


@pytest.mark.parametrize(
    ("sqlite", "postgres"),
    [
        ("SELECT * FROM jobs WHERE num = ?", "SELECT * FROM jobs WHERE num = %s"),
        ("SELECT 1 WHERE 'a' LIKE '%'", "SELECT 1 WHERE 'a' LIKE '%%'"),
        ("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)",
         "INSERT INTO meta(key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING"),
        ("INSERT INTO events(t, kind) VALUES (?, ?)",
         "INSERT INTO events(t, kind) VALUES (%s, %s) RETURNING id"),
    ],
)
def test_statements_are_rewritten(sqlite: str, postgres: str) -> None:
    assert translate_sql(sqlite)[0] == postgres


def test_jobs_all_shows_every_users_jobs_with_owners(
    farm_db: FarmDb, farmhand_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    del farmhand_home
    from farmhand.cli import main
    from farmhand.engine.pg.roles import FarmRole

    alice, bob = farm_db.user(FarmRole.ARTIST, "alice"), farm_db.user(FarmRole.ARTIST, "bob")
    for user, frames in ((alice, "1-2"), (bob, "1-3")):
        store = PgStore(user.url)
        try:
            store.insert_job(JobSpec(preset="demo", frames=frames, name=f"{user.name}-job"),
                             [float(f) for f in range(1, len(frames) + 1)], [None] * 3)
        finally:
            store.close()
    monkeypatch.setenv("FARMHAND_STORE", alice.url)
    assert main(["jobs"]) == 0
    mine = capsys.readouterr().out
    assert "OWNER" in mine and f"{alice.name}-job" in mine and f"{bob.name}-job" not in mine
    assert main(["jobs", "--all"]) == 0
    every = capsys.readouterr().out
    assert f"{alice.name}-job" in every and f"{bob.name}-job" in every and bob.name in every.split("\n")[2]
    assert main(["jobs", "--all", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(j["owner"] for j in listed) == sorted([alice.name, bob.name])
    assert alice.password not in every and bob.password not in every
