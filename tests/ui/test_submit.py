"""Submit tab: prefilled from the host's context, validated, preflight fixes, and the request sent."""

from __future__ import annotations

import threading

import pytest

from farmhand.errors import UsageError
from farmhand.jobs import ChunkMode
from farmhand.ui.qt import Qt
from farmhand.ui.view.records import PreflightFinding, Severity, SubmitContext, SubmitRequest

from .conftest import wait_snapshot
from .qt_text import shown

pytestmark = pytest.mark.ui


def context(**kw) -> SubmitContext:
    values = dict(rop_path="/out/karma1", frame_start=1001.0, frame_end=1240.0, frame_step=1.0,
                  hip_path="/share/shot010/shot010_v003.hip", houdini_version="21.0.512",
                  presets=("hrender", "husk"), preset="husk")
    values.update(kw)
    return SubmitContext(**values)


def open_submit(qtbot, make_panel, backend, **kw):
    panel = make_panel(backend, **kw)
    wait_snapshot(qtbot, panel)
    panel.tabs.setCurrentWidget(panel.submit_tab)
    return panel, panel.submit_tab


def test_form_is_prefilled_from_the_context(qtbot, make_panel, backend) -> None:
    _panel, tab = open_submit(qtbot, make_panel, backend, context=context())
    assert tab.rop_edit.text() == "/out/karma1"
    assert tab.start_spin.text() == "1001" and tab.end_spin.text() == "1240"
    assert tab.preset_combo.currentText() == "husk"
    assert tab.hip_label.full_text() == "/share/shot010/shot010_v003.hip"
    assert tab.version_label.text() == "Houdini 21.0.512"
    # Enabled, trusted nodes can be chosen (render05 is blocklisted only for another job).
    choices = [tab.nodes_list.item(i).text() for i in range(tab.nodes_list.count())]
    assert choices == ["render01", "render02", "render03", "render04", "render05"]


def test_submit_sends_the_request_and_follows_the_job(qtbot, make_panel, backend) -> None:
    panel, tab = open_submit(qtbot, make_panel, backend, context=context())
    tab.chunk_combo.setCurrentIndex(tab.chunk_combo.findData(ChunkMode.FIXED.value))
    tab.chunk_spin.setValue(8)
    tab.priority_spin.setValue(70)
    tab.select_nodes(["render02", "render03"])
    tab.name_edit.setText("shot010 beauty")
    qtbot.mouseClick(tab.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: backend.called("submit") != [], timeout=3000)
    (request,) = backend.called("submit")[0]
    assert request == SubmitRequest(
        rop_path="/out/karma1", hip_path="/share/shot010/shot010_v003.hip", frame_start=1001.0,
        frame_end=1240.0, frame_step=1.0, preset="husk", chunk_policy=ChunkMode.FIXED, chunk_size=8,
        nodes=("render02", "render03"), priority=70, single_node=False, job_name="shot010 beauty",
        houdini_version="21.0.512")
    assert backend.threads["submit"] != threading.main_thread().name
    qtbot.waitUntil(lambda: panel.tabs.currentWidget() is panel.jobs_tab, timeout=3000)
    assert panel.status.text() == "submitted shot010 beauty as job j9"


@pytest.mark.parametrize(("change", "message"), [
    ({"rop_path": ""}, "choose a ROP to render (type its path, e.g. /out/karma1)"),
    ({"frame_start": 10.0, "frame_end": 1.0}, "frame range 10-1 ends before it starts; swap start and end"),
])
def test_bad_input_is_one_line_and_nothing_is_submitted(qtbot, make_panel, backend, change,
                                                        message) -> None:
    panel, tab = open_submit(qtbot, make_panel, backend, context=context(**change))
    qtbot.mouseClick(tab.submit_button, Qt.MouseButton.LeftButton)
    qtbot.wait(50)
    assert panel.status.text() == message
    assert backend.called("submit") == []


def test_errors_in_preflight_block_submit_until_fixed(qtbot, make_panel, backend) -> None:
    fixed: list[str] = []
    scene = {"findings": (
        PreflightFinding(Severity.WARNING, "The scene has unsaved changes", "Save",
                         lambda: fixed.append("save")),
        PreflightFinding(Severity.ERROR, "Texture /home/anna/wood.rat is not on the share", "Copy",
                         lambda: fixed.append("copy")),
    )}

    def provider() -> SubmitContext:
        return context(findings=() if "copy" in fixed else scene["findings"])

    _panel, tab = open_submit(qtbot, make_panel, backend, context_provider=provider)
    assert tab.findings_view.topLevelItemCount() == 2
    assert not tab.submit_button.isEnabled()
    assert tab.blocked_label.text() == "Fix the 1 error(s) listed under Preflight first"
    tab.findings_view.setCurrentItem(tab.findings_view.topLevelItem(1))
    qtbot.mouseClick(tab.fix_button, Qt.MouseButton.LeftButton)
    assert fixed == ["copy"]
    # The provider re-read the scene: the error is gone and Submit is enabled.
    assert tab.submit_button.isEnabled()
    assert tab.findings_view.topLevelItem(0).text(1) == "No problems found in the scene."


