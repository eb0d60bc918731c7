"""The panel's part of groups, limits and power: the Submit tab's Node Groups and Environment fields
(with the groups that exist), the Nodes tab's Tags column, and what holds a queued job in the queue."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from farmhand.client import Client
from farmhand.jobs import JobState, JobSummary
from farmhand.nodes.power import PowerState
from farmhand.nodes.registry import Registry
from farmhand.ui.client_backend import ClientBackend, power_view
from farmhand.ui.qt import Qt
from farmhand.ui.registry_nodes import RegistryNodes
from farmhand.ui.view.columns import NODE_COLUMNS, column_index
from farmhand.ui.view.convert import job_spec, job_view
from farmhand.ui.view.records import NodeStatus, NodeView, SubmitContext

from . import farm_data
from .conftest import wait_snapshot
from .fake_backend import FakeBackend

pytestmark = pytest.mark.ui


def context() -> SubmitContext:
    return SubmitContext(rop_path="/out/karma1", frame_start=1.0, frame_end=10.0, frame_step=1.0,
                         hip_path="/share/a.hip", presets=("husk",), preset="husk")


def tagged_backend() -> FakeBackend:
    snap = farm_data.snapshot()
    nodes = tuple(dataclasses.replace(n, tags=("gpu", "linux") if i == 0 else ("linux",))
                  for i, n in enumerate(snap.nodes))
    return FakeBackend(dataclasses.replace(snap, nodes=nodes))


def test_submit_sends_groups_and_environment_and_offers_the_groups(qtbot, make_panel) -> None:
    backend = tagged_backend()
    panel = make_panel(backend, context=context())
    wait_snapshot(qtbot, panel)
    tab = panel.submit_tab
    qtbot.waitUntil(lambda: "gpu" in tab.groups_edit.placeholderText(), timeout=3000)
    assert tab.groups_edit.placeholderText() == "any node; groups: gpu, linux"
    tab.groups_edit.setText("GPU, cores>=16")
    tab.env_edit.setText("OCIO=/share/aces.ocio SHOT='sh 010'")
    qtbot.mouseClick(tab.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: backend.called("submit") != [], timeout=3000)
    (request,) = backend.called("submit")[0]
    assert request.groups == ("gpu", "cores>=16")
    assert request.env == (("OCIO", "/share/aces.ocio"), ("SHOT", "sh 010"))
    spec = job_spec(request)
    assert (spec.groups, spec.env) == (request.groups, request.env)


@pytest.mark.parametrize(("field", "text", "words"), [("groups_edit", "cores>16", "group 'cores>16'"),
                                                      ("env_edit", "SHOT='open", "check its quotes")])
def test_bad_groups_or_environment_are_one_line_and_not_sent(qtbot, make_panel, field, text, words) -> None:
    backend = FakeBackend()
    panel = make_panel(backend, context=context())
    wait_snapshot(qtbot, panel)
    getattr(panel.submit_tab, field).setText(text)
    qtbot.mouseClick(panel.submit_tab.submit_button, Qt.MouseButton.LeftButton)
    qtbot.wait(50)
    assert words in panel.status.text() and "\n" not in panel.status.text()
    assert backend.called("submit") == []


def test_a_held_job_says_what_holds_it() -> None:
    summary = JobSummary("7", "shot010", "husk", JobState.QUEUED, 50, 0.0, 10, 0, 0, 0,
                         hold="waiting for limit karma (4 of 4 in use)")
    assert job_view(summary).note == "waiting for limit karma (4 of 4 in use)"
    failed = dataclasses.replace(summary, error="boom")
    assert "boom" in job_view(failed).note  # a problem comes first


def test_nodes_tab_tags_come_from_the_inventory_and_by_hand(farmhand_home: Path) -> None:
    registry = Registry()
    registry.add("r1")
    registry.record_inventory("r1", {"hostname": "r1", "os": "Linux", "cpus_logical": 8,
                                     "gpus": [{"name": "x"}]})
    registry.tag("r1", ["lookdev"])
    (view,) = RegistryNodes(registry).nodes()
    assert view.tags == ("gpu", "linux", "lookdev")
    tags = NODE_COLUMNS[column_index(NODE_COLUMNS, "Tags")]
    assert tags.text(view) == "gpu linux lookdev"


class TwoNodes:
    """The Nodes tab's registry side: two idle nodes."""

    def nodes(self) -> list[NodeView]:
        return [NodeView(host, NodeStatus.IDLE, trusted=True, enabled=True) for host in ("r1", "r2")]


def test_the_nodes_tab_says_which_nodes_sleep_and_wake(farmhand_home: Path) -> None:
    backend = ClientBackend(lambda: Client(autostart=False), nodes=TwoNodes())
    farm = Client(autostart=False).farm
    farm.set_node_power("r1", PowerState.WAKING, "Wake-on-LAN sent (aa:bb:cc:dd:ee:ff via 10.0.0.255)", 1.0)
    farm.set_node_power("r2", PowerState.ASLEEP, "asleep: SSH no longer answers", 1.0)
    views = {n.host: n for n in backend.snapshot(None).nodes}
    assert (views["r1"].status, views["r1"].note) == (
        NodeStatus.WAKING, "Wake-on-LAN sent (aa:bb:cc:dd:ee:ff via 10.0.0.255)")
    assert (views["r2"].status, views["r2"].note) == (NodeStatus.ASLEEP, "asleep: SSH no longer answers")
    farm.set_node_power("r2", PowerState.WAKE_FAILED, "did not answer SSH within 300s", 2.0)
    farm.set_node_power("r1", PowerState.AWAKE, "awake", 2.0)
    views = {n.host: n for n in backend.snapshot(None).nodes}
    assert views["r1"].status is NodeStatus.IDLE
    assert views["r2"].status is NodeStatus.UNREACHABLE and "within 300s" in views["r2"].note
    rendering = NodeView("r3", NodeStatus.RENDERING)
    assert power_view(rendering, PowerState.ASLEEP, "x") is rendering  # what it does now comes first
