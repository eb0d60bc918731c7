"""Item delegates that paint progress bars and state dots straight into table cells.

A bar per cell is painted, not a QProgressBar widget per cell: a 100-node job has 200 bars, and widgets
in cells would each cost a native child, a layout and a style pass on every update.
"""

from __future__ import annotations

from typing import Any, Optional

from farmhand.ui import style
from farmhand.ui.models import ProgressRole, StateColourRole
from farmhand.ui.qt import Qt, QtCore, QtGui, QtWidgets

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
            painter.fillRect(rect, style.colour(_TRACK))
            fill = QtCore.QRect(rect)
            fill.setWidth(round(rect.width() * fraction))
            bar = style.colour(style.GREEN if fraction >= 1.0 else style.BLUE)
            painter.fillRect(fill, bar)
            painter.setPen(style.colour(_TEXT_ON_BAR))
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
        colour: Optional[QtGui.QColor] = index.data(StateColourRole)
        if colour is None:
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
            painter.setBrush(colour)
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
