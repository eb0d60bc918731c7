"""The Python panel's widget, built by farmhand.houdini for Houdini, filled from the (fake) scene and
submitting through farmhand.houdini — real Qt, offscreen."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from farmhand.houdini import entry, farm, panel
from farmhand.houdini.pathmap import PathMap
from farmhand.houdini.preflight import NodeFacts

from .fakesink import RecordingSink

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytestmark = pytest.mark.ui


ROOT = Path(__file__).resolve().parents[2]


def test_pane_tab_widget_shows_the_scene_and_submits(
    qtbot: Any, make_scene: Any, hou_session: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    houdini_build: str,
) -> None:
    import farmhand.ui.client_backend
    from ui.fake_backend import FakeBackend

    monkeypatch.setattr(farmhand.ui.client_backend, "ClientBackend", FakeBackend)
    sink = RecordingSink()
    monkeypatch.setattr(farm, "sink_factory", lambda: sink)
    monkeypatch.setattr(farm, "nodes_provider", lambda: [NodeFacts("n1", houdini=(houdini_build,))])
    monkeypatch.setattr(farm, "pathmap_loader", lambda: PathMap(shares=(str(tmp_path / "share"),)))
    hip = make_scene([{"path": "/out/m", "type": "ifd", "parms": {"trange": 1, "f1": 3, "f2": 8}}])
    hou_session.select("/out/m")

    widget = entry.create_panel_widget({"paneTab": None})
    qtbot.addWidget(widget)
    widget.submit_tab.refresh_context()
    tab = widget.submit_tab
    assert tab.rop_edit.text() == "/out/m"
    assert tab.context().hip_path == str(hip) and tab.context().houdini_version == houdini_build
    assert (tab.start_spin.value(), tab.end_spin.value()) == (3, 8)
    with qtbot.waitSignal(tab.submitted, timeout=5000) as signal:
        tab.submit()
    assert signal.args == ["job1"]
    assert [(s.target, s.frames) for s in sink.specs] == [("/out/m", "3-8")]
    widget.close()


def test_farm_panel_opens_one_native_pane_tab(qtbot: Any, make_scene: Any, hou_session: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The shelf's Farm Panel opens the pypanel's interface in a Houdini pane tab (as New Pane Tab Type >
    Farmhand does), and brings that tab to the front instead of opening a second one."""
    import farmhand.ui.client_backend
    from ui.fake_backend import FakeBackend

    monkeypatch.setattr(farmhand.ui.client_backend, "ClientBackend", FakeBackend)
    make_scene([{"path": "/out/m", "type": "ifd"}])
    hou_session.pypanel.installFile(str(ROOT / "python_panels" / "farmhand.pypanel"))  # Houdini's startup
    first = entry.open_panel({})
    qtbot.addWidget(first)
    (tab,) = hou_session.ui.paneTabs()
    assert tab.type() == hou_session.paneTabType.PythonPanel and tab.isCurrentTab()
    assert tab.activeInterface().name() == panel.INTERFACE and tab.activeInterfaceRootWidget() is first
    hou_session.ui.curDesktop().createFloatingPaneTab(hou_session.paneTabType.Parm)  # something else in front
    scanning = entry.scan_for_nodes({})
    assert scanning is first and len(hou_session.ui.paneTabs()) == 2 and tab.isCurrentTab()
    assert first.tabs.currentWidget() is first.nodes_tab


def test_without_the_pypanel_the_panel_opens_as_a_window(qtbot: Any, make_scene: Any, hou_session: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import farmhand.ui.client_backend
    from ui.fake_backend import FakeBackend

    monkeypatch.setattr(farmhand.ui.client_backend, "ClientBackend", FakeBackend)
    make_scene([{"path": "/out/m", "type": "ifd"}])
    first = entry.open_panel({})
    assert first.isVisible() and hou_session.ui.paneTabs() == ()
    assert entry.scan_for_nodes({}) is first
    first.close()
