"""Nodes tab: scan with progress and stop, probe, trust showing the fingerprint, enable, wake, add."""

from __future__ import annotations

import threading

import pytest

from farmhand.ui.qt import Qt

from .conftest import wait_snapshot

pytestmark = pytest.mark.ui


def ready(qtbot, make_panel, backend):
    panel = make_panel(backend)
    wait_snapshot(qtbot, panel)
    panel.tabs.setCurrentWidget(panel.nodes_tab)  # clicks reach only the visible tab
    return panel, panel.nodes_tab


def test_scan_reports_progress_and_result(qtbot, make_panel, backend) -> None:
    panel, tab = ready(qtbot, make_panel, backend)
    tab.range_edit.setText("10.0.0.0/29")
    qtbot.mouseClick(tab.scan_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.scanning, timeout=5000)
    assert backend.called("scan") == [("10.0.0.0/29",)]
    assert backend.threads["scan"] != threading.main_thread().name
    assert tab.scan_progress.format() == "scan of 10.0.0.0/29 done: 5 nodes found"
    assert panel.status.text() == "scan of 10.0.0.0/29 done: 5 nodes found"
    assert tab.scan_button.isEnabled()


def test_scan_can_be_stopped(qtbot, make_panel, backend) -> None:
    _panel, tab = ready(qtbot, make_panel, backend)
    backend.scan_gate.clear()  # the scan thread waits at its first address
    tab.range_edit.setText("10.0.0.0/24")
    qtbot.mouseClick(tab.scan_button, Qt.MouseButton.LeftButton)
    assert tab.scanning and not tab.scan_button.isEnabled() and tab.scan_cancel_button.isEnabled()
    qtbot.mouseClick(tab.scan_cancel_button, Qt.MouseButton.LeftButton)
    backend.scan_gate.set()
    qtbot.waitUntil(lambda: not tab.scanning, timeout=5000)
    assert tab.scan_progress.format() == "scan of 10.0.0.0/24 stopped: 0 nodes found"


def test_scan_progress_updates_the_bar(qtbot, make_panel, backend) -> None:
    _panel, tab = ready(qtbot, make_panel, backend)
    seen: list[str] = []
    tab._scan_progress.connect(lambda *_: seen.append(tab.scan_progress.format()))
    tab.range_edit.setText("10.0.0.0/29")
    qtbot.mouseClick(tab.scan_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not tab.scanning, timeout=5000)
    assert "5/5 addresses, 5 found" in seen


def test_empty_range_is_explained(qtbot, make_panel, backend) -> None:
    panel, tab = ready(qtbot, make_panel, backend)
    qtbot.mouseClick(tab.scan_button, Qt.MouseButton.LeftButton)
    assert panel.status.text() == "type an address range to scan, e.g. 10.0.0.0/24"
    assert backend.called("scan") == []


def test_probe_enable_disable_wake_selected(qtbot, make_panel, backend) -> None:
    _panel, tab = ready(qtbot, make_panel, backend)
    assert not tab.probe_button.isEnabled()
    tab.select_hosts(["render02", "render03"])
    for button in (tab.probe_button, tab.disable_button, tab.enable_button, tab.wake_button):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(backend.calls) >= 8, timeout=3000)
    assert sorted(backend.called("probe")) == [("render02",), ("render03",)]
    assert sorted(backend.called("set_enabled")) == [("render02", False), ("render02", True),
                                                    ("render03", False), ("render03", True)]
    assert sorted(backend.called("wake")) == [("render02",), ("render03",)]


def test_unreachable_probe_says_why(qtbot, make_panel, backend) -> None:
    panel, tab = ready(qtbot, make_panel, backend)
    tab.select_hosts(["render04"])
    qtbot.mouseClick(tab.probe_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "could not probe" in panel.status.text(), timeout=3000)
    assert panel.status.text() == (
        "could not probe render04: render04: no answer on port 22 within 3 s; is it switched on?")


def test_trust_shows_the_fingerprint_and_trusts_that_key(qtbot, make_panel, backend) -> None:
    _panel, tab = ready(qtbot, make_panel, backend)
    questions: list[str] = []
    tab.confirm = lambda title, question: questions.append(question) or True
    tab.select_hosts(["render06"])
    assert tab.trust_button.isEnabled()
    qtbot.mouseClick(tab.trust_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: backend.called("trust") != [], timeout=3000)
    assert "SHA256:Zm9vYmFyYmF6cXV4" in questions[0] and "render06" in questions[0]
    assert backend.called("trust") == [("render06", "SHA256:Zm9vYmFyYmF6cXV4")]


