"""One remote render process (a chunk, or a persistent hython worker) as the dispatcher tracks it.

The SSH layer calls :meth:`Task.on_line` from its reader thread; lines are only queued there (and the
dispatcher woken). The dispatcher's step takes them on its own thread in two halves: :meth:`Task.read`
cleans and parses them with the preset's :class:`LineParser` outside any store transaction, then the
outcomes apply the parsed events, so all decisions happen in one place and in order. Starting the
process and killing it are blocking SSH calls; they run on the dispatcher's helper pool and their
outcome is picked up by a later step (:attr:`Task.launch` / :attr:`Task.kill_future`).

Each task has a random ``nonce``, written as the first line of the process's stdin (never on its
command line or in its environment, so the render cannot read it): the chunk wrapper's own lines carry
it, and only lines that carry it, printed before the render started, are read as the wrapper's
(:mod:`farmhand.engine.nodescripts`). Anything else is the render's output: data, never control.
"""

from __future__ import annotations

import collections
import enum
import logging
import os
import secrets
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable, Optional

from farmhand.engine import nodescripts
from farmhand.engine.nodescripts import Control
from farmhand.frames import Frame
from farmhand.jobs import ChunkState
from farmhand.presets import lines as line_text
from farmhand.presets.progress import Event, LineParser
from farmhand.remote import Executor, RemoteProcess, RunResult

log = logging.getLogger(__name__)
remote_log = logging.getLogger("farmhand.remote_output")

TAIL_LINES = 40
#: Lines queued by the reader thread beyond which the oldest are dropped (a node printing faster than
#: the dispatcher reads must not fill its memory); what was dropped is counted and logged.
MAX_QUEUED_LINES = 20_000
#: Lines parsed in one step per task; the rest wait for the next step, so one chatty node cannot hold
#: up the others.
LINES_PER_STEP = 2_000


class TaskPhase(str, enum.Enum):
    LAUNCHING = "launching"
    RUNNING = "running"
    STOPPING = "stopping"  # a kill was sent; waiting for the process to end
    ENDED = "ended"


class StopCause(str, enum.Enum):
    """Why the dispatcher stopped a task; decides how its end is read (see the outcomes)."""

    USER = "user"  # cancelled by the user
    STALLED = "stalled"  # no output and no progress for too long: a failure of the frame
    BACKUP_RACE = "backup_race"  # another copy of its frames finished first
    RESPLIT = "resplit"  # every frame it had left went to another node
    JOB_ENDED = "job_ended"  # its job failed or lost a dependency
    SHUTDOWN = "shutdown"  # the dispatcher is stopping
    INTERNAL = "internal"  # handling it raised an unexpected error (see farmhand.engine.faults)
    PREEMPTED = "preempted"  # its node went to a user below their fair share (a wrangler allowed it)


Submit = Callable[..., "Future[object]"]


@dataclass
class Pending:
    """A frame the task will render (chunk) or has been sent (worker)."""

    idx: int
    frame: Frame


@dataclass(frozen=True)
class Parsed:
    """One output line as :meth:`Task.read` left it for the outcomes: cleaned, and either the wrapper's
    authenticated control line or the render's line with the events the parser found in it."""

    stream: str
    text: str
    control: Optional[Control] = None
    events: tuple[Event, ...] = ()


