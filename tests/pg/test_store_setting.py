"""``"store": {"url": …}`` in ``dispatcher.json`` puts every process of a home on the farm database: the
client, the CLI and the dispatcher's own store; ``FARMHAND_STORE`` still wins when it is set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from farmhand import paths
from farmhand.client import Client
from farmhand.engine import process as dispatcher_process
from farmhand.engine.pg.roles import FarmRole
from farmhand.engine.pg.store import PgStore
from farmhand.engine.store import Store
from farmhand.engine.store.backend import open_store
from farmhand.jobs import JobSpec
from farmhand.lab.pgcluster import PgCluster

from .conftest import FarmDb, make_farm_db


@pytest.fixture
def home(store_home: Path) -> Path:
    return store_home


def _point_at(home: Path, url: str) -> None:
    (home / "dispatcher.json").write_text(json.dumps({"store": {"url": url, "keep_days": 2}}))


def _job(url: str, name: str) -> str:
    store = PgStore(url)
    try:
        return store.insert_job(JobSpec(preset="demo", frames="1-2", name=name), [1.0, 2.0], [None, None])
    finally:
        store.close()


def test_the_client_and_the_cli_read_the_farm_database_of_the_file(
        home: Path, farm_db: FarmDb, capsys: pytest.CaptureFixture[str]) -> None:
    from farmhand.cli import main

    alice = farm_db.user(FarmRole.ARTIST, "alice")
    _point_at(home, alice.url)
    job = _job(alice.url, "from-the-file")
    client = Client(autostart=False)
    try:
        assert isinstance(client.store, PgStore)
        assert client.store.login() == alice.name
        assert client.store.summary(job).title == "from-the-file"
    finally:
        client.close()
    assert main(["jobs", "--all"]) == 0
    out = capsys.readouterr().out
    assert "from-the-file" in out and alice.name in out and alice.password not in out
    assert not paths.jobs_db().exists()  # nothing went to a SQLite store in FARMHAND_HOME


def test_the_dispatcher_serves_the_farm_database_of_the_file(home: Path, farm_db: FarmDb) -> None:
    dispatcher = farm_db.user(FarmRole.DISPATCHER, "disp")
    _point_at(home, dispatcher.url)
    job = _job(dispatcher.url, "served")
    assert dispatcher_process.load_settings().store.keep_days == 2  # the URL beside a threshold is fine
    store, team = dispatcher_process._open_served_store()
    try:
        assert isinstance(store, PgStore) and team is not None  # the farm database, as one of its team
        assert store.login() == dispatcher.name and store.summary(job).title == "served"
        assert dispatcher.password not in repr(store) and dispatcher.password not in str(store.path)
    finally:
        store.close()

def test_the_environment_wins_over_the_file(
        home: Path, farm_db: FarmDb, pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    other = make_farm_db(pg_cluster)
    try:
        _point_at(home, farm_db.admin_url)
        in_file, in_env = _job(farm_db.admin_url, "file-db"), _job(other.admin_url, "env-db")
        monkeypatch.setenv("FARMHAND_STORE", other.admin_url)
        store = open_store(readonly=True)
        try:
            assert isinstance(store, PgStore) and store.url.database == other.name
            assert [(j.id, j.title) for j in store.summaries()] == [(in_env, "env-db")]
        finally:
            store.close()
        monkeypatch.setenv("FARMHAND_STORE", "")  # set but empty: this process keeps to SQLite
        store = open_store(readonly=True)
        try:
            assert type(store) is Store and store.summaries() == []
        finally:
            store.close()
        monkeypatch.delenv("FARMHAND_STORE")
        store = open_store(readonly=True)
        try:
            assert isinstance(store, PgStore)
            assert [(j.id, j.title) for j in store.summaries()] == [(in_file, "file-db")]
        finally:
            store.close()
    finally:
        other.drop()
