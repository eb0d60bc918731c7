"""The panel on a real farm database: two artists' jobs with their owners, the All users toggle, and the
dispatchers leasing this machine's nodes (a live lease, an expired one, one on a node not in this
machine's registry), read through the real client, PgStore and node registry; and the client's new
reads (``login``, ``leases``) against the SQLite store, where there are none."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from farmhand.client import Client
from farmhand.engine.pg import leases
from farmhand.engine.pg.roles import FarmRole
from farmhand.engine.pg.store import PgStore
from farmhand.engine.store import Store
from farmhand.jobs import JobSpec
from farmhand.nodes.inventory import Inventory
from farmhand.nodes.registry import NodeState, Registry
from farmhand.ui.client_backend import ClientBackend
from farmhand.ui.registry_nodes import RegistryNodes

from .conftest import FarmDb, User

ANNA_DISPATCHER = "dispatcher:ws-anna:4242"
DEAD_DISPATCHER = "dispatcher:farmsrv:77"


def submit(user: User, name: str) -> str:
    store = PgStore(user.url)
    try:
        return store.insert_job(JobSpec(preset="demo", frames="1-2", name=name, submitter=f"{user.name}@ws"),
                                [1.0, 2.0], [None, None])
    finally:
        store.close()


@pytest.fixture
def farm(farm_db: FarmDb, farmhand_home: Path) -> dict[str, Any]:
    """anna's and bob's jobs; this machine's registry (render01, render02 and a scanned render03); a
    live dispatcher leasing render01 and the scanned node, a dead one whose lease on render02 and on a
    node unknown here ran out 90 s ago."""
    del farmhand_home
    anna, bob = farm_db.user(FarmRole.ARTIST, "anna"), farm_db.user(FarmRole.ARTIST, "bob")
    service = farm_db.user(FarmRole.DISPATCHER, "service")
    jobs = {"anna": submit(anna, "anna_beauty"), "bob": submit(bob, "bob_fx")}
    registry = Registry()
    registry.add("render01", "10.77.0.11")
    registry.add("render02", "10.77.0.12")
    registry.record_discovered("10.77.0.13")
    registry.set_state("10.77.0.13", NodeState.TRUSTED)
    registry.record_inventory("10.77.0.13", Inventory(hostname="render03", os="Linux").to_dict())
    with psycopg.connect(service.url, autocommit=True) as conn:
        leases.register(conn, ANNA_DISPATCHER, "ws-anna", 4242)
        leases.register(conn, DEAD_DISPATCHER, "farmsrv", 77)
        assert leases.acquire(conn, ANNA_DISPATCHER, ["render01", "render03"], ttl=600) == ["render01",
                                                                                           "render03"]
        assert leases.acquire(conn, DEAD_DISPATCHER, ["render02", "render40"], ttl=10,
                              now=time.time() - 100) == ["render02", "render40"]
    return {"anna": anna, "bob": bob, "jobs": jobs, "registry": registry}


def backend_for(user: User, registry: Registry) -> ClientBackend:
    return ClientBackend(lambda: Client(PgStore(user.url), autostart=False),
                         nodes=RegistryNodes(registry, share=""))


def test_the_backend_reads_owners_and_leases(farm: dict[str, Any]) -> None:
    anna = farm["anna"]
    client = Client(PgStore(anna.url), autostart=False)
    try:
        assert client.login() == anna.name
        got = {node: (dispatcher, left) for node, dispatcher, left in client.leases()}
    finally:
        client.close()
    assert sorted(got) == ["render01", "render02", "render03", "render40"]
    assert got["render01"][0] == ANNA_DISPATCHER and 590 < got["render01"][1] <= 600
    assert got["render02"][0] == DEAD_DISPATCHER and -100 < got["render02"][1] < -80

    snap = backend_for(anna, farm["registry"]).snapshot(None)
    assert snap.shared
    owners = {j.job_id: (j.owner, j.mine, j.submitter) for j in snap.jobs}
    assert owners == {farm["jobs"]["anna"]: (anna.name, True, f"{anna.name}@ws"),
                      farm["jobs"]["bob"]: (farm["bob"].name, False, f"{farm['bob'].name}@ws")}
    nodes = {n.host: n for n in snap.nodes}
    assert [(h, n.name, n.leased_by) for h, n in nodes.items()] == [
        ("10.77.0.13", "render03", ANNA_DISPATCHER), ("render01", "render01", ANNA_DISPATCHER),
        ("render02", "render02", DEAD_DISPATCHER), ("render40", "render40", DEAD_DISPATCHER)]
    assert not nodes["render40"].registered and nodes["render01"].registered


def test_the_panel_on_the_farm_database(qtbot, farm: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    from farmhand.ui.panel import FarmhandPanel
    from farmhand.ui.qt import Qt

    display = int(Qt.ItemDataRole.DisplayRole)
    anna, bob = farm["anna"], farm["bob"]
    panel = FarmhandPanel(backend_for(anna, farm["registry"]), poll_seconds=0.1)
    qtbot.addWidget(panel)
    panel.show()
    try:
        qtbot.waitUntil(lambda: panel.last_snapshot is not None, timeout=10_000)
        tab = panel.jobs_tab
        owner = tab.jobs.column("Owner")
        assert not tab.jobs_view.isColumnHidden(owner) and tab.all_users_action.isVisible()
        assert [tab.jobs.index(r, owner).data(display) for r in range(tab.jobs.rowCount())] == [anna.name]
        tab.all_users_check.setChecked(True)
        assert sorted(tab.jobs.index(r, owner).data(display) for r in range(tab.jobs.rowCount())) == sorted(
            [anna.name, bob.name])

        nodes = panel.nodes_tab
        leased = nodes.model.column("Leased by")
        assert not nodes.view.isColumnHidden(leased)
        shown = {nodes.model.index(r, 0).data(display): nodes.model.index(r, leased).data(display)
                 for r in range(nodes.model.rowCount())}
        assert shown["render01"] == shown["render03"] == "ws-anna (pid 4242)"
        # Expired 90 s before the test began: minutes and seconds ago, by the database server's clock.
        assert re.fullmatch(r"farmsrv \(pid 77\), expired \d+m\d\ds ago", shown["render02"]), shown
        assert re.fullmatch(r"farmsrv \(pid 77\), expired \d+m\d\ds ago", shown["render40"]), shown
    finally:
        panel.detach()


def test_the_sqlite_store_has_no_login_leases_or_owner_column(qtbot, farmhand_home: Path) -> None:  # type: ignore[no-untyped-def]
    del farmhand_home
    from farmhand.ui.panel import FarmhandPanel

    client = Client(Store(), autostart=False)
    try:
        assert (client.login(), client.leases(), client.owners()) == (None, [], {})
    finally:
        client.close()
    registry = Registry()
    registry.add("render01", "10.77.0.11")
    backend = ClientBackend(lambda: Client(autostart=False), nodes=RegistryNodes(registry, share=""))
    assert not backend.snapshot(None).shared
    panel = FarmhandPanel(backend, poll_seconds=0.1)
    qtbot.addWidget(panel)
    panel.show()
    try:
        qtbot.waitUntil(lambda: panel.last_snapshot is not None, timeout=10_000)
        assert panel.jobs_tab.jobs_view.isColumnHidden(panel.jobs_tab.jobs.column("Owner"))
        assert not panel.jobs_tab.all_users_action.isVisible()
        assert panel.nodes_tab.view.isColumnHidden(panel.nodes_tab.model.column("Leased by"))
    finally:
        panel.detach()
