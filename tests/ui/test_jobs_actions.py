"""Jobs tab: every button reaches the backend (off the UI thread), logs are one click away."""

from __future__ import annotations

import threading

import pytest

from farmhand.errors import JobError
from farmhand.ui.qt import Qt

from .conftest import wait_snapshot
from .qt_text import shown

pytestmark = pytest.mark.ui


def ready(qtbot, make_panel, backend):
    panel = make_panel(backend)
    wait_snapshot(qtbot, panel)
    # Reattaching selects the running job; its detail arrives with the next poll.
    qtbot.waitUntil(lambda: panel.jobs_tab.grid.frames() != (), timeout=3000)
    return panel, panel.jobs_tab


def test_panel_follows_the_running_job(qtbot, make_panel, backend) -> None:
    _panel, tab = ready(qtbot, make_panel, backend)
    assert tab.selected_job().job_id == "j1"
    assert tab.job_nodes.rowCount() == 4
    assert len(tab.grid.frames()) == 240
    assert "shot010_beauty" in tab.summary.text() and "ETA 5m12s" in tab.summary.text()
    assert "missing file: /share/tex/wood.rat" in tab.summary.text()
    assert "failed&nbsp;2" in tab.legend.text()


def test_reattaching_follows_the_rendering_job_not_the_one_waiting_for_it(qtbot, make_panel, backend) -> None:
    from dataclasses import replace

    from farmhand.jobs import JobState

    from . import farm_data

    # Newest first: the render submitted after its sim waits at the top of the queue.
    waiting = replace(farm_data.job("j9", failed=0, name="shot010_render"), status=JobState.WAITING,
                      waiting_for="job j1 (shot010_beauty)")
    backend.current = replace(backend.current, jobs=(waiting, *backend.current.jobs))
    _panel, tab = ready(qtbot, make_panel, backend)
    assert tab.selected_job().job_id == "j1"


@pytest.mark.parametrize(("button", "call", "args"), [
    ("pause_button", "pause", ("j1",)),
    ("retry_button", "retry_failed", ("j1",)),
    ("cancel_button", "cancel", ("j1",)),
])
def test_job_buttons_call_the_backend_off_the_ui_thread(qtbot, make_panel, backend, button, call,
                                                        args) -> None:
    panel, tab = ready(qtbot, make_panel, backend)
    qtbot.mouseClick(getattr(tab, button), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: backend.called(call) == [args], timeout=3000)
    assert backend.threads[call] != threading.main_thread().name
    qtbot.waitUntil(lambda: panel.status.text().endswith(": done"), timeout=3000)


