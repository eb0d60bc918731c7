"""The Nodes tab's real source against real sshd nodes in the lab: scan, trust, probe, add, enable."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pytest

from farmhand.client import Client
from farmhand.errors import NodeError
from farmhand.lab import LocalFarm
from farmhand.nodes.registry import NodeState, Registry
from farmhand.ui.client_backend import ClientBackend
from farmhand.ui.qt import Qt
from farmhand.ui.registry_nodes import RegistryNodes
from farmhand.ui.view.backend import ScanProgress
from farmhand.ui.view.records import NodeStatus, NodeView

if TYPE_CHECKING:
    from farmhand.ui.panel import FarmhandPanel

pytestmark = [pytest.mark.ui, pytest.mark.lab]


def nodes_panel(qtbot, source: RegistryNodes) -> FarmhandPanel:  # type: ignore[no-untyped-def]
    """The panel over the real client and ``source``, shown on its Nodes tab (clicks reach only the
    visible tab)."""
    from farmhand.ui.panel import FarmhandPanel

    backend = ClientBackend(lambda: Client(autostart=False), nodes=source)
    panel = FarmhandPanel(backend, poll_seconds=0.1)
    qtbot.addWidget(panel)
    panel.show()
    panel.tabs.setCurrentWidget(panel.nodes_tab)
    return panel


@pytest.fixture
def nodes(farmhand_home: Path, in_lab) -> RegistryNodes:
    # ~/.ssh/config (of the test's HOME) names the lab nodes render01.. with the lab's key.
    config = Path(os.path.expanduser("~/.ssh/config"))
    config.write_text(in_lab.ssh_config_text())
    return RegistryNodes(share="")


def test_scan_records_what_answers_and_can_stop(nodes: RegistryNodes, in_lab) -> None:
    seen: list[tuple[int, int, int]] = []
    found = nodes.scan("10.77.0.8-15", lambda *p: seen.append(p), lambda: False)
    addresses = sorted(n.host for n in found)
    assert addresses == [n.address for n in in_lab.nodes]
    assert all(n.status == NodeStatus.UNTRUSTED for n in found)
    assert seen[-1] == (8, 8, len(addresses))
    assert sorted(n.host for n in nodes.nodes()) == addresses
    # Stopped before the first round: nothing is probed.
    assert nodes.scan("10.77.0.8-15", lambda *p: None, lambda: True) == []


def test_stop_takes_effect_mid_range(farmhand_home: Path, make_lab) -> None:  # type: ignore[no-untyped-def]
    farm: LocalFarm = make_lab(n=2)
    farm.add_silent_range("10.78.0.0/16")
    stop = threading.Event()
    seen: list[tuple[int, int, int]] = []

    def progress(checked: int, total: int, found: int) -> None:
        seen.append((checked, total, found))
        if found == 2:  # the Stop button, pressed once both nodes are in
            stop.set()

    with farm.inside():
        found = RegistryNodes(share="").scan("10.77.0.11-12, 10.78.0.0/16", progress, stop.is_set)
    assert sorted(n.host for n in found) == ["10.77.0.11", "10.77.0.12"]
    checked, total, _ = seen[-1]
    # Only what was already in flight when Stop was pressed was probed, not the rest of the /16.
    assert total == 2**16 - 2 + 2 and checked < total // 4


def test_trust_needs_the_shown_fingerprint(nodes: RegistryNodes) -> None:
    shown = nodes.fingerprint("render01")
    assert shown.startswith("ssh-ed25519 SHA256:")
    with pytest.raises(NodeError, match="not the ssh-ed25519 SHA256:AAAA you were shown"):
        nodes.trust("render01", "ssh-ed25519 SHA256:AAAA")
    assert Registry().find("render01") is None
    nodes.trust("render01", shown)
    assert Registry().get("render01").state is NodeState.TRUSTED


def test_add_probe_disable(nodes: RegistryNodes, in_lab) -> None:
    in_lab.trust()  # the lab's keys in Farmhand's known_hosts: an added node is trusted at once
    added = nodes.add("render02")
    assert (added.host, added.status, added.trusted) == ("render02", NodeStatus.UNKNOWN, True)
    probed = nodes.probe("render02")
    assert probed.status == NodeStatus.IDLE
    assert probed.cores == os.cpu_count()
    assert probed.ram_gb is not None and probed.ram_gb > 0.1
    assert probed.load is not None
    # Added by its ~/.ssh/config alias: the address shown is the one the probe found on the machine.
    lab_node = next(n for n in in_lab.nodes if n.name == "render02")
    assert lab_node.address in probed.address.split(", ")
    assert probed.macs and all(len(mac.split(":")) == 6 for mac in probed.macs)
    assert probed.os and probed.probed_at is not None
    nodes.set_enabled("render02", False)
    (view,) = nodes.nodes()
    assert view.status == NodeStatus.DISABLED and view.cores == probed.cores


def test_unreachable_probe_is_recorded_in_words(nodes: RegistryNodes) -> None:
    in_lab_node = Registry().add("ghost", "10.77.0.99", state=NodeState.TRUSTED)
    with pytest.raises(NodeError) as caught:
        nodes.probe(in_lab_node.name)
    (view,) = nodes.nodes()
    assert view.status == NodeStatus.UNREACHABLE
    assert view.note == caught.value.message


def test_wake_without_inventory_says_what_to_do(nodes: RegistryNodes) -> None:
    Registry().add("render03", state=NodeState.TRUSTED)
    with pytest.raises(NodeError, match="no MAC address recorded: probe the node once while it is up"):
        nodes.wake("render03")


def test_nodes_tab_scans_the_lab(qtbot, nodes: RegistryNodes, in_lab) -> None:
    panel = nodes_panel(qtbot, nodes)
    tab = panel.nodes_tab
    tab.range_edit.setText("10.77.0.11-14")
    # The scan runs in a worker thread started from this (lab) thread, so it sees the lab's network.
    qtbot.mouseClick(tab.scan_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.scanning, timeout=20000)
    assert panel.status.text() == "scan of 10.77.0.11-14 done: 4 nodes found"
    qtbot.waitUntil(lambda: tab.model.rowCount() == 4, timeout=3000)
    panel.detach()


def test_stop_button_ends_a_scan_of_a_silent_range(qtbot, farmhand_home: Path, make_lab) -> None:  # type: ignore[no-untyped-def]
    class Counting(RegistryNodes):
        last: tuple[int, ...] = (0, 0, 0)

        def scan(self, spec: str, progress: ScanProgress, cancelled: Callable[[], bool]) -> list[NodeView]:
            def count(*seen: int) -> None:
                self.last = seen
                progress(*seen)

            return super().scan(spec, count, cancelled)

    farm: LocalFarm = make_lab(n=1)
    farm.add_silent_range("10.78.0.0/16")
    source = Counting(share="")
    # Everything from here in the lab: the panel's worker threads must see the lab's network.
    with farm.inside():
        panel = nodes_panel(qtbot, source)
        tab = panel.nodes_tab
        tab.range_edit.setText("10.77.0.11 10.78.0.0/16")
        qtbot.mouseClick(tab.scan_button, Qt.MouseButton.LeftButton)
        # Stop once the node is recorded: the rest of the /16 would take minutes at a second a round.
        qtbot.waitUntil(lambda: Registry().find("10.77.0.11") is not None, timeout=10000)
        qtbot.mouseClick(tab.scan_cancel_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not tab.scanning, timeout=10000)
        assert panel.status.text() == "scan of 10.77.0.11 10.78.0.0/16 stopped: 1 node found"
        panel.detach()
    checked, total, found = source.last
    assert found == 1 and total == 2**16 - 1 and checked < total // 4  # the rest was never probed
