"""Which store a home uses: ``FARMHAND_STORE`` or ``store`` in ``dispatcher.json``, the environment first.

No PostgreSQL server here: these tests stop at the choice (and at the SQLite store); tests/pg/ opens the
farm database the file names.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from farmhand import paths
from farmhand.engine import process as dispatcher_process
from farmhand.engine import settings
from farmhand.engine.store import Store
from farmhand.engine.store.backend import open_store, store_url
from farmhand.errors import ConfigError

FILE_URL = "postgresql://alice:file-s3cret@db.studio:5433/farm?sslmode=verify-full"
ENV_URL = "postgresql://bob@other.studio/farm"


@pytest.fixture
def home(store_home: Path) -> Path:
    return store_home


def _write(home: Path, data: Any) -> None:
    (home / "dispatcher.json").write_text(json.dumps(data))


def test_neither_keeps_the_sqlite_store(home: Path) -> None:
    assert store_url() is None
    _write(home, {"store": {"keep_days": 3}})
    assert store_url() is None
    store = open_store(readonly=True)
    try:
        assert type(store) is Store and store.path == paths.jobs_db()
    finally:
        store.close()


@pytest.mark.parametrize("data", [{"store": {"url": FILE_URL, "keep_days": 3}}, {"store": FILE_URL}])
def test_the_file_names_the_farm_database(home: Path, data: dict[str, Any]) -> None:
    _write(home, data)
    assert store_url() == FILE_URL
    assert settings.store_setting() == FILE_URL


def test_the_environment_wins_and_empty_means_sqlite(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(home, {"store": {"url": FILE_URL}})
    monkeypatch.setenv("FARMHAND_STORE", ENV_URL)
    assert store_url() == ENV_URL
    monkeypatch.setenv("FARMHAND_STORE", " ")
    assert store_url() is None
    store = open_store()
    try:
        assert type(store) is Store
    finally:
        store.close()
    monkeypatch.delenv("FARMHAND_STORE")
    assert store_url() == FILE_URL


def test_the_url_sits_beside_the_retention_thresholds(home: Path) -> None:
    _write(home, {"store": {"url": FILE_URL, "keep_days": 3, "log_mb": 8}, "retry": {"max_attempts": 5}})
    found = dispatcher_process.load_settings()
    assert (found.store.keep_days, found.store.log_mb, found.retry.max_attempts) == (3, 8, 5)
    _write(home, {"store": FILE_URL})
    assert dispatcher_process.load_settings().store == settings.Retention()
    _write(home, {"store": {"url": FILE_URL, "keep_dayz": 3}})
    with pytest.raises(ConfigError, match=r"store\.keep_dayz is not a setting; use one of url, keep_days"):
        dispatcher_process.load_settings()


@pytest.mark.parametrize(("value", "fragment"), [
    (5, "store.url must be a postgresql://… URL naming the farm database, not 5"),
    ("", 'store.url must be a postgresql://… URL naming the farm database, not ""'),
    ("mysql://alice:file-s3cret@db/farm", "store.url: store URL 'mysql://alice:***@db/farm' must start with"),
    ("postgresql://alice:file-s3cret@db/farm?sslmode=verify_full", "sslmode 'verify_full' is not one of"),
    ("postgresql://alice:file-s3cret@db:port/farm", "store.url: store URL 'postgresql://alice:***@db:port"),
])
def test_a_bad_url_is_one_line_naming_the_key_and_never_the_password(
        home: Path, value: Any, fragment: str) -> None:
    _write(home, {"store": {"url": value}})
    for read in (store_url, dispatcher_process.load_settings, lambda: open_store(readonly=True)):
        with pytest.raises(ConfigError) as caught:
            read()
        message = str(caught.value)
        assert fragment in message and "dispatcher.json" in message
        assert "\n" not in message and "s3cret" not in message
    assert not paths.jobs_db().exists()  # refused before any store was opened


def test_the_string_form_is_checked_too(home: Path) -> None:
    _write(home, {"store": ["postgresql://db/farm"]})
    with pytest.raises(ConfigError, match=r"dispatcher\.json: store must be a postgresql://"):
        store_url()


def test_the_cli_says_it_in_one_line(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from farmhand.cli import main

    _write(home, {"store": {"url": "postgres://alice:file-s3cret@db/farm?sslmode=nope"}})
    assert main(["jobs"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "store.url" in err and "s3cret" not in err and "***" in err


def test_without_psycopg_the_message_names_the_file_and_the_installer(
        home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(home, {"store": {"url": FILE_URL}})
    monkeypatch.setitem(sys.modules, "farmhand.engine.pg.store", None)  # an import of it now fails
    with pytest.raises(ConfigError) as caught:
        open_store()
    message = str(caught.value)
    assert message.startswith("store.url in dispatcher.json names a PostgreSQL store")
    assert "install_farmhand.py --team" in message and "file-s3cret" not in message
    monkeypatch.setenv("FARMHAND_STORE", ENV_URL)
    with pytest.raises(ConfigError, match=r"^FARMHAND_STORE names a PostgreSQL store \(postgresql://bob@"):
        open_store()
