"""Colours for states and small text formatters shared by the models, delegates and the frame grid.

The colours are mid-tone so they read on Houdini's dark theme and on a light desktop palette alike.
"""

from __future__ import annotations

import math
from typing import Optional

from farmhand.ui.qt import QtGui
from farmhand.ui.records import FrameStatus, JobStatus, NodeStatus

GREY = "#7b828c"
DARK = "#3a3e45"
BLUE = "#3d8bfd"
GREEN = "#3fa34d"
RED = "#d9453b"
ORANGE = "#e8a33d"
YELLOW = "#d6c14a"

FRAME_COLOURS: dict[FrameStatus, str] = {
    FrameStatus.WAITING: "#5a5f66",
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
    JobStatus.RUNNING: BLUE,
    JobStatus.PAUSED: YELLOW,
    JobStatus.DONE: GREEN,
    JobStatus.FAILED: RED,
    JobStatus.CANCELLED: GREY,
}

#: Per-node states inside a job, as the job store names them; unknown names are grey.
JOB_NODE_COLOURS: dict[str, str] = {
    "rendering": BLUE,
    "loading": BLUE,
    "idle": GREEN,
    "done": GREEN,
    "failed": RED,
    "error": RED,
    "blocklisted": RED,
    "unreachable": RED,
    "stalled": ORANGE,
    "retrying": ORANGE,
    "waiting": GREY,
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