class Task:
    """A running chunk on one node.

    Attributes:
        frames: frame indexes in render order (the job's frame records).
        stolen: indexes a tail re-split moved to another node; reaching one stops this task.
        persistent: a hython-worker session fed one frame at a time through stdin.
    """

    def __init__(
        self,
        chunk_id: int,
        job_id: str,
        node: str,
        frames: Sequence[tuple[int, Frame]],
        now: float,
        parser: LineParser,
        *,
        persistent: bool = False,
        backup_of: Optional[int] = None,
    ) -> None:
        self.chunk_id = chunk_id
        self.job_id = job_id
        self.node = node
        self.order: list[int] = [i for i, _ in frames]
        self.frame_of: dict[int, Frame] = dict(frames)
        self.idx_of: dict[Frame, int] = {f: i for i, f in frames}
        self.parser = parser
        self.persistent = persistent
        self.backup_of = backup_of
        self.phase = TaskPhase.LAUNCHING
        self.chunk_state = ChunkState.STARTING  # as the store has it (moved through engine.transitions)
        self.started = now
        self.first_frame_at: Optional[float] = None
        self.last_activity = now
        self.current: Optional[int] = None
        self.current_started: Optional[float] = None
        self.percent: Optional[float] = None
        self.done: list[int] = []
        self.stolen: set[int] = set()
        self.sent: list[int] = []  # worker: frames written to stdin, not yet finished
        self.ready = not persistent  # worker: scene loaded
        self.pgid: Optional[int] = None
        self.busy = False
        self.proc: Optional[RemoteProcess] = None
        self.launch: Optional[Future[object]] = None
        self.kill_future: Optional[Future[object]] = None
        self.kill_cause: Optional[StopCause] = None
        self.kill_reason: Optional[str] = None
        self.kill_pending = False
        self.kill_sent_at: Optional[float] = None
        self.result: Optional[RunResult] = None
        self.lines: collections.deque[tuple[str, str]] = collections.deque()
        self.dropped = 0  # lines the reader thread dropped because the queue was full
        self.dropped_reported = 0
        self.parsed: list[Parsed] = []
        self.read_error: Optional[Exception] = None  # the parser raised on the last line read
        self.nonce = secrets.token_hex(16)
        self.render_started = False  # the wrapper announced the render: no control line after this
        self.missing: Optional[str] = None  # the folder the wrapper reported missing
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.log_buffer: list[tuple[float, Optional[Frame], str, str]] = []
        self.closing = False
        self.wake: Optional[threading.Event] = None

    # --- called from the SSH reader thread ----------------------------------------------------------

    def on_line(self, stream: str, line: str) -> None:
        if len(self.lines) >= MAX_QUEUED_LINES:
            self.lines.popleft()
            self.dropped += 1
        self.lines.append((stream, line))
        if self.wake is not None:
            self.wake.set()

    # --- called by the dispatcher, outside any store transaction --------------------------------------

    def read(self, parse: bool = True) -> None:
        """Clean and parse the queued lines (at most :data:`LINES_PER_STEP`) into :attr:`parsed`.

        Only a line that carries this task's nonce, on stdout, before the wrapper announced the render,
        is the wrapper's control line; every other line is the render's and goes through the parser
        (unless ``parse`` is False: the task's job is gone and only its end matters). If the parser raises
        on a line, reading stops there and the error is kept in :attr:`read_error`, so the lines before
        it are still applied (the outcomes then raise it, see :mod:`farmhand.engine.faults`).
        """
        for _ in range(min(len(self.lines), LINES_PER_STEP)):
            if self.read_error is not None:
                return
            stream, raw = self.lines.popleft()
            text = line_text.clean_line(raw)
            control = None
            if stream == "out" and not self.render_started:
                control = nodescripts.parse_control(text, self.nonce)
            if control is not None:
                self.render_started = self.render_started or control.word == nodescripts.PGID_WORD
                self.parsed.append(Parsed(stream, text, control))
                continue
            try:
                events = tuple(self.parser.feed(stream, text)) if parse else ()
            except Exception as exc:
                self.read_error = exc
                events = ()
            self.parsed.append(Parsed(stream, text, None, events))

    @property
    def draining(self) -> bool:
        """Every frame of this chunk is done; the process is only exiting."""
        return not self.persistent and self.phase is TaskPhase.RUNNING and not self.pending() \
            and self.current is None and bool(self.done)

    # --- called by the dispatcher ---------------------------------------------------------------------

    @property
    def frames(self) -> list[int]:
        return [i for i in self.order if i not in self.stolen]

    def pending(self) -> list[int]:
        """Frames not started yet (and not taken by a re-split)."""
        started = set(self.done)
        if self.current is not None:
            started.add(self.current)
        return [i for i in self.frames if i not in started]

    def start(self, executor: Executor, submit: Submit, argv: Sequence[str], require: str = "") -> None:
        """Start the wrapped render on the helper pool; its first stdin line is the nonce."""
        wrapped = nodescripts.chunk_argv(self.job_id, self.chunk_id, argv, require)
        log.debug("chunk %s on %s: %s", self.chunk_id, self.node, wrapped)
        node, nonce, on_line = self.node, self.nonce, self.on_line

        def launch() -> RemoteProcess:
            proc = executor.start(node, wrapped, on_line=on_line, watchdog=True)
            try:
                proc.write(nonce + "\n")
            except BaseException:
                proc.close()
                raise
            return proc

        self.launch = submit(launch)

    def abandon(self) -> None:
        """Drop the process without waiting for its end: its channel is closed now, or as soon as the
        launch finishes (the watchdog on the node then ends the process tree)."""
        if self.proc is not None:
            self.proc.close()
        elif self.launch is not None:
            self.launch.add_done_callback(_close_launched)

    def kill(
        self, executor: Executor, submit: Submit, cause: StopCause, reason: str, now: float, grace: float
    ) -> None:
        """Stop the remote tree: TERM then KILL on the recorded group over a fresh channel, then drop
        the channel (the watchdog on the node kills the group too if the kill could not be sent).
        The first cause and reason given stay."""
        if self.kill_reason is not None and not self.kill_pending:
            return
        self.kill_cause = self.kill_cause or cause
        self.kill_reason = self.kill_reason or reason
        self.kill_sent_at = now
        self.phase = TaskPhase.STOPPING
        if self.proc is None:
            # Still connecting: the kill is sent once the process exists (see Outcomes.pump).
            self.kill_pending = True
            return
        self.kill_pending = False
        proc, pgid = self.proc, self.pgid

        def stop() -> object:
            try:
                if pgid is not None:
                    executor.run(self.node, nodescripts.kill_argv(pgid, grace), timeout=grace + 5.0)
            finally:
                if proc is not None:
                    proc.close()
            return None

        self.kill_future = submit(stop)

    def write(self, text: str) -> bool:
        if self.proc is None:
            return False
        try:
            self.proc.write(text)
        except Exception as exc:  # the channel died; the poll below will report it
            log.info("chunk %s on %s: write failed: %s", self.chunk_id, self.node, exc)
            return False
        return True


