"""Table models for the queue, the per-node rows of a job and the node list, and the delegates that paint
their progress bars and state dots.

What each column shows is :mod:`farmhand.ui.view.columns` (Qt-free); a model serves it to Qt, escaping
every text and tooltip here, in one place. Each model holds a tuple of frozen records and is refreshed in
one call with a whole new tuple. When the keys are unchanged (the common case while a job renders) only
changed rows are signalled, so the views keep their selection and scroll position and a 100-row refresh
costs a few hundred microseconds.

A bar per cell is painted, not a QProgressBar widget per cell: a 100-node job has 200 bars, and widgets
in cells would each cost a native child, a layout and a style pass on every update.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Generic, Optional, TypeVar

from farmhand.display import safe_text
from farmhand.ui.qt import Qt, QtCore, QtGui, QtWidgets
from farmhand.ui.view.columns import JOB_COLUMNS, JOB_NODE_COLUMNS, NODE_COLUMNS, Column, column_index
from farmhand.ui.view.records import JobNodeView, JobView, NodeView
from farmhand.ui.view.summaries import BLUE, GREEN, tooltip
from farmhand.ui.widgets import colour

T = TypeVar("T")

#: 0..1 for a bar painted by :class:`ProgressDelegate`; None: no bar.
ProgressRole = int(Qt.ItemDataRole.UserRole) + 1
#: The row's key (job id, host name).
KeyRole = int(Qt.ItemDataRole.UserRole) + 2
#: The row's record itself.
RecordRole = int(Qt.ItemDataRole.UserRole) + 3
#: The state colour (QColor) of the row, for the state column's dot and tests.
StateColourRole = int(Qt.ItemDataRole.UserRole) + 4

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole)
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class RecordTableModel(QtCore.QAbstractTableModel, Generic[T]):
    """A read-only table over a tuple of records, one row per record."""

    def __init__(self, columns: Sequence[Column[T]], key: Callable[[T], str],
                 parent: Optional[QtCore.QObject] = None) -> None:
        super().__init__(parent)
        self._columns = tuple(columns)
        self._key = key
        self._rows: tuple[T, ...] = ()
        self._keys: tuple[str, ...] = ()

    # -- Qt model interface ----------------------------------------------------------------------
    def rowCount(self, parent: Any = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self._rows)

    def columnCount(self, parent: Any = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self._columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == _DISPLAY and 0 <= section < len(self._columns):
            return self._columns[section].title
        return None

    def data(self, index: Any, role: int = _DISPLAY) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        record = self._rows[index.row()]
        column = self._columns[index.column()]
        if role == _DISPLAY:
            return safe_text(column.text(record))
        if role == ProgressRole:
            return column.progress(record) if column.progress else None
        if role == _TOOLTIP:
            return tooltip(column.tooltip(record)) or None if column.tooltip else None
        if role in (_FOREGROUND, StateColourRole):
            name = column.colour(record) if column.colour else ""
            return colour(name) if name else None
        if role == KeyRole:
            return self._keys[index.row()]
        if role == RecordRole:
            return record
        if role == _ALIGN and column.numeric:
            return _RIGHT
        return None

    # -- updates ------------------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[T]) -> None:
        """Replace every row; signal only what changed when the keys are the same."""
        rows = tuple(rows)
        keys = tuple(self._key(row) for row in rows)
        if keys != self._keys:
            self.beginResetModel()
            self._rows, self._keys = rows, keys
            self.endResetModel()
            return
        old = self._rows
        self._rows = rows
        first = last = -1
        for i, (before, after) in enumerate(zip(old, rows)):
            if before != after:
                if first < 0:
                    first = i
                last = i
        if first >= 0:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(self._columns) - 1))

    def records(self) -> tuple[T, ...]:
        return self._rows

    def record(self, row: int) -> Optional[T]:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def column(self, title: str) -> int:
        """The index of the column titled ``title`` (the tabs place delegates and widths by title)."""
        return column_index(self._columns, title)

    def row_of(self, key: str) -> int:
        try:
            return self._keys.index(key)
        except ValueError:
            return -1


def jobs_model(parent: Optional[QtCore.QObject] = None) -> RecordTableModel[JobView]:
    return RecordTableModel(JOB_COLUMNS, lambda j: j.job_id, parent)


def job_nodes_model(parent: Optional[QtCore.QObject] = None) -> RecordTableModel[JobNodeView]:
    return RecordTableModel(JOB_NODE_COLUMNS, lambda n: n.host, parent)


def nodes_model(parent: Optional[QtCore.QObject] = None) -> RecordTableModel[NodeView]:
    return RecordTableModel(NODE_COLUMNS, lambda n: n.host, parent)


# -- delegates ---------------------------------------------------------------------------------------------

_TRACK = "#50555d"
_TEXT_ON_BAR = "#f2f2f2"


class ProgressDelegate(QtWidgets.QStyledItemDelegate):
    """Paints ``ProgressRole`` (0..1) as a bar with the cell's text on top; plain text when None."""

    def paint(self, painter: QtGui.QPainter, option: QtWidgets.QStyleOptionViewItem, index: Any) -> None:
        value = index.data(ProgressRole)
        if value is None:
            super().paint(painter, option, index)
            return
        fraction = min(max(float(value), 0.0), 1.0)
        rect: QtCore.QRect = option.rect.adjusted(2, 3, -2, -3)
        painter.save()
        try:
            if option.state & QtWidgets.QStyle.StateFlag.State_Selected:
                painter.fillRect(option.rect, option.palette.highlight())
            painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, False)
            painter.fillRect(rect, colour(_TRACK))
            fill = QtCore.QRect(rect)
            fill.setWidth(round(rect.width() * fraction))
            bar = colour(GREEN if fraction >= 1.0 else BLUE)
            painter.fillRect(fill, bar)
            painter.setPen(colour(_TEXT_ON_BAR))
            text = str(index.data(int(Qt.ItemDataRole.DisplayRole)) or "")
            painter.drawText(rect.adjusted(4, 0, -4, 0),
                             int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), text)
        finally:
            painter.restore()

    def sizeHint(self, option: QtWidgets.QStyleOptionViewItem, index: Any) -> QtCore.QSize:
        hint = super().sizeHint(option, index)
        return QtCore.QSize(max(hint.width(), 110), hint.height())