def test_a_failing_fix_is_reported(qtbot, make_panel, backend) -> None:
    def broken() -> None:
        raise PermissionError("/share/tex is read-only")

    findings = (PreflightFinding(Severity.ERROR, "Texture not on the share", "Copy", broken),)
    panel, tab = open_submit(qtbot, make_panel, backend, context=context(findings=findings))
    qtbot.mouseClick(tab.fix_all_button, Qt.MouseButton.LeftButton)
    assert panel.status.text() == ("could not fix 'Texture not on the share': "
                                   "PermissionError: /share/tex is read-only")


def test_host_submit_handler_runs_on_the_ui_thread(qtbot, make_panel, backend) -> None:
    seen: list[tuple[SubmitRequest, str]] = []

    def handler(request: SubmitRequest) -> str:
        seen.append((request, threading.current_thread().name))
        return "j1"

    panel, tab = open_submit(qtbot, make_panel, backend, context=context(), submit_handler=handler)
    tab.single_node_check.setChecked(True)
    assert not tab.chunk_combo.isEnabled()
    qtbot.mouseClick(tab.submit_button, Qt.MouseButton.LeftButton)
    assert seen[0][0].single_node and seen[0][1] == threading.main_thread().name
    assert backend.called("submit") == []
    assert panel.jobs_tab.selected_job().job_id == "j1"


def test_host_handler_error_is_shown(qtbot, make_panel, backend) -> None:
    def handler(request: SubmitRequest) -> str:
        raise UsageError("save the scene first: it has never been saved")

    panel, tab = open_submit(qtbot, make_panel, backend, context=context(), submit_handler=handler)
    qtbot.mouseClick(tab.submit_button, Qt.MouseButton.LeftButton)
    assert panel.status.text() == "not submitted: save the scene first: it has never been saved"


def test_presets_come_from_the_backend_without_a_context(qtbot, make_panel, backend) -> None:
    _panel, tab = open_submit(qtbot, make_panel, backend)
    qtbot.waitUntil(lambda: tab.preset_combo.count() == 3, timeout=3000)
    assert [tab.preset_combo.itemText(i) for i in range(3)] == ["hrender", "husk", "blender"]


def test_set_submit_context_switches_to_submit(qtbot, make_panel, backend) -> None:
    panel, tab = open_submit(qtbot, make_panel, backend)
    panel.tabs.setCurrentWidget(panel.jobs_tab)
    panel.set_submit_context(context(rop_path="/out/mantra_fx"))
    assert panel.tabs.currentWidget() is tab
    assert tab.rop_edit.text() == "/out/mantra_fx"


def test_from_selection_rereads_the_scene(qtbot, make_panel, backend) -> None:
    selected = ["/out/karma1"]
    _panel, tab = open_submit(qtbot, make_panel, backend,
                             context_provider=lambda: context(rop_path=selected[0]))
    assert tab.from_scene_button.isVisible()
    assert tab.rop_edit.text() == "/out/karma1"
    selected[0] = "/out/mantra_fx"
    qtbot.mouseClick(tab.from_scene_button, Qt.MouseButton.LeftButton)
    assert tab.rop_edit.text() == "/out/mantra_fx"


def test_no_host_no_from_selection(qtbot, make_panel, backend) -> None:
    _panel, tab = open_submit(qtbot, make_panel, backend)
    assert not tab.from_scene_button.isVisible()
    assert tab.hip_label.full_text() == "(no scene)"
    assert (tab.start_spin.text(), tab.end_spin.text(), tab.step_spin.text()) == ("1", "1", "1")


def test_without_houdini_the_scene_is_typed(qtbot, make_panel, backend) -> None:
    """`farmhand monitor`: no host names a scene, so the wrangler types it (hrender needs one)."""
    panel, tab = open_submit(qtbot, make_panel, backend)
    assert tab.scene_edit.isVisible() and not tab.hip_label.isVisible()
    tab.rop_edit.setText("/out/karma1")
    tab.scene_edit.setText("  /share/shot010/shot010_v012.hip ")
    tab.end_spin.setValue(24)
    qtbot.mouseClick(tab.submit_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: backend.called("submit") != [], timeout=3000)
    (request,) = backend.called("submit")[0]
    assert (request.hip_path, request.rop_path, request.frame_end) == (
        "/share/shot010/shot010_v012.hip", "/out/karma1", 24.0)
    # In Houdini the scene comes from the host and is not typed.
    houdini = make_panel(backend, context=context(), context_provider=context).submit_tab
    panel.tabs.setCurrentWidget(panel.submit_tab)
    assert not houdini.scene_edit.isVisibleTo(houdini) and houdini.hip_label.isVisibleTo(houdini)


def test_a_long_scene_path_is_shortened_not_widening_the_panel(qtbot, make_panel, backend) -> None:
    long_path = "/share/projects/" + "/".join(["very_long_directory_name"] * 12) + "/shot010_v003.hip"
    panel, tab = open_submit(qtbot, make_panel, backend, context=context(hip_path=long_path))
    panel.resize(700, 600)
    qtbot.waitUntil(lambda: panel.width() <= 700, timeout=3000)
    label = tab.hip_label.text()
    assert label.startswith("…") and label.endswith("shot010_v003.hip")
    assert tab.version_label.text() == "Houdini 21.0.512"  # never cut with the path
    assert shown(tab.hip_label.toolTip()) == long_path
