"""The preview beside the frame grid: the selected job's last finished frame, or the frame clicked.

Previews are small JPEGs the dispatcher makes in ``FARMHAND_HOME/previews`` (about 256 px on the long
side), so loading one on the UI thread costs well under a millisecond; a picture already on screen is not
loaded again.
"""

from __future__ import annotations

import os
from typing import Optional

from farmhand.frames import format_frame
from farmhand.ui.qt import Qt, QtCore, QtGui, QtWidgets
from farmhand.ui.view.records import FrameStatus, FrameView, JobDetail

#: The picture's box; previews are made at most 256 px on their long side.
BOX = QtCore.QSize(256, 160)


class PreviewPane(QtWidgets.QWidget):
    """A picture and a caption under it ("frame 1012 · last finished", "frame 12: not rendered yet")."""

    def __init__(self, parent: Optional[QtWidgets.QWidget] = None) -> None:
        super().__init__(parent)
        self.picture = QtWidgets.QLabel(self)
        self.picture.setFixedSize(BOX)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setStyleSheet("background: #202226; border: 1px solid #3a3e45;")
        self.caption = QtWidgets.QLabel(self)
        self.caption.setTextFormat(Qt.TextFormat.PlainText)
        self.caption.setWordWrap(True)
        self.caption.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.picture)
        layout.addWidget(self.caption, 1)
        self.setFixedWidth(BOX.width() + 2)
        self._shown: tuple[str, int] = ("", 0)
        self._chosen: Optional[float] = None  # a frame the user clicked; else the last finished one
        self.show_detail(None)

    @property
    def shown_path(self) -> str:
        """The preview on screen ("" when none)."""
        return self._shown[0]

    def choose(self, frame: Optional[float]) -> None:
        """Show ``frame``'s preview from now on (None: follow the last finished frame)."""
        self._chosen = frame

    def show_detail(self, detail: Optional[JobDetail]) -> None:
        """What the selected job's detail says: the chosen frame's preview, else the last finished one."""
        if detail is None:
            self._set("", "No job selected.")
            return
        if self._chosen is not None:
            frame = next((f for f in detail.frames if f.frame == self._chosen), None)
            if frame is not None:
                self._set(frame.preview, _caption(frame))
                return
            self._chosen = None
        if detail.preview is None:
            self._set("", "No preview yet: the first finished frame's appears here.")
            return
        self._set(detail.preview.path, f"frame {format_frame(detail.preview.frame)} · last finished")

    def _set(self, path: str, caption: str) -> None:
        self.caption.setText(caption)
        try:
            stamp = os.stat(path).st_mtime_ns if path else 0
        except OSError:
            path, stamp = "", 0
        if (path, stamp) == self._shown:
            return
        self._shown = (path, stamp)
        pixmap = QtGui.QPixmap(path) if path else QtGui.QPixmap()
        if pixmap.isNull():
            self.picture.clear()
            self.picture.setText("no preview")
            return
        self.picture.setPixmap(pixmap.scaled(BOX, Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation))


def _caption(frame: FrameView) -> str:
    label = f"frame {format_frame(frame.frame)}"
    if frame.preview:
        return label
    if frame.status is FrameStatus.DONE:
        return f"{label}: no preview (its output is not an image this machine can read)"
    return f"{label}: {frame.status.value}, no preview yet"
