"""Text from the farm is shown literally everywhere in the panel: never as Qt markup, never as controls.

A node name, job name, renderer error or log line may carry HTML (``<b>``, ``<img src=…>``, which Qt would
render or fetch) or terminal controls (``ESC ]52`` clipboard writes, ``ESC [2J``, bidi overrides). The
panel is filled with such text and every label, cell, tooltip, list item, dialog and log line is read
back as Qt shows it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from farmhand.display import Severity
from farmhand.jobs import LogLine
from farmhand.ui.client_backend import ClientBackend
from farmhand.ui.qt import Qt, QtCore, QtGui, QtWidgets
from farmhand.ui.view.records import FrameStatus, FrameView, NodeStatus, NodeView, PreflightFinding
from farmhand.ui.widgets import question_box

from . import farm_data
from .conftest import wait_snapshot
from .qt_text import shown

pytestmark = pytest.mark.ui

MARKUP = '<b>bold</b><img src="file:///etc/passwd">'
CONTROLS = "\x1b]52;c;aGk=\x07\x1b[2J\u202egnp.exe\x9b1m"
HOSTILE = f"{MARKUP}{CONTROLS}"
RAW = ("\x1b", "\x07", "\u202e", "\x9b")


def _clean(text: str) -> None:
    for bad in RAW:
        assert bad not in text, repr(text)


def _hostile_snapshot() -> Any:
    snap = farm_data.snapshot()
    job = replace(snap.jobs[0], name=f"job {HOSTILE}", message=f"failed: {HOSTILE}", owner=HOSTILE)
    node = NodeView(host=f"render{HOSTILE}", status=NodeStatus.UNREACHABLE, address=HOSTILE, trusted=True,
                    enabled=True, note=f"banner {HOSTILE}", gpus=(HOSTILE,), houdini=(HOSTILE,), os=HOSTILE)
    job_nodes = (replace(snap.detail.nodes[0], host=f"node{HOSTILE}", error=f"error {HOSTILE}"),
                 *snap.detail.nodes[1:])
    frames = (FrameView(1001.0, FrameStatus.FAILED, f"node{HOSTILE}", 2, None, f"crash {HOSTILE}"),
              *snap.detail.frames[1:])
    detail = replace(snap.detail, job=job, nodes=job_nodes, frames=frames)
    return replace(snap, jobs=(job, *snap.jobs[1:]), nodes=(node, *snap.nodes), detail=detail)


def _might_be_rich(text: str) -> bool:
    """Qt's own test for "render this as HTML" (labels in AutoText, tooltips)."""
    return bool(QtGui.Qt.mightBeRichText(text))


def _labels_show_literally(widget: QtWidgets.QWidget) -> int:
    checked = 0
    for label in widget.findChildren(QtWidgets.QLabel):
        text = label.text()
        if label.textFormat() == Qt.TextFormat.PlainText:
            _clean(text)
        elif label.textFormat() == Qt.TextFormat.RichText:  # on purpose: it must still read literally
            _clean(shown(text))
            assert "<img" not in text.replace("&lt;img", "")
        else:  # static words ("start", form labels): Qt would take markup in them as rich text
            assert not _might_be_rich(text), text
        if "bold" in text:
            assert "<b>bold</b>" in (text if label.textFormat() == Qt.TextFormat.PlainText else shown(text))
            checked += 1
    return checked


def _cells_show_literally(model: QtCore.QAbstractItemModel) -> int:
    checked = 0
    for row in range(model.rowCount()):
        for column in range(model.columnCount()):
            index = model.index(row, column)
            _clean(str(index.data(int(Qt.ItemDataRole.DisplayRole)) or ""))
            tip = index.data(int(Qt.ItemDataRole.ToolTipRole))
            if tip:
                assert _might_be_rich(tip)  # given as (escaped) rich text on purpose
                _clean(shown(tip))
                if "bold" in tip:
                    assert MARKUP in shown(tip)
                    checked += 1
    return checked


