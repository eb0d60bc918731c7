"""The panel on a shared farm database (snapshots shaped by hand; the real PgStore behind the panel is
``tests/pg/test_panel_team.py``): the Owner column and All users toggle on the Jobs tab, the Leased by
column on the Nodes tab, both absent with the SQLite store; scanned nodes by their reported name."""

from __future__ import annotations

from dataclasses import replace

import pytest

from farmhand.jobs import JobState
from farmhand.ui.qt import Qt
from farmhand.ui.view.records import FarmSnapshot
from farmhand.ui.view.summaries import ORANGE

from . import farm_data
from .conftest import wait_snapshot
from .fake_backend import FakeBackend

pytestmark = pytest.mark.ui

DISPLAY = int(Qt.ItemDataRole.DisplayRole)
FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)


def farm_snapshot() -> FarmSnapshot:
    """anna's queue on a farm database, with bob's running job and two leased nodes (one lease expired)."""
    snap = farm_data.snapshot()
    jobs = tuple(replace(j, owner="anna") for j in snap.jobs)
    bobs = replace(farm_data.job("b1", name="bob_fx_sim", failed=0), owner="bob", submitter="bob@ws-bob",
                   mine=False)
    nodes = list(snap.nodes)
    nodes[0] = replace(nodes[0], leased_by="dispatcher:ws-anna:4242", lease_left=20.0)
    nodes[1] = replace(nodes[1], leased_by="dispatcher:farmsrv:77", lease_left=-31.0)
    nodes[2] = replace(nodes[2], host="10.77.0.13", address="10.77.0.13", shown_as="render03")
    return replace(snap, jobs=(bobs, *jobs), nodes=tuple(nodes), shared=True)


def listed(tab) -> list[str]:
    return [j.job_id for j in tab.jobs.records()]


def test_the_sqlite_store_shows_no_owner_toggle_or_leases(qtbot, make_panel, backend) -> None:
    panel = make_panel(backend)
    wait_snapshot(qtbot, panel)
    jobs, nodes = panel.jobs_tab, panel.nodes_tab
    assert jobs.jobs_view.isColumnHidden(jobs.jobs.column("Owner"))
    assert not jobs.jobs_view.isColumnHidden(jobs.jobs.column("Note"))
    assert not jobs.all_users_action.isVisible()
    assert listed(jobs) == ["j1", "j2", "j3"]
    assert nodes.view.isColumnHidden(nodes.model.column("Leased by"))
    assert not nodes.view.isColumnHidden(nodes.model.column("Job / note"))


def test_a_farm_database_shows_owners_and_all_users_on_request(qtbot, make_panel) -> None:
    backend = FakeBackend(farm_snapshot())
    panel = make_panel(backend)
    wait_snapshot(qtbot, panel)
    tab = panel.jobs_tab
    owner = tab.jobs.column("Owner")
    assert not tab.jobs_view.isColumnHidden(owner)
    assert tab.all_users_action.isVisible() and not tab.all_users_check.isChecked()
    # Like `farmhand jobs`: the user's own jobs, the running one followed.
    assert listed(tab) == ["j1", "j2", "j3"]
    assert tab.selected_job().job_id == "j1"
    tab.all_users_check.setChecked(True)
    assert listed(tab) == ["b1", "j1", "j2", "j3"]
    assert tab.jobs.index(0, owner).data(DISPLAY) == "bob"
    assert tab.jobs.index(1, owner).data(DISPLAY) == "anna"
    tab.select_job("b1")
    assert tab.selected_job().job_id == "b1"
    # Back to one's own jobs: bob's is no longer listed, nor selected.
    tab.all_users_check.setChecked(False)
    assert listed(tab) == ["j1", "j2", "j3"] and tab.selected_job() is None


def test_an_artist_with_no_jobs_is_told_to_look_at_everyones(qtbot, make_panel) -> None:
    snap = farm_snapshot()
    backend = FakeBackend(replace(snap, jobs=snap.jobs[:1], detail=None))
    panel = make_panel(backend)
    wait_snapshot(qtbot, panel)
    tab = panel.jobs_tab
    assert listed(tab) == [] and tab.selected_job() is None
    assert "No job of yours on the farm (1 job of other users)" in tab.summary.text()
    tab.all_users_check.setChecked(True)
    assert listed(tab) == ["b1"]


def test_nodes_say_which_dispatcher_leases_them(qtbot, make_panel) -> None:
    backend = FakeBackend(farm_snapshot())
    panel = make_panel(backend)
    wait_snapshot(qtbot, panel)
    tab = panel.nodes_tab
    leased = tab.model.column("Leased by")
    assert not tab.view.isColumnHidden(leased)
    assert tab.model.index(0, leased).data(DISPLAY) == "ws-anna (pid 4242)"
    assert tab.model.index(0, leased).data(FOREGROUND) is None
    expired = tab.model.index(1, leased)
    assert expired.data(DISPLAY) == "farmsrv (pid 77), expired 31s ago"
    assert expired.data(FOREGROUND).name() == ORANGE
    assert tab.model.index(2, leased).data(DISPLAY) == ""
    tab.select_hosts(["render02"])
    assert "leased by farmsrv (pid 77), expired 31s ago" in tab.details.text()
    # Every lease ended (the dispatchers stopped): the column goes.
    backend.current = replace(backend.current, nodes=farm_data.nodes(7))
    wait_snapshot(qtbot, panel)
    assert tab.view.isColumnHidden(leased)


def test_a_scanned_node_is_named_as_it_reports_and_acted_on_by_its_address(qtbot, make_panel) -> None:
    backend = FakeBackend(farm_snapshot())
    panel = make_panel(backend)
    wait_snapshot(qtbot, panel)
    tab = panel.nodes_tab
    panel.tabs.setCurrentWidget(tab)
    row = tab.model.row_of("10.77.0.13")
    assert tab.model.index(row, tab.model.column("Node")).data(DISPLAY) == "render03"
    assert tab.model.index(row, tab.model.column("Address")).data(DISPLAY) == "10.77.0.13"
    tab.select_hosts(["10.77.0.13"])
    assert tab.details.text().startswith("render03 · 10.77.0.13")
    qtbot.mouseClick(tab.probe_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: backend.called("probe") == [("10.77.0.13",)], timeout=3000)
    qtbot.waitUntil(lambda: panel.status.text() == "probe render03: done", timeout=3000)
    # The Submit tab lists it by the same name and sends its registry name.
    submit = panel.submit_tab
    items = {submit.nodes_list.item(i).text(): submit.nodes_list.item(i) for i in
             range(submit.nodes_list.count())}
    assert "render03" in items and "10.77.0.13" not in items
    items["render03"].setSelected(True)
    assert submit.selected_nodes() == ["10.77.0.13"]


def test_only_the_users_own_jobs_are_announced_when_they_end(qtbot, make_panel) -> None:
    backend = FakeBackend(farm_snapshot())
    panel = make_panel(backend)
    ended: list[tuple[str, str, str]] = []
    panel.jobEnded.connect(lambda *args: ended.append(args))
    wait_snapshot(qtbot, panel)
    bobs, mine, *rest = backend.current.jobs
    backend.current = replace(backend.current, jobs=(
        replace(bobs, status=JobState.DONE, frames_done=bobs.frames_total),
        replace(mine, status=JobState.CANCELLED), *rest))
    qtbot.waitUntil(lambda: bool(ended), timeout=3000)
    wait_snapshot(qtbot, panel)
    assert ended == [("j1", "shot010_beauty", "cancelled")]
