"""Table models: rows, roles, state colours, and refreshes that signal only what changed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from farmhand.jobs import JobState, NodeActivity
from farmhand.ui.models import (
    KeyRole,
    ProgressRole,
    RecordRole,
    StateColourRole,
    job_nodes_model,
    jobs_model,
    nodes_model,
)
from farmhand.ui.qt import Qt
from farmhand.ui.view import summaries as style
from farmhand.ui.view.records import NodeStatus

from . import farm_data
from .qt_text import shown

pytestmark = pytest.mark.ui

DISPLAY = int(Qt.ItemDataRole.DisplayRole)
FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)


def column(model, title: str) -> int:
    titles = [model.headerData(c, Qt.Orientation.Horizontal, DISPLAY) for c in range(model.columnCount())]
    return titles.index(title)


def test_jobs_model_rows_and_roles(qtbot) -> None:
    model = jobs_model()
    snap = farm_data.snapshot()
    model.set_rows(snap.jobs)
    assert model.rowCount() == 3
    progress = model.index(0, column(model, "Progress"))
    assert progress.data(DISPLAY) == "100/240  42%  (2 failed)"
    assert progress.data(ProgressRole) == pytest.approx(100 / 240)
    assert model.index(0, column(model, "Job")).data(ProgressRole) is None
    assert model.index(1, 0).data(KeyRole) == "j2"
    assert model.index(2, 0).data(RecordRole) is snap.jobs[2]
    assert model.index(0, column(model, "ETA")).data(DISPLAY) == "5m12s"
    # A finished job has no ETA.
    assert model.index(1, column(model, "ETA")).data(DISPLAY) == ""
    assert model.index(0, column(model, "Note")).data(DISPLAY).startswith("2 frames failed: missing file")


@pytest.mark.parametrize("status", list(JobState))
def test_job_state_colours(qtbot, status: JobState) -> None:
    model = jobs_model()
    model.set_rows([replace(farm_data.job(), status=status)])
    state = model.index(0, column(model, "State"))
    assert state.data(DISPLAY) == status.value
    assert state.data(StateColourRole).name() == style.JOB_COLOURS[status]
    assert state.data(FOREGROUND).name() == style.JOB_COLOURS[status]


def test_a_waiting_job_says_what_it_waits_for(qtbot) -> None:
    model = jobs_model()
    waiting = replace(farm_data.job(failed=0), status=JobState.WAITING, waiting_for="job 7 (shot010_sim)")
    model.set_rows([waiting, replace(farm_data.job("j2", failed=0), status=JobState.WAITING)])
    note = model.index(0, column(model, "Note"))
    assert note.data(DISPLAY) == "waiting for job 7 (shot010_sim) to finish"
    assert note.data(FOREGROUND).name() == style.GREY  # not painted as a problem
    state_tip = model.index(0, column(model, "State")).data(Qt.ItemDataRole.ToolTipRole)
    assert shown(state_tip) == note.data(DISPLAY)
    assert model.index(1, column(model, "Note")).data(DISPLAY) == "waiting for another job to finish"
    # A problem still reads as one, in red.
    failing = jobs_model()
    failing.set_rows([farm_data.job()])
    assert failing.index(0, column(failing, "Note")).data(FOREGROUND).name() == style.RED


def test_state_colours_tell_states_apart() -> None:
    assert style.NODE_COLOURS[NodeStatus.IDLE] != style.NODE_COLOURS[NodeStatus.RENDERING]
    assert style.JOB_COLOURS[JobState.RUNNING] != style.JOB_COLOURS[JobState.FAILED]
    live = [JobState.QUEUED, JobState.WAITING, JobState.RUNNING, JobState.PAUSED]
    assert len({style.JOB_COLOURS[s] for s in live}) == len(live)
    assert len(set(style.FRAME_COLOURS.values())) == len(style.FRAME_COLOURS)


def test_nodes_model_shows_inventory_and_state(qtbot) -> None:
    model = nodes_model()
    model.set_rows(farm_data.nodes(7))
    assert model.rowCount() == 7
    assert model.columnCount() == 12  # ... and Tags, last
    row = model.row_of("render02")
    assert model.index(row, column(model, "Cores")).data(DISPLAY) == "16"
    assert model.index(row, column(model, "RAM")).data(DISPLAY) == "64 GB"
    assert model.index(row, column(model, "GPUs")).data(DISPLAY) == "NVIDIA RTX A4000"
    assert model.index(row, column(model, "Houdini")).data(DISPLAY) == "21.0.512, 20.5.332"
    assert model.index(row, column(model, "Job / note")).data(DISPLAY) == "shot010_beauty (anna)"
    assert model.index(row, column(model, "Address")).data(DISPLAY) == "10.77.0.12"
    # An address that is the node's name is not repeated.
    model.set_rows([replace(farm_data.nodes(1)[0], host="10.77.0.11", address="10.77.0.11", fingerprint="",
                            note="", trusted=False, status=NodeStatus.UNTRUSTED, rendering_for="")])
    assert model.index(0, column(model, "Address")).data(DISPLAY) == ""
    state_tip = model.index(0, column(model, "State")).data(int(Qt.ItemDataRole.ToolTipRole))
    assert "press Trust" in shown(state_tip)
    model.set_rows(farm_data.nodes(7))
    unreachable = model.row_of("render04")
    state = model.index(unreachable, column(model, "State"))
    assert state.data(DISPLAY) == "unreachable"
    assert state.data(StateColourRole).name() == style.RED
    assert shown(state.data(int(Qt.ItemDataRole.ToolTipRole))) == "no answer on port 22 for 3 s"
    untrusted = model.row_of("render06")
    assert model.index(untrusted, column(model, "State")).data(DISPLAY) == "untrusted"
    assert model.index(untrusted, column(model, "State")).data(StateColourRole).name() == style.ORANGE


def test_job_nodes_model_bars(qtbot) -> None:
    model = job_nodes_model()
    model.set_rows(farm_data.job_nodes(5))
    assert model.rowCount() == 5
    frame_pct = model.index(1, column(model, "Frame %"))
    assert frame_pct.data(DISPLAY) == "30%"
    assert frame_pct.data(ProgressRole) == pytest.approx(0.30)
    share = model.index(1, column(model, "Share"))
    assert share.data(DISPLAY) == "4/8 frames"
    assert share.data(ProgressRole) == pytest.approx(0.5)
    blocked = 4
    assert model.index(blocked, column(model, "Frame %")).data(ProgressRole) is None
    assert model.index(blocked, column(model, "Problem")).data(DISPLAY) == (
        "renderer crashed twice; blocklisted for this job")
    assert model.index(blocked, column(model, "State")).data(StateColourRole).name() == style.RED
    # The dispatcher's activity names read as words.
    assert model.index(blocked, column(model, "State")).data(DISPLAY) == "blocklisted"
    model.set_rows([replace(farm_data.job_nodes(1)[0], state=NodeActivity.BACKOFF)])
    assert model.index(0, column(model, "State")).data(DISPLAY) == "backing off"
    assert model.index(0, column(model, "State")).data(StateColourRole).name() == style.ORANGE


def test_same_keys_signal_only_changed_rows(qtbot) -> None:
    model = job_nodes_model()
    rows = farm_data.job_nodes(10)
    model.set_rows(rows)
    resets: list[int] = []
    changes: list[tuple[int, int]] = []
    model.modelReset.connect(lambda: resets.append(1))
    model.dataChanged.connect(lambda a, b, *_: changes.append((a.row(), b.row())))
    changed = list(rows)
    changed[3] = replace(changed[3], frame_percent=99.0)
    changed[6] = replace(changed[6], frames_done=100)
    model.set_rows(changed)
    assert resets == []
    assert changes == [(3, 6)]
    model.set_rows(changed)  # nothing changed: nothing signalled
    assert changes == [(3, 6)]
    model.set_rows(changed[:5])  # a node left the job: the rows are reset
    assert resets == [1]
    assert model.rowCount() == 5


def test_state_cell_of_a_selected_row_reads_in_the_highlight_colour(qtbot) -> None:
    from farmhand.ui.models import StateDelegate
    from farmhand.ui.qt import QtGui, QtWidgets
    from farmhand.ui.widgets import table_view

    host = QtWidgets.QWidget()
    qtbot.addWidget(host)
    model = jobs_model(host)
    model.set_rows([farm_data.job()])
    view = table_view(model, host)
    state = column(model, "State")
    view.setItemDelegateForColumn(state, StateDelegate(view))
    view.resize(600, 120)
    view.selectRow(0)
    host.show()
    qtbot.waitExposed(host)
    image = view.viewport().grab().toImage()
    cell = view.visualRect(model.index(0, state))
    palette = view.palette()
    wanted = palette.color(QtGui.QPalette.ColorGroup.Active, QtGui.QPalette.ColorRole.HighlightedText)
    plain = palette.color(QtGui.QPalette.ColorGroup.Active, QtGui.QPalette.ColorRole.Text)
    assert wanted != plain
    pixels = [image.pixelColor(x, y) for x in range(cell.left() + 22, cell.right())
              for y in range(cell.top(), cell.bottom())]

    def near(c: QtGui.QColor, ref: QtGui.QColor) -> bool:
        return abs(c.red() - ref.red()) + abs(c.green() - ref.green()) + abs(c.blue() - ref.blue()) < 60

    assert sum(near(p, wanted) for p in pixels) > 10
    assert sum(near(p, plain) for p in pixels) < sum(near(p, wanted) for p in pixels)