def test_every_label_cell_and_tooltip_shows_hostile_text_literally(qtbot, make_panel, backend) -> None:
    backend.current = _hostile_snapshot()
    panel = make_panel(backend)
    wait_snapshot(qtbot, panel)
    panel.jobs_tab.select_job("j1")
    wait_snapshot(qtbot, panel)
    panel.nodes_tab.select_hosts([f"render{HOSTILE}"])
    assert _labels_show_literally(panel) >= 2  # the job summary and the node's details line
    tips = sum(_cells_show_literally(model) for model in
               (panel.jobs_tab.jobs, panel.jobs_tab.job_nodes, panel.nodes_tab.model))
    assert tips >= 5
    panel.show_message(f"could not add {HOSTILE}")
    assert panel.status.textFormat() == Qt.TextFormat.PlainText
    _clean(panel.status.text())
    assert MARKUP in panel.status.text()


def test_frame_grid_hover_and_submit_items(qtbot, make_panel, backend) -> None:
    backend.current = _hostile_snapshot()
    panel = make_panel(backend)
    wait_snapshot(qtbot, panel)
    panel.jobs_tab.select_job("j1")
    wait_snapshot(qtbot, panel)
    grid = panel.jobs_tab.grid
    qtbot.waitUntil(lambda: bool(grid.frames()) and grid.frames()[0].error.startswith("crash"))
    QtWidgets.QApplication.sendEvent(grid.viewport(), _tooltip_event(grid, grid.cell_rect(0).center()))
    qtbot.waitUntil(lambda: "crash" in QtWidgets.QToolTip.text())
    tip = QtWidgets.QToolTip.text()
    _clean(shown(tip))
    assert MARKUP in shown(tip)
    QtWidgets.QToolTip.hideText()

    tab = panel.submit_tab
    tab.set_context(replace(tab.context(), hip_path=f"/share/{HOSTILE}.hip", houdini_version=HOSTILE,
                            findings=(PreflightFinding(Severity.ERROR, f"texture {HOSTILE}", HOSTILE),)))
    item = tab.findings_view.topLevelItem(0)
    for column in (1, 2):
        _clean(item.text(column))
    assert MARKUP in shown(item.toolTip(1))
    assert MARKUP in shown(tab.hip_label.toolTip())
    assert tab.version_label.textFormat() == Qt.TextFormat.PlainText
    hosts = [tab.nodes_list.item(i) for i in range(tab.nodes_list.count())]
    hostile = [item for item in hosts if "bold" in item.text()]
    assert hostile and all("\x1b" not in item.text() for item in hostile)
    # the node is still sent by its real name
    hostile[0].setSelected(True)
    assert f"render{HOSTILE}" in tab.selected_nodes()


def _tooltip_event(grid: Any, pos: QtCore.QPoint) -> Any:
    return QtGui.QHelpEvent(QtCore.QEvent.Type.ToolTip, pos, grid.viewport().mapToGlobal(pos))


def test_questions_are_plain_text(qtbot) -> None:
    parent = QtWidgets.QWidget()
    qtbot.addWidget(parent)
    box = question_box(parent, "Trust node", f"Trust {HOSTILE}?")
    assert box.textFormat() == Qt.TextFormat.PlainText
    assert box.text() == f"Trust {HOSTILE}?"  # Qt shows it as typed: the tags appear, nothing is fetched


class _LogClient:
    def logs(self, job_id: str, node: Any = None, frame: Any = None) -> list[LogLine]:
        return [LogLine(0.0, f"n{CONTROLS}", 3, "out", HOSTILE),
                LogLine(1.0, "n2", None, "err", "plain line")]


def test_the_log_view_gets_escaped_text() -> None:
    backend = ClientBackend(client_factory=_LogClient, nodes=object())  # type: ignore[arg-type]
    text = backend.log("1")
    _clean(text)
    assert MARKUP in text and len(text.splitlines()) == 2
