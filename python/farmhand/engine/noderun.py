"""One remote render process (a chunk, or a persistent hython worker) as the dispatcher tracks it.

The SSH layer calls :meth:`Task.on_line` from its reader thread; lines are only queued there. The
dispatcher's step drains the queue on its own thread, feeds the preset's :class:`LineParser` and acts on
the events, so all decisions happen in one place and in order. Starting the process and killing it are
blocking SSH calls; they run on the dispatcher's helper pool and their outcome is picked up by a later
step (:attr:`Task.launch` / :attr:`Task.kill_future`).
"""

from __future__ import annotations

import collections
import enum
import logging
import os
import re
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable, Optional

from farmhand.engine import nodescripts
from farmhand.frames import Frame
from farmhand.jobs import ChunkState
from farmhand.presets.progress import LineParser
from farmhand.remote import Executor, RemoteProcess, RunResult

log = logging.getLogger(__name__)
remote_log = logging.getLogger("farmhand.remote_output")

_PGID = re.compile(r"FARMHAND_PGID[ =](\d+)")
TAIL_LINES = 40


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


Submit = Callable[..., "Future[object]"]


@dataclass
class Pending:
    """A frame the task will render (chunk) or has been sent (worker)."""

    idx: int
    frame: Frame


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
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.log_buffer: list[tuple[float, Optional[Frame], str, str]] = []
        self.closing = False
        self.wake: Optional[threading.Event] = None

    # --- called from the SSH reader thread ----------------------------------------------------------

    def on_line(self, stream: str, line: str) -> None:
        self.lines.append((stream, line))
        if self.wake is not None:
            self.wake.set()

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
        wrapped = nodescripts.chunk_argv(self.job_id, self.chunk_id, argv, require)
        log.debug("chunk %s on %s: %s", self.chunk_id, self.node, wrapped)
        self.launch = submit(executor.start, self.node, wrapped, on_line=self.on_line, watchdog=True)

    def note_pgid(self, line: str) -> Optional[int]:
        match = _PGID.search(line)
        if match and self.pgid is None:
            self.pgid = int(match.group(1))
            return self.pgid
        return None

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


def outputs_visible(paths: Sequence[str]) -> bool:
    """True when every output's directory is visible here (the share is mounted at the same path)."""
    return bool(paths) and all(os.path.isdir(os.path.dirname(p) or ".") for p in paths)


def check_local(paths: Sequence[str]) -> list[bool]:
    out = []
    for p in paths:
        try:
            out.append(os.path.getsize(p) > 0)
        except OSError:
            out.append(False)
    return out


def check_remote(executor: Executor, node: str, paths: Sequence[str]) -> list[bool]:
    """Check outputs on the node itself (its view of the share); lines come back in argument order."""
    result = executor.run(node, nodescripts.outputs_argv(paths), timeout=30.0)
    answers = [line.strip() == "ok" for line in result.stdout.splitlines() if line.strip()]
    if not result.ok or len(answers) != len(paths):
        raise RuntimeError(f"output check on {node} failed: {result.stderr.strip() or result.exit_code}")
    return answers