def test_trust_declined_trusts_nothing(qtbot, make_panel, backend) -> None:
    _panel, tab = ready(qtbot, make_panel, backend)
    tab.confirm = lambda title, question: False
    tab.select_hosts(["render06"])
    qtbot.mouseClick(tab.trust_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: backend.called("fingerprint") != [], timeout=3000)
    qtbot.wait(100)
    assert backend.called("trust") == []


def test_add_by_name(qtbot, make_panel, backend) -> None:
    panel, tab = ready(qtbot, make_panel, backend)
    tab.add_edit.setText("render42.studio.lan")
    qtbot.mouseClick(tab.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.status.text() == "added render42.studio.lan", timeout=3000)
    assert backend.called("add_node") == [("render42.studio.lan",)]
    assert tab.add_edit.text() == ""


def test_selection_survives_a_new_node(qtbot, make_panel, backend) -> None:
    from dataclasses import replace

    from . import farm_data

    panel, tab = ready(qtbot, make_panel, backend)
    tab.select_hosts(["render03"])
    backend.current = replace(backend.current, nodes=farm_data.nodes(9))
    wait_snapshot(qtbot, panel)
    assert tab.model.rowCount() == 9
    assert tab.selected_hosts() == ["render03"]
    assert tab.count_label.text().startswith("9 nodes: ")


def test_selected_node_is_shown_in_full(qtbot, make_panel, backend) -> None:
    from dataclasses import replace

    from farmhand.ui.view.records import NodeStatus

    long_note = ("blocklisted for shot010_lighting_v012_beauty_and_volumes (anna@ws-anna) after 2 failures: "
                 "out of memory: Killed (signal 9) while rendering frame 1013")
    nodes = list(backend.current.nodes)
    nodes[0] = replace(nodes[0], macs=("52:54:00:12:34:56", "52:54:00:ab:cd:ef"),
                       os="Debian GNU/Linux 12 x86_64", share_free_gb=812.4, probed_at=1_700_000_000.0)
    nodes[1] = replace(nodes[1], status=NodeStatus.BLOCKLISTED, rendering_for="", note=long_note,
                       probed_at=1_700_000_000.0)
    backend.current = replace(backend.current, nodes=tuple(nodes))
    _panel, tab = ready(qtbot, make_panel, backend)
    assert tab.details.text().startswith("Select a node")
    tab.select_hosts(["render01"])
    first, second = tab.details.text().split("\n")
    assert first.startswith("render01 · 10.77.0.11 · Debian GNU/Linux 12 x86_64 · Houdini 21.0.512 · "
                            "MACs 52:54:00:12:34:56, 52:54:00:ab:cd:ef · share 812 GB free · probed ")
    assert second == "rendering for shot010_beauty (anna)"
    # The note the table's last column cuts off is here whole; a probed node without a MAC says so.
    tab.select_hosts(["render02"])
    assert tab.details.text().endswith("\n" + long_note)
    assert "no MAC address (Wake cannot reach it)" in tab.details.text()
    tab.select_hosts(["render03"])
    assert "not probed yet" in tab.details.text() and "Houdini 21.0.512" in tab.details.text()


def test_an_empty_farm_says_how_to_start(qtbot, make_panel, backend) -> None:
    from dataclasses import replace

    backend.current = replace(backend.current, nodes=())
    _panel, tab = ready(qtbot, make_panel, backend)
    assert tab.details.text().startswith("No nodes yet: scan an address range above")
    assert tab.count_label.text() == "0 nodes"


def test_blocklisted_note_names_the_job() -> None:
    from farmhand.ui.view.words import blocked_words

    assert blocked_words("shot010 (anna)", "blocklisted for this job after 2 failures: out of memory") == (
        "blocklisted for shot010 (anna) after 2 failures: out of memory")
    assert blocked_words("shot010", "renderer crashed twice") == "shot010: renderer crashed twice"
    assert blocked_words("shot010", None) == "blocklisted for shot010"
