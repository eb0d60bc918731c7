"""The SQLite store's dispatcher tests, run again on the farm database (PgStore): same engine, same SQL.

Every test of the modules below that needs only ``rig_for`` (a dispatcher driven by hand on a fake
farm) runs here with the rig's store opened on a fresh migrated PostgreSQL database instead of SQLite.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from tests.engine import rig as rig_module
from tests.engine.fake_farm import NodeBehaviour
from tests.engine.rig import Rig

from farmhand.engine.pg.store import PgStore

from .conftest import FarmDb

MODULES = ("test_dispatcher_unit", "test_commands", "test_limits_dispatch", "test_lifecycle",
           "test_retention", "test_store_updates", "test_outcomes")


def _shared_tests() -> list[Any]:
    found = []
    for name in MODULES:
        module = importlib.import_module(f"tests.engine.{name}")
        for attr, fn in sorted(vars(module).items()):
            if attr.startswith("test_") and callable(fn) and not hasattr(fn, "pytestmark") \
                    and list(inspect.signature(fn).parameters) == ["rig_for"]:
                found.append(pytest.param(fn, id=f"{name}.{attr}"))
    return found


@pytest.fixture
def rig_for(
    farm_db: FarmDb, farmhand_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Rig]]:
    stores: list[PgStore] = []

    def open_pg() -> PgStore:
        stores.append(PgStore(farm_db.admin_url))
        return stores[-1]

    monkeypatch.setattr(rig_module, "Store", open_pg)

    def make(nodes: dict[str, NodeBehaviour], **kw: object) -> Rig:
        rig = Rig(farmhand_home, nodes, **kw)  # type: ignore[arg-type]
        assert isinstance(rig.store, PgStore)
        return rig

    yield make
    for store in stores:
        store.close()


@pytest.mark.parametrize("shared", _shared_tests())
def test_on_postgresql(shared: Callable[..., None], rig_for: Callable[..., Rig]) -> None:
    shared(rig_for)