def _close_launched(future: Future[object]) -> None:
    if future.cancelled() or future.exception() is not None:
        return
    proc = future.result()
    close = getattr(proc, "close", None)
    if callable(close):
        close()


def outputs_visible(paths: Sequence[str]) -> bool:
    """True when every output's directory is visible here (the share is mounted at the same path)."""
    return bool(paths) and all(os.path.isdir(os.path.dirname(p) or ".") for p in paths)


def check_local(paths: Sequence[str]) -> list[bool]:
    """Whether each path is a non-empty file here (a cached answer is fine: see :func:`look_here`)."""
    out = []
    for p in paths:
        try:
            out.append(os.path.getsize(p) > 0)
        except (OSError, ValueError):
            out.append(False)
    return out


def look_here(paths: Sequence[str]) -> list[bool]:
    """Whether each path is a non-empty file here, looked up afresh: its folder is listed (an NFS
    client then revalidates a cached "no such file") and the file opened (close-to-open consistency:
    an open revalidates the cached size). Runs on the helper pool: a share may be slow."""
    out = []
    for p in paths:
        try:
            os.listdir(os.path.dirname(p) or ".")
            fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            try:
                out.append(os.fstat(fd).st_size > 0)
            finally:
                os.close(fd)
        except (OSError, ValueError):
            out.append(False)
    return out


def check_remote(executor: Executor, node: str, paths: Sequence[str]) -> list[bool]:
    """Check outputs on the node itself (its view of the share); lines come back in argument order."""
    result = executor.run(node, nodescripts.outputs_argv(paths), timeout=30.0)
    answers = [line.strip() == "ok" for line in result.stdout.splitlines() if line.strip()]
    if not result.ok or len(answers) != len(paths):
        raise RuntimeError(f"output check on {node} failed: {result.stderr.strip() or result.exit_code}")
    return answers
