"""Colours for states and small text formatters shared by the models, delegates and the frame grid.

The colours are mid-tone so they read on Houdini's dark theme and on a light desktop palette alike.
"""

from __future__ import annotations

import math
from typing import Optional

from farmhand.ui.qt import QtGui, QtWidgets
from farmhand.ui.view.records import FrameStatus, JobStatus, NodeStatus

GREY = "#7b828c"
DARK = "#3a3e45"
BLUE = "#3d8bfd"
GREEN = "#3fa34d"
RED = "#d9453b"
ORANGE = "#e8a33d"
YELLOW = "#d6c14a"
PURPLE = "#a58ad8"

FRAME_COLOURS: dict[FrameStatus, str] = {
    FrameStatus.WAITING: "#5a5f66",
    FrameStatus.ASSIGNED: "#2f5686",
    FrameStatus.RENDERING: BLUE,
    FrameStatus.DONE: GREEN,
    FrameStatus.FAILED: RED,
    FrameStatus.RETRYING: ORANGE,
    FrameStatus.CANCELLED: DARK,
}

NODE_COLOURS: dict[NodeStatus, str] = {
    NodeStatus.IDLE: GREEN,
    NodeStatus.RENDERING: BLUE,
    NodeStatus.UNREACHABLE: RED,
    NodeStatus.BLOCKLISTED: RED,
    NodeStatus.DISABLED: GREY,
    NodeStatus.UNTRUSTED: ORANGE,
    NodeStatus.UNKNOWN: GREY,
}

JOB_COLOURS: dict[JobStatus, str] = {
    JobStatus.QUEUED: GREY,
    JobStatus.WAITING: PURPLE,  # held for another job: calm, but not "queued" grey
    JobStatus.RUNNING: BLUE,
    JobStatus.PAUSED: YELLOW,
    JobStatus.DONE: GREEN,
    JobStatus.FAILED: RED,
    JobStatus.CANCELLED: GREY,
}

#: Per-node states inside a job (``farmhand.jobs.NodeActivity`` values); unknown names are grey.
JOB_NODE_COLOURS: dict[str, str] = {
    "rendering": BLUE,
    "starting": BLUE,
    "idle": GREEN,
    "busy": GREY,        # another dispatcher's job holds the node
    "blocked": RED,      # blocklisted for this job
    "backoff": ORANGE,   # licence or connection trouble, trying again soon
    "offline": RED,
}

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


def job_colour(status: JobStatus) -> QtGui.QColor:
    return colour(JOB_COLOURS.get(status, GREY))


def job_node_colour(state: str) -> QtGui.QColor:
    return colour(JOB_NODE_COLOURS.get(state.lower(), GREY))


def format_duration(seconds: Optional[float]) -> str:
    """``"45s"``, ``"4m 05s"``, ``"2h 03m"``; an em dash when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def format_frame(frame: Optional[float]) -> str:
    """Frames print as integers when they are whole (``12``), otherwise as given (``12.5``)."""
    if frame is None:
        return ""
    return str(int(frame)) if float(frame).is_integer() else f"{frame:g}"


def format_seconds(seconds: Optional[float]) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.1f}" if seconds < 100 else f"{seconds:.0f}"


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
