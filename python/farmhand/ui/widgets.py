"""Small pieces the tabs share: state colours as QColors, the standalone look, read-only tables, column
sizing, an eliding label, and a confirmation that shows names as plain text.

Which colour a state has is decided in :mod:`farmhand.ui.view.summaries` (``#rrggbb`` names, Qt-free);
here they become cached ``QColor`` objects. Text from the farm is never given to Qt as markup: labels that
show it are plain text, and tooltips go through :func:`farmhand.ui.view.summaries.tooltip`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Callable

from farmhand.jobs import JobState, NodeActivity
from farmhand.ui.qt import Qt, QtCore, QtGui, QtWidgets, exec_dialog
from farmhand.ui.view.records import FrameStatus, NodeStatus
from farmhand.ui.view.summaries import (
    ACTIVITY_COLOURS,
    FRAME_COLOURS,
    GREY,
    JOB_COLOURS,
    NODE_COLOURS,
    tooltip,
)

#: Asks the user to confirm: ``(title, question) -> yes``. Injected so hosts and tests can decide.
Confirm = Callable[[str, str], bool]

_CACHE: dict[str, QtGui.QColor] = {}


def colour(name: str) -> QtGui.QColor:
    """A cached QColor for ``#rrggbb`` (painting 5 000 cells must not parse 5 000 strings)."""
    found = _CACHE.get(name)
    if found is None:
        found = _CACHE[name] = QtGui.QColor(name)
    return found


def frame_colour(status: FrameStatus) -> QtGui.QColor:
    return colour(FRAME_COLOURS.get(status, GREY))


def node_colour(status: NodeStatus) -> QtGui.QColor:
    return colour(NODE_COLOURS.get(status, GREY))


def job_colour(status: JobState) -> QtGui.QColor:
    return colour(JOB_COLOURS.get(status, GREY))


def job_node_colour(state: NodeActivity) -> QtGui.QColor:
    return colour(ACTIVITY_COLOURS.get(state, GREY))


def dark_palette() -> QtGui.QPalette:
    """A dark palette close to Houdini's, for the standalone monitor (inside Houdini its own applies)."""
    palette = QtGui.QPalette()
    role = QtGui.QPalette.ColorRole
    for name, value in (
        (role.Window, "#3a3a3a"), (role.WindowText, "#d8d8d8"), (role.Base, "#2b2b2b"),
        (role.AlternateBase, "#323232"), (role.ToolTipBase, "#464646"), (role.ToolTipText, "#e0e0e0"),
        (role.Text, "#d8d8d8"), (role.Button, "#464646"), (role.ButtonText, "#d8d8d8"),
        (role.BrightText, "#ffffff"), (role.Highlight, "#4f6f99"), (role.HighlightedText, "#ffffff"),
        (role.PlaceholderText, "#8a8a8a"), (role.Mid, "#2f2f2f"), (role.Dark, "#262626"),
    ):
        palette.setColor(name, colour(value))
    disabled = QtGui.QPalette.ColorGroup.Disabled
    for name in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(disabled, name, colour("#7a7a7a"))
    return palette


def apply_standalone_look(app: QtWidgets.QApplication) -> None:
    """Fusion with the dark palette: the monitor then looks like the panel does inside Houdini."""
    app.setStyle("Fusion")
    app.setPalette(dark_palette())


def question_box(parent: QtWidgets.QWidget, title: str, question: str) -> QtWidgets.QMessageBox:
    """A Yes/No question whose text is shown literally (``QMessageBox.question`` would render a node
    name or a fingerprint that looks like markup as rich text)."""
    buttons = QtWidgets.QMessageBox.StandardButton
    box = QtWidgets.QMessageBox(QtWidgets.QMessageBox.Icon.Question, title, question,
                                buttons.Yes | buttons.No, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setDefaultButton(buttons.No)
    return box


def ask(parent: QtWidgets.QWidget) -> Confirm:
    def confirm(title: str, question: str) -> bool:
        box = question_box(parent, title, question)
        try:
            return bool(exec_dialog(box) == QtWidgets.QMessageBox.StandardButton.Yes)
        finally:
            box.deleteLater()

    return confirm


def table_view(model: QtCore.QAbstractItemModel, parent: QtWidgets.QWidget) -> QtWidgets.QTableView:
    """A read-only, row-selecting table in the panel's compact style."""
    view = QtWidgets.QTableView(parent)
    view.setModel(model)
    view.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setAlternatingRowColors(True)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.verticalHeader().setVisible(False)
    view.verticalHeader().setDefaultSectionSize(22)
    view.horizontalHeader().setStretchLastSection(True)
    view.horizontalHeader().setHighlightSections(False)
    return view


def hide_columns(view: QtWidgets.QTableView, titles: Collection[str]) -> None:
    """Hide the columns titled ``titles`` and show every other one (touching only those that change)."""
    model = view.model()
    display = int(Qt.ItemDataRole.DisplayRole)
    for column in range(model.columnCount()):
        hidden = model.headerData(column, Qt.Orientation.Horizontal, display) in titles
        if view.isColumnHidden(column) != hidden:
            view.setColumnHidden(column, hidden)


def fit_columns(view: QtWidgets.QTableView, samples: dict[int, str], dotted: tuple[int, ...] = ()) -> None:
    """Size columns to sample texts in the view's own font (PySide2 builds often use larger fonts),
    once, instead of measuring every row on every update as ResizeToContents would."""
    metrics = view.fontMetrics()
    header = view.horizontalHeader()
    model = view.model()
    for column, sample in samples.items():
        title = str(model.headerData(column, Qt.Orientation.Horizontal, int(Qt.ItemDataRole.DisplayRole)))
        # Room for the cell margins, and for the state dot where there is one.
        pad = 30 if column in dotted else 14
        width = max(metrics.horizontalAdvance(sample) + pad, metrics.horizontalAdvance(title) + 14)
        header.resizeSection(column, width)


class ElidedLabel(QtWidgets.QLabel):
    """A one-line label that shortens its text from the left ("…/shot010/shot010_v012.hip") instead of
    widening the panel; the whole text is in the tooltip."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setMinimumWidth(40)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(tooltip(text))
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.width(), 40)
        self.setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideLeft, width))
