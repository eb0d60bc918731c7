"""What each record looks like on screen, without Qt: state colours, the lines and summaries under the
tables, the frame grid's hover text and legend, and tooltips that can never turn into markup.

Every string from the farm (job and node names, messages, renderer errors) passes through
:func:`farmhand.display.safe_text` here, and through :func:`html.escape` where the text is rich; labels
that show plain text are set to ``Qt.PlainText`` by the widgets.
"""

from __future__ import annotations

import html
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Optional

from farmhand.display import format_duration, safe_text
from farmhand.frames import format_frame
from farmhand.jobs import JobState, NodeActivity
from farmhand.ui.view.records import FrameStatus, FrameView, JobDetail, JobView, NodeStatus, NodeView
from farmhand.ui.view.team import lease_words
from farmhand.ui.view.words import count_words

# Mid-tone colours, so they read on Houdini's dark theme and on a light desktop palette alike.
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

JOB_COLOURS: dict[JobState, str] = {
    JobState.QUEUED: GREY,
    JobState.WAITING: PURPLE,  # held for another job: calm, but not "queued" grey
    JobState.RUNNING: BLUE,
    JobState.PAUSED: YELLOW,
    JobState.DONE: GREEN,
    JobState.FAILED: RED,
    JobState.CANCELLED: GREY,
}

#: What one node is doing for the selected job.
ACTIVITY_COLOURS: dict[NodeActivity, str] = {
    NodeActivity.RENDERING: BLUE,
    NodeActivity.STARTING: BLUE,
    NodeActivity.IDLE: GREEN,
    NodeActivity.BUSY: GREY,  # another dispatcher's job holds the node
    NodeActivity.BLOCKED: RED,  # blocklisted for this job
    NodeActivity.BACKOFF: ORANGE,  # licence or connection trouble, trying again soon
    NodeActivity.OFFLINE: RED,
}


def tooltip(text: Optional[str]) -> str:
    """``text`` as a tooltip Qt shows literally. Qt renders a tooltip as rich text whenever it looks like
    markup (``<b>``, ``<img src=…>``, even ``&lt;``), so every tooltip is given as rich text on purpose,
    escaped, with its line breaks and spaces kept; empty text gives no tooltip."""
    if not text:
        return ""
    return f'<p style="white-space:pre-wrap">{html.escape(safe_text(text, multiline=True))}</p>'


def seconds_text(seconds: Optional[float]) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.1f}" if seconds < 100 else f"{seconds:.0f}"


def job_progress_text(job: JobView) -> str:
    """``"40/100  40%  (2 failed)"``, the queue's Progress column."""
    text = f"{job.frames_done}/{job.frames_total}  {100.0 * job.progress:.0f}%"
    return text + (f"  ({job.frames_failed} failed)" if job.frames_failed else "")


def summary_html(job: JobView) -> str:
    """The rich line above the selected job's nodes: name, state, progress, problems, ETA."""
    colour = JOB_COLOURS.get(job.status, GREY)
    parts = [
        f"<b>{html.escape(safe_text(job.name))}</b>",
        f'<span style="color:{colour}">{job.status.value}</span>',
        f"{job.frames_done}/{job.frames_total} frames ({100 * job.progress:.0f}%)",
    ]
    if job.frames_rendering:
        parts.append(f"{job.frames_rendering} rendering now")
    if job.frames_failed:
        parts.append(f'<span style="color:{RED}">{job.frames_failed} failed</span>')
    if job.status is JobState.WAITING:
        parts.append(html.escape(safe_text(job.note)))
    elif not job.status.finished:
        parts.append(f"ETA {format_duration(job.eta_seconds)}")
    text = " — ".join(parts)
    if job.message:
        text += f'<br><span style="color:{RED}">{html.escape(safe_text(job.message))}</span>'
    return text


def revival_words(job: Optional[JobView], detail: Optional[JobDetail], frame: float) -> str:
    """What requeueing ``frame`` of a finished job also sets going, in words ("" when nothing): the job
    runs again, and its unfinished frames with it (a cancelled job's waiting frames)."""
    if job is None or not job.status.finished or detail is None or detail.job.job_id != job.job_id:
        return ""
    others = [f for f in detail.frames if f.frame != frame and f.status in (FrameStatus.WAITING,
                                                                          FrameStatus.RETRYING)]
    if not others:
        return ""
    return (f"{job.name} is {job.status.value}: requeueing a frame makes it run again, and its "
            f"{len(others)} other unfinished frames render too.")


