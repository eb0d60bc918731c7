"""The text of ``farmhand status`` and its live form (``status -f``, ``submit --wait``, the demo).

On a terminal the status is redrawn in place as the job changes; anywhere else (a pipe, a log file, CI)
one plain line is written per change. Every name and message comes from the store or a node, so each
passes through :func:`farmhand.display.safe_text` before it is drawn.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from typing import Optional, TextIO

from farmhand.cli.farm import job_farm_line
from farmhand.client import Client
from farmhand.display import format_duration, safe_text
from farmhand.frames import format_frame
from farmhand.jobs import FrameState, JobSnapshot, JobState, JobSummary, NodeActivity, NodeRow

#: Columns used when the terminal does not say (a pipe, or a terminal reporting 0 columns).
DEFAULT_WIDTH = 100
#: Longest wait, after a job ended, for its last chunks to be stopped.
SETTLE_SECONDS = 5.0
#: Frame states whose errors ``status`` lists under the bars.
_TROUBLED = (FrameState.FAILED, FrameState.RETRYING)


def terminal_width(stream: TextIO) -> int:
    """Columns to draw in: ``$COLUMNS`` when set, else the terminal's own width, less one so no line
    ever wraps (a wrapped line would throw off the cursor-up count of the live redraw).

    A terminal that reports 0 columns (some serial consoles and containers do) gets
    :data:`DEFAULT_WIDTH`, not a cut to nothing.
    """
    columns = shutil.get_terminal_size((0, 0)).columns  # honours $COLUMNS, then stdout's terminal
    if columns <= 0:
        try:
            columns = os.get_terminal_size(stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            columns = 0
    return columns - 1 if columns > 1 else DEFAULT_WIDTH


def _bar(fraction: float, width: int) -> str:
    fraction = max(0.0, min(1.0, fraction))
    full = int(fraction * width)
    return "█" * full + "░" * (width - full)


def summary_line(s: JobSummary) -> str:
    """``job 7 shot010 /out/mantra1: running  4/10 done, 1 failed, 2 assigned, ETA 1m15s``."""
    waiting = s.state is JobState.WAITING and s.after
    return (
        f"job {s.id} {safe_text(s.title)}: {s.state.value}"
        + (f" (for job {', '.join(s.after)} to finish)" if waiting else "")
        + (f" ({safe_text(s.hold)})" if s.hold and not s.state.finished else "")
        + f"  {s.frames_done}/{s.frames_total} done"
        + (f", {s.frames_failed} failed" if s.frames_failed else "")
        # frames handed out in chunks, not frames rendering at this instant (one per node)
        + (f", {s.frames_rendering} assigned" if s.frames_rendering else "")
        + (f", ETA {format_duration(s.eta_seconds)}" if s.eta_seconds is not None and not s.state.finished
           else "")
    )


def _node_line(row: NodeRow, width: int) -> str:
    spf = "-" if row.seconds_per_frame is None else f"{row.seconds_per_frame:.1f}s"
    detail = f"{row.frames_done:>4} done  {spf}/frame  ETA {format_duration(row.eta_seconds)}"
    node = safe_text(row.node)
    if row.state is NodeActivity.RENDERING:
        frame = "" if row.current_frame is None else f"frame {format_frame(row.current_frame)}"
        pct = row.frame_percent if row.frame_percent is not None else 0.0
        head, tail = f"  {node:<14} {frame:<12} [", f"] {pct:5.1f}%  {detail}"
        return head + _bar(pct / 100, max(5, width - len(head) - len(tail))) + tail
    head = f"  {node:<14} {row.state.value:<12} "
    room = max(0, width - len(head) - len(detail) - 2)
    return head + safe_text(row.message)[:room].ljust(room) + "  " + detail


def render_status(snap: JobSnapshot, width: int = DEFAULT_WIDTH, clip: bool = False) -> str:
    """The text of ``farmhand status``: a job line, a bar per node, then failures. Bars fit ``width``;
    with ``clip`` (the live redraw) longer lines are cut too, else messages are shown whole."""
    s = snap.summary
    lines = [summary_line(s), f"  [{_bar(s.percent / 100, max(5, width - 12))}] {s.percent:5.1f}%"]
    if s.error:
        lines.append(f"  error: {safe_text(s.error)}")
    farm = job_farm_line(snap.spec)
    lines.extend([f"  {farm}"] if farm else [])
    lines.extend(_node_line(row, width) for row in snap.nodes)
    failed = [f for f in snap.frames if f.error_message and f.state in _TROUBLED]
    for f in failed[:5]:
        lines.append(
            f"  frame {format_frame(f.frame)} {f.state.value} ({f.attempts} attempts): "
            f"{safe_text(f.error_kind)}: {safe_text(f.error_message)}"
        )
    return "\n".join(line[:width] if clip else line for line in lines)


def follow(
    client: Client, job_id: str, quiet: bool = False, keep_alive: bool = False, detached: bool = True
) -> JobSnapshot:
    """Redraw the job's status as it changes (ANSI in a terminal, a line per change otherwise) until it
    ends. The dispatcher is (re)started whenever it is not running (``keep_alive`` or an autostarting
    client), so a follower never waits on a dead one. Ctrl-C ends only the following when the job runs
    on its own (``detached``), and says so."""
    try:
        return _follow_loop(client, job_id, quiet, keep_alive)
    except KeyboardInterrupt:
        if not detached:  # the caller owns the dispatcher (farmhand demo): the job stops with it
            raise
        # Ctrl-C stops the follower, not the job: say so, or the user thinks the render stopped.
        print(f"\nfarmhand: stopped following; job {job_id} keeps rendering ('farmhand status {job_id} -f' "
              f"to follow it again, 'farmhand cancel {job_id}' to stop it)", file=sys.stderr)
        raise SystemExit(130) from None


class _Screen:
    """Where the follower draws: in place on a terminal, a line per change elsewhere, or nothing."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty() and not quiet
        self.drawn = 0
        self.last_line = ""

    def show(self, snap: JobSnapshot) -> None:
        if self.tty:
            text = render_status(snap, terminal_width(sys.stderr), clip=True)
            if self.drawn:
                sys.stderr.write(f"\x1b[{self.drawn}F\x1b[J")
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
            self.drawn = text.count("\n") + 1
        elif not self.quiet:
            line = summary_line(snap.summary)
            if line != self.last_line:
                print(line, file=sys.stderr, flush=True)
                self.last_line = line


def _follow_loop(client: Client, job_id: str, quiet: bool, keep_alive: bool) -> JobSnapshot:
    screen = _Screen(quiet)
    version = 0
    settle_until: Optional[float] = None
    while True:
        snap = client.watch(job_id, version, timeout=1.0)
        version = snap.version
        screen.show(snap)
        if snap.state.finished:
            # A failed or cancelled job's last chunks are still being stopped: wait briefly for them,
            # so the final status (and --json) shows where every frame ended, not "rendering".
            if not snap.summary.frames_rendering or not client.dispatcher().running:
                return snap
            settle_until = settle_until or time.monotonic() + SETTLE_SECONDS
            if time.monotonic() >= settle_until:
                return snap
            continue
        if (keep_alive or client.autostart) and not client.dispatcher().running:
            client.ensure_dispatcher()
