"""Running one command on one channel: a single reader loop for stdout and stderr, and the watchdog.

The loop drains both streams as data arrives (never one stream to EOF first, never ``recv_exit_status``
before EOF: both deadlock once output exceeds the 2 MiB channel window) and waits on the channel's pipe
with a bounded timeout, because the exit-status message does not reliably wake ``select``.
"""

from __future__ import annotations

import codecs
import re
import select
import threading
import time
from typing import Callable, Optional

import paramiko

from farmhand.remote import OnLine, RunResult

_LINE_END = re.compile(r"\r\n|\r|\n")
PGID_MARK = "FARMHAND_PGID="

#: Runs "$@" in its own process group with stdin passed through a FIFO. When the channel's stdin reaches
#: EOF (the client closed it, or the connection died) the whole group gets SIGTERM. Exit code propagates.
#: The FIFO (rather than the reference's plain watcher) lets a command that reads stdin (the hython
#: worker) still receive what the client writes. The first stderr line announces the process group.
#: macOS has no setsid(1); perl's POSIX::setsid does the same there. ``exec`` keeps $! the group leader.
WATCHDOG = (
    'g() { if command -v setsid >/dev/null 2>&1; then exec setsid "$@"; fi; '
    'exec perl -MPOSIX=setsid -e "setsid(); exec @ARGV or exit 127" "$@"; }; '
    'exec 3<&0; d=$(mktemp -d "${TMPDIR:-/tmp}/farmhand.XXXXXX") || exit 125; '
    'mkfifo -m 600 "$d/in" || exit 125; '
    'g "$@" <"$d/in" 3<&- & c=$!; '
    "printf '" + PGID_MARK + "%s\\n' \"$c\" >&2; "
    '(cat <&3 >"$d/in"; kill -TERM -"$c") >/dev/null 2>&1 & w=$!; '
    'exec 3<&-; wait "$c"; rc=$?; kill "$w" 2>/dev/null; rm -rf "$d"; exit "$rc"'
)


class LineSplitter:
    """Bytes in, complete lines out (``\\n``, ``\\r\\n`` or ``\\r`` end a line); keeps a text copy."""

    def __init__(self, stream: str, on_line: Optional[OnLine], keep: Optional[int]) -> None:
        self.stream = stream
        self.on_line = on_line
        self.keep = keep
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: list[str] = []
        self._text: list[str] = []
        self._size = 0
        self.filter: Optional[Callable[[str], bool]] = None

    def feed(self, data: bytes, final: bool = False) -> None:
        text = self._decoder.decode(data, final)
        if not text and not final:
            return
        self._text.append(text)
        self._size += len(text)
        if self.keep is not None and self._size > 2 * self.keep:
            joined = "".join(self._text)[-self.keep:]
            self._text, self._size = [joined], len(joined)
        held_cr = bool(self._pending) and self._pending[-1].endswith("\r")
        if not final and not held_cr and "\n" not in text and "\r" not in text:
            # No line end in this chunk: just remember it (a 10 MB line must not cost O(n^2)).
            self._pending.append(text)
            return
        # Invariant: pending text holds no line end, except a trailing "\r" that may be the first half
        # of a "\r\n" split across chunks. So only the new text needs searching, never the backlog.
        head = "".join(self._pending)
        if head.endswith("\r"):
            head, text = head[:-1], "\r" + text
        hold = ""
        if not final and text.endswith("\r"):
            text, hold = text[:-1], "\r"
        parts = _LINE_END.split(text)
        parts[0] = head + parts[0]
        rest = parts.pop() + hold
        self._pending = [rest] if rest else []
        for line in parts:
            self._emit(line)
        if final and rest:
            self._emit(rest)
            self._pending = []

    def _emit(self, line: str) -> None:
        if self.filter is not None and self.filter(line):
            return
        if self.on_line is not None:
            self.on_line(self.stream, line)

    def text(self) -> str:
        return "".join(self._text)


class _Limit:
    """When a pump must give up: a ``deadline`` (monotonic seconds) or a ``stop`` event, either optional."""

    def __init__(self, deadline: Optional[float], stop: Optional[threading.Event]) -> None:
        self.deadline = deadline
        self.stop = stop

    def reached(self) -> bool:
        if self.stop is not None and self.stop.is_set():
            return True
        return self.deadline is not None and time.monotonic() >= self.deadline

    def wait(self) -> float:
        """How long one wait may last (bounded: the exit status does not reliably wake ``select``)."""
        if self.deadline is None:
            return 0.2
        return max(0.0, min(0.2, self.deadline - time.monotonic()))


def pump(
    chan: paramiko.Channel,
    out: LineSplitter,
    err: LineSplitter,
    *,
    deadline: Optional[float] = None,
    stop: Optional[threading.Event] = None,
) -> bool:
    """Drain ``chan`` until EOF and the exit status; False if ``deadline``/``stop`` came first."""
    limit = _Limit(deadline, stop)
    if not _drain_to_eof(chan, out, err, limit):
        return False
    out.feed(b"", final=True)
    err.feed(b"", final=True)
    return _await_exit_status(chan, limit)


def _drain(chan: paramiko.Channel, out: LineSplitter, err: LineSplitter) -> bool:
    """Feed whatever both streams hold now; True if there was anything."""
    progressed = False
    while chan.recv_ready():
        out.feed(chan.recv(65536))
        progressed = True
    while chan.recv_stderr_ready():
        err.feed(chan.recv_stderr(65536))
        progressed = True
    return progressed


def _drain_to_eof(chan: paramiko.Channel, out: LineSplitter, err: LineSplitter, limit: _Limit) -> bool:
    """Read both streams as data arrives until the channel ends; False if ``limit`` came first."""
    fd = chan.fileno()
    while True:
        progressed = _drain(chan, out, err)
        if (chan.eof_received or chan.closed) and not chan.recv_ready() and not chan.recv_stderr_ready():
            return True
        if limit.reached():
            return False
        if not progressed and not _wait_readable(chan, fd, limit.wait()):
            return True


def _wait_readable(chan: paramiko.Channel, fd: int, wait: float) -> bool:
    """Wait for data on the channel's pipe; False when the channel is gone."""
    try:
        select.select([fd], [], [], wait)
    except (OSError, ValueError):
        # Another thread closed the channel (a kill) between the checks and this wait; its descriptor
        # is gone. That is an end, not a failure. Channel.close() drops the descriptor before it marks
        # the channel closed, both under the channel's lock: wait for it to finish before looking.
        with chan.lock:
            gone = chan.closed or not chan.active
        if not gone:
            raise
        return False
    return True


def _await_exit_status(chan: paramiko.Channel, limit: _Limit) -> bool:
    """After EOF the exit status follows promptly, unless the connection died; False on ``limit``."""
    while not chan.exit_status_ready():
        transport = chan.get_transport()
        if chan.closed or transport is None or not transport.is_active():
            return True
        if limit.reached():
            return False
        chan.status_event.wait(0.2)
    return True


def result(host: str, command: str, chan: paramiko.Channel, out: LineSplitter, err: LineSplitter,
           started: float) -> RunResult:
    code: Optional[int] = None
    signal: Optional[str] = None
    if chan.exit_status_ready():
        code = chan.recv_exit_status()
        if code == -1:
            code = None
            signal = getattr(chan, "exit_signal", None) or "unknown"
    return RunResult(host, command, code, out.text(), err.text(), time.monotonic() - started, signal)