def test_cancel_asks_first(qtbot, make_panel, backend) -> None:
    _panel, tab = ready(qtbot, make_panel, backend)
    questions: list[str] = []
    tab.confirm = lambda title, question: questions.append(question) or False
    qtbot.mouseClick(tab.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.wait(100)
    assert questions == ["Cancel shot010_beauty? Frames already rendered are kept."]
    assert backend.called("cancel") == []


def test_priority_and_requeue(qtbot, make_panel, backend) -> None:
    _panel, tab = ready(qtbot, make_panel, backend)
    tab.priority_spin.setValue(80)
    qtbot.mouseClick(tab.priority_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: backend.called("set_priority") == [("j1", 80)], timeout=3000)

    assert not tab.requeue_button.isEnabled()
    tab.grid.resize(600, 200)
    failed_index = 104
    qtbot.mouseClick(tab.grid.viewport(), Qt.MouseButton.LeftButton,
                     pos=tab.grid.cell_rect(failed_index).center())
    assert tab.grid.selected_frame() == 1105.0
    assert tab.requeue_button.isEnabled()
    qtbot.mouseClick(tab.requeue_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: backend.called("requeue_frame") == [("j1", 1105.0)], timeout=3000)


def test_pause_resume_enablement_follows_state(qtbot, make_panel, backend) -> None:
    from dataclasses import replace

    from farmhand.jobs import JobState

    panel, tab = ready(qtbot, make_panel, backend)
    assert tab.pause_button.isEnabled() and not tab.resume_button.isEnabled()
    snap = backend.current
    paused = replace(snap.jobs[0], status=JobState.PAUSED)
    backend.current = replace(snap, jobs=(paused, *snap.jobs[1:]), detail=replace(snap.detail, job=paused))
    wait_snapshot(qtbot, panel)
    assert not tab.pause_button.isEnabled() and tab.resume_button.isEnabled()
    qtbot.mouseClick(tab.resume_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: backend.called("resume") == [("j1",)], timeout=3000)
    tab.select_job("j2")  # done: nothing to cancel or pause
    assert not tab.cancel_button.isEnabled() and not tab.pause_button.isEnabled()


def test_node_and_frame_logs_are_one_click_away(qtbot, make_panel, backend) -> None:
    _panel, tab = ready(qtbot, make_panel, backend)
    view = tab.nodes_view
    rect = view.visualRect(tab.job_nodes.index(2, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: tab.log_view.toPlainText() == backend.log_text, timeout=3000)
    assert backend.called("log")[-1] == ("j1", "render03", None)
    assert tab.log_title.text() == "Log: node render03"

    tab.grid.resize(600, 200)
    qtbot.mouseClick(tab.grid.viewport(), Qt.MouseButton.LeftButton, pos=tab.grid.cell_rect(3).center())
    qtbot.waitUntil(lambda: tab.log_title.text() == "Log: frame 1004", timeout=3000)
    assert backend.called("log")[-1] == ("j1", None, 1004.0)


def test_a_failing_action_is_one_line_in_the_status_bar(qtbot, make_panel, backend) -> None:
    panel, tab = ready(qtbot, make_panel, backend)
    backend.fail["pause"] = JobError("job j1 is already finished; nothing to pause")
    qtbot.mouseClick(tab.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "could not pause" in panel.status.text(), timeout=3000)
    assert panel.status.text() == (
        "could not pause shot010_beauty: job j1 is already finished; nothing to pause")


def test_names_with_markup_are_shown_literally(qtbot, make_panel, backend) -> None:
    from dataclasses import replace

    hostile = "<b>shot010</b><img src='/etc/hosts'>"
    backend.current = replace(backend.current, jobs=(replace(backend.current.jobs[0], name=hostile),
                                                     *backend.current.jobs[1:]))
    panel, tab = ready(qtbot, make_panel, backend)
    qtbot.mouseClick(tab.pause_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.status.text() == f"pause {hostile}: done", timeout=3000)
    # Qt would otherwise guess rich text from the tags, and draw (or load) them.
    assert panel.status.textFormat() == Qt.TextFormat.PlainText
    assert tab.log_title.textFormat() == Qt.TextFormat.PlainText
    from farmhand.ui.view.summaries import summary_html

    assert "&lt;b&gt;shot010&lt;/b&gt;" in summary_html(tab.selected_job())  # the summary is rich text


def test_the_log_on_screen_follows_a_running_job(qtbot, make_panel, backend, monkeypatch) -> None:
    from farmhand.ui import jobs_tab

    monkeypatch.setattr(jobs_tab, "LOG_FOLLOW_SECONDS", 0.1)
    _panel, tab = ready(qtbot, make_panel, backend)
    tab._show_log("render01", None)
    qtbot.waitUntil(lambda: tab.log_view.toPlainText() == backend.log_text, timeout=3000)
    backend.log_text += "\n10:00:02 render01 f1001 out: ALF_PROGRESS 80%"
    qtbot.waitUntil(lambda: tab.log_view.toPlainText().endswith("ALF_PROGRESS 80%"), timeout=3000)
    assert tab.log_title.text() == "Log: node render01"
    # Another job selected: the log pane is cleared, not left showing the old job's output.
    tab.select_job("j2")
    assert tab.log_view.toPlainText() == ""
    assert tab.log_title.text() == "Log: click a node or a frame"


def test_right_click_menu_requeues_a_frame(qtbot, make_panel, backend) -> None:
    from farmhand.ui.qt import QtCore, QtWidgets

    _panel, tab = ready(qtbot, make_panel, backend)
    chosen: list[str] = []

    def pick() -> None:
        menu = QtWidgets.QApplication.activePopupWidget()
        if menu is None:
            QtCore.QTimer.singleShot(20, pick)
            return
        action = next(a for a in menu.actions() if a.text().startswith("Requeue frame"))
        chosen.append(action.text())
        action.trigger()
        menu.close()

    QtCore.QTimer.singleShot(20, pick)
    qtbot.mouseClick(tab.grid.viewport(), Qt.MouseButton.RightButton, pos=tab.grid.cell_rect(104).center())
    qtbot.waitUntil(lambda: backend.called("requeue_frame") == [("j1", 1105.0)], timeout=3000)
    assert chosen == ["Requeue frame 1105"]


def test_hovering_a_frame_names_it(qtbot, make_panel, backend) -> None:
    from farmhand.ui.qt import QtCore, QtGui, QtWidgets

    _panel, tab = ready(qtbot, make_panel, backend)
    pos = tab.grid.cell_rect(104).center()
    event = QtGui.QHelpEvent(QtCore.QEvent.Type.ToolTip, pos, tab.grid.viewport().mapToGlobal(pos))
    QtWidgets.QApplication.sendEvent(tab.grid.viewport(), event)
    qtbot.waitUntil(lambda: QtWidgets.QToolTip.isVisible(), timeout=3000)
    assert shown(QtWidgets.QToolTip.text()) == ("frame 1105: failed, on render01, attempt 4\n"
                                         "missing file: /share/tex/wood.rat")


def test_a_removed_job_is_let_go(qtbot, make_panel, backend) -> None:
    from dataclasses import replace

    panel, tab = ready(qtbot, make_panel, backend)
    backend.current = replace(backend.current, jobs=backend.current.jobs[1:], detail=None)
    wait_snapshot(qtbot, panel)
    wait_snapshot(qtbot, panel)
    assert tab.selected_job() is not None and tab.selected_job().job_id == "j3"  # the unfinished one
    assert tab.grid.frames() == () and tab.job_nodes.rowCount() == 0


def test_hide_finished_jobs(qtbot, make_panel, backend) -> None:
    _panel, tab = ready(qtbot, make_panel, backend)
    assert tab.jobs.rowCount() == 3
    tab.hide_finished_check.setChecked(True)
    assert [j.job_id for j in tab.jobs.records()] == ["j1", "j3"]  # j2 is done
    assert tab.selected_job().job_id == "j1"
    tab.hide_finished_check.setChecked(False)
    assert tab.jobs.rowCount() == 3 and tab.selected_job().job_id == "j1"


def test_a_new_job_keeps_the_selection_and_the_log(qtbot, make_panel, backend) -> None:
    from dataclasses import replace

    from . import farm_data

    panel, tab = ready(qtbot, make_panel, backend)
    tab._show_log("render02", None)
    qtbot.waitUntil(lambda: tab.log_view.toPlainText() == backend.log_text, timeout=3000)
    new = farm_data.job("j7", 10, 0, name="shot070_comp")
    backend.current = replace(backend.current, jobs=(new, *backend.current.jobs))
    wait_snapshot(qtbot, panel)
    assert tab.jobs.rowCount() == 4
    assert tab.selected_job().job_id == "j1"
    assert tab.log_title.text() == "Log: node render02"
    assert tab.log_view.toPlainText() == backend.log_text