class StateDelegate(QtWidgets.QStyledItemDelegate):
    """Paints a coloured dot before the state's name, so a column of states reads at a glance."""

    def paint(self, painter: QtGui.QPainter, option: QtWidgets.QStyleOptionViewItem, index: Any) -> None:
        dot_colour: Optional[QtGui.QColor] = index.data(StateColourRole)
        if dot_colour is None:
            super().paint(painter, option, index)
            return
        rect: QtCore.QRect = option.rect
        selected = bool(option.state & QtWidgets.QStyle.StateFlag.State_Selected)
        painter.save()
        try:
            if selected:
                painter.fillRect(rect, option.palette.highlight())
            painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
            size = 9
            dot = QtCore.QRect(rect.left() + 6, rect.center().y() - size // 2, size, size)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(dot_colour)
            painter.drawEllipse(dot)
            # On a selected row the plain text colour is dim against the highlight.
            role = QtGui.QPalette.ColorRole.HighlightedText if selected else QtGui.QPalette.ColorRole.Text
            painter.setPen(option.palette.color(role))
            text_rect = rect.adjusted(6 + size + 6, 0, -2, 0)
            text = option.fontMetrics.elidedText(str(index.data(int(Qt.ItemDataRole.DisplayRole)) or ""),
                                                 Qt.TextElideMode.ElideRight, text_rect.width())
            painter.drawText(text_rect, int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft), text)
        finally:
            painter.restore()
