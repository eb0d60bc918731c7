"""Small widget helpers shared by the tabs: read-only tables, column sizing, confirmation."""

from __future__ import annotations

from typing import Callable

from farmhand.ui.qt import Qt, QtCore, QtGui, QtWidgets

#: Asks the user to confirm: ``(title, question) -> yes``. Injected so hosts and tests can decide.
Confirm = Callable[[str, str], bool]


def ask(parent: QtWidgets.QWidget) -> Confirm:
    def confirm(title: str, question: str) -> bool:
        answer = QtWidgets.QMessageBox.question(parent, title, question)
        return bool(answer == QtWidgets.QMessageBox.StandardButton.Yes)

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
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(self.width(), 40)
        self.setText(self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideLeft, width))