def ended_words(job: JobView) -> str:
    """The status line when a job ends: ``job 7 shot010 done: 240/240 frames`` (plain text)."""
    text = f"job {job.job_id} {job.name} {job.status.value}: {job.frames_done}/{job.frames_total} frames"
    if job.frames_failed:
        text += f", {job.frames_failed} failed"
    if job.message and job.status is not JobState.DONE:
        text += f" ({job.message})"
    return text


def frame_tooltip(frame: FrameView, width: int = 256) -> str:
    """The grid's hover for a square: the frame's preview (once it has one) above its description. The
    picture is Farmhand's own file in ``FARMHAND_HOME``, named by a ``file:`` URL; the text is escaped
    like every tooltip."""
    text = tooltip(describe_frame(frame))
    if not frame.preview:
        return text
    url = html.escape(Path(frame.preview).as_uri(), quote=True)
    return f'<img src="{url}" width="{width}"><br>{text}'


def describe_frame(frame: FrameView) -> str:
    """What hovering a square of the frame grid says (plain text: give it to :func:`tooltip`)."""
    parts = [f"frame {format_frame(frame.frame)}: {frame.status.value}"]
    if frame.host:
        parts.append(f"on {safe_text(frame.host)}")
    if frame.seconds is not None:
        parts.append(f"{seconds_text(frame.seconds)} s")
    if frame.attempts > 1:
        parts.append(f"attempt {frame.attempts}")
    text = ", ".join(parts)
    return f"{text}\n{safe_text(frame.error)}" if frame.error else text


def legend_html(counts: Counter[FrameStatus]) -> str:
    """``■ done 120  ■ rendering 4 …`` in each state's colour, for a rich label under the grid."""
    parts = []
    for status in FrameStatus:
        count = counts.get(status, 0)
        if count or status in (FrameStatus.WAITING, FrameStatus.RENDERING, FrameStatus.DONE):
            parts.append(f'<span style="color:{FRAME_COLOURS[status]}">&#9632;</span>&nbsp;{status.value}'
                         f"&nbsp;{count}")
    return "&nbsp;&nbsp;&nbsp;".join(parts)


def node_counts(nodes: Iterable[NodeView]) -> str:
    """``"7 nodes: 2 rendering, 1 idle, …"``, the line under the node table."""
    counts: dict[NodeStatus, int] = {}
    for node in nodes:
        counts[node.status] = counts.get(node.status, 0) + 1
    summary = ", ".join(f"{count} {status.value}" for status, count in counts.items())
    return count_words(sum(counts.values()), "node") + (f": {summary}" if summary else "")


def node_state_words(node: NodeView) -> str:
    """The State column's tooltip: why the node is in that state, and what to press."""
    note = safe_text(node.note) or node.status.value
    if node.status is NodeStatus.UNTRUSTED and "Trust" not in note:
        return f"{note} (press Trust…)"
    return note


def _inventory_parts(node: NodeView) -> list[str]:
    """What the node's last probe found, for :func:`node_details`."""
    parts = [node.os] if node.os else []
    # Also here because a narrow pane scrolls those columns out of view.
    if node.gpus:
        parts.append(", ".join(node.gpus))
    if node.houdini:
        parts.append("Houdini " + ", ".join(node.houdini))
    if node.macs:
        parts.append(("MACs " if len(node.macs) > 1 else "MAC ") + ", ".join(node.macs))
    elif node.probed_at is not None:
        parts.append("no MAC address (Wake cannot reach it)")
    if node.share_free_gb is not None:
        parts.append(f"share {node.share_free_gb:.0f} GB free")
    parts.append(time.strftime("probed %H:%M:%S", time.localtime(node.probed_at)) if node.probed_at
                 else "not probed yet")
    return parts


def node_details(node: NodeView) -> str:
    """One node in full, for the plain line under the table:
    ``render02 · 10.0.0.12 · Debian GNU/Linux 12 x86_64 · MAC 52:54:00:12:34:56 · share 812 GB free ·
    probed 11:41:30`` and, on its own line, what it renders or why it cannot."""
    if not node.registered:
        return f"{safe_text(node.name)} · leased by {safe_text(lease_words(node))}\n{safe_text(node.note)}"
    parts = [node.name]
    if node.address and node.address != node.name:
        parts.append(node.address)
    parts.extend(_inventory_parts(node))
    if not node.trusted:
        parts.append("host key not trusted yet")
    if node.leased_by:
        parts.append(f"leased by {lease_words(node)}")
    text = safe_text(" · ".join(parts))
    if node.rendering_for:
        text += f"\nrendering for {safe_text(node.rendering_for)}"
    elif node.note:
        text += f"\n{safe_text(node.note)}"
    return text
