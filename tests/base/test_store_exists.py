"""``client.store_exists``: whether there is a job store to read, without making one (Houdini's end-of-job
notices look before they open one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from farmhand import client, paths
from farmhand.engine.store import Store


def test_no_store_anywhere(farmhand_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FARMHAND_STORE", raising=False)
    assert client.store_exists() is False
    assert not paths.jobs_db().exists()  # looking made none


def test_the_sqlite_store_once_made(farmhand_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FARMHAND_STORE", raising=False)
    Store().close()
    assert client.store_exists() is True


@pytest.mark.parametrize("where", ["env", "file"])
def test_a_farm_database_named_by_the_variable_or_the_file(
        where: str, farmhand_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "postgresql://alice@db.studio/farm"
    monkeypatch.delenv("FARMHAND_STORE", raising=False)
    if where == "env":
        monkeypatch.setenv("FARMHAND_STORE", url)
    else:
        farmhand_home.mkdir(parents=True, exist_ok=True)
        (farmhand_home / "dispatcher.json").write_text(json.dumps({"store": {"url": url}}))
    assert client.store_exists() is True
    assert not paths.jobs_db().exists()


def test_a_broken_choice_counts_as_a_store_so_opening_it_says_what_is_wrong(
        farmhand_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FARMHAND_STORE", "mysql://nope")
    assert client.store_exists() is True
