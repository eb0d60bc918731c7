"""The frame grid: one small painted square per frame, coloured by state.

One scroll area paints only the rows in view, so a 5 000-frame job is one widget and a repaint touches a
few hundred rectangles at most. Hovering a square names the frame, its node and its error, with its
preview image once it has one; clicking selects it (the Jobs tab shows its log and its preview);
right-click offers actions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Optional

from farmhand.ui.qt import Qt, QtCore, QtGui, QtWidgets, Signal, mouse_pos
from farmhand.ui.view.records import FrameStatus, FrameView
from farmhand.ui.view.summaries import frame_tooltip
from farmhand.ui.widgets import frame_colour

CELL = 12
GAP = 2


class FrameGrid(QtWidgets.QAbstractScrollArea):
    """Squares for frames, wrapped to the width of the view."""

    #: The frame number of a clicked square.
    frameClicked = Signal(float)
    #: A right-click on a square: frame number and global position for a menu.
    frameMenuRequested = Signal(float, QtCore.QPoint)

    def __init__(self, parent: Optional[QtWidgets.QWidget] = None) -> None:
        super().__init__(parent)
        self._frames: tuple[FrameView, ...] = ()
        self._selected = -1
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.viewport().setMouseTracking(True)
        self.setMinimumHeight(3 * (CELL + GAP) + 2 * GAP)
        self.verticalScrollBar().setSingleStep(CELL + GAP)

    # -- data -----------------------------------------------------------------------------------------
    def set_frames(self, frames: Sequence[FrameView]) -> None:
        frames = tuple(frames)
        if frames == self._frames:
            return
        selected = self.selected_frame()
        self._frames = frames
        self._selected = self._index_of(selected) if selected is not None else -1
        self._update_scrollbar()
        self.viewport().update()

    def frames(self) -> tuple[FrameView, ...]:
        return self._frames

    def counts(self) -> Counter[FrameStatus]:
        return Counter(frame.status for frame in self._frames)

    def selected_frame(self) -> Optional[float]:
        return self._frames[self._selected].frame if 0 <= self._selected < len(self._frames) else None

    def select_frame(self, frame: Optional[float]) -> None:
        self._selected = self._index_of(frame) if frame is not None else -1
        self.viewport().update()

    def _index_of(self, frame: float) -> int:
        for i, item in enumerate(self._frames):
            if item.frame == frame:
                return i
        return -1

    # -- geometry ---------------------------------------------------------------------------------------
    def columns(self) -> int:
        return max(1, (self.viewport().width() - GAP) // (CELL + GAP))

    def _rows(self) -> int:
        return (len(self._frames) + self.columns() - 1) // self.columns()

    def _update_scrollbar(self) -> None:
        content = self._rows() * (CELL + GAP) + GAP
        bar = self.verticalScrollBar()
        bar.setPageStep(self.viewport().height())
        bar.setRange(0, max(0, content - self.viewport().height()))

    def index_at(self, pos: QtCore.QPoint) -> int:
        """The frame index under a viewport position, or -1."""
        x, y = pos.x() - GAP, pos.y() + self.verticalScrollBar().value() - GAP
        if x < 0 or y < 0:
            return -1
        col, row = x // (CELL + GAP), y // (CELL + GAP)
        if col >= self.columns() or x % (CELL + GAP) >= CELL or y % (CELL + GAP) >= CELL:
            return -1
        index = row * self.columns() + col
        return index if index < len(self._frames) else -1

    def cell_rect(self, index: int) -> QtCore.QRect:
        """Where frame ``index`` is painted, in viewport coordinates."""
        row, col = divmod(index, self.columns())
        top = GAP + row * (CELL + GAP) - self.verticalScrollBar().value()
        return QtCore.QRect(GAP + col * (CELL + GAP), top, CELL, CELL)

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(400, 6 * (CELL + GAP) + GAP)

    # -- events ---------------------------------------------------------------------------------------
    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._update_scrollbar()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        painter = QtGui.QPainter(self.viewport())
        try:
            columns = self.columns()
            offset = self.verticalScrollBar().value()
            first_row = max(0, (offset - GAP) // (CELL + GAP))
            last_row = (offset + self.viewport().height()) // (CELL + GAP) + 1
            stop = min(len(self._frames), (last_row + 1) * columns)
            for index in range(first_row * columns, stop):
                painter.fillRect(self.cell_rect(index), frame_colour(self._frames[index].status))
            if 0 <= self._selected < stop:
                painter.setPen(QtGui.QPen(self.palette().color(QtGui.QPalette.ColorRole.Text), 2))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRect(self.cell_rect(self._selected).adjusted(-1, -1, 1, 1))
        finally:
            painter.end()

    def viewportEvent(self, event: QtCore.QEvent) -> bool:
        if event.type() == QtCore.QEvent.Type.ToolTip:
            help_event: QtGui.QHelpEvent = event  # type: ignore[assignment]
            index = self.index_at(help_event.pos())
            if index >= 0:
                text = frame_tooltip(self._frames[index])
                QtWidgets.QToolTip.showText(help_event.globalPos(), text, self)
            else:
                QtWidgets.QToolTip.hideText()
            return True
        return super().viewportEvent(event)

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        pos = mouse_pos(event)
        index = self.index_at(pos)
        if index < 0:
            return
        self._selected = index
        self.viewport().update()
        frame = self._frames[index].frame
        if event.button() == Qt.MouseButton.RightButton:
            self.frameMenuRequested.emit(frame, self.viewport().mapToGlobal(pos))
        else:
            self.frameClicked.emit(frame)
