"""What a running task tells the dispatcher, and what its end means: frame events, then the chunk's fate.

Each step, :meth:`Outcomes.pump` acts on the lines :meth:`farmhand.engine.noderun.Task.read` parsed before
the step's transaction (the wrapper's authenticated control lines; the render's events: a frame started,
made progress, wrote a file, finished → :mod:`.verify`), then settles the task once its process has
ended and every line it printed has been applied. An ended task is read in this order:

* the node cannot see Farmhand's node scripts → the node is blocklisted for the job, nothing blamed;
* the node was locked by another dispatcher (busy) → its frames go back to the queue, the node is
  skipped for a moment (or, when the lock is our own previous chunk still exiting, waited for);
* it succeeded → frames it did not report are finished by its exit (a worker's unsent frames go back);
* it was stopped by us → unfinished frames go back to the queue without blame;
* it failed after every frame was verified → the chunk is done, the failed exit is only noted;
* it failed → the frame it died on carries the failure (see :mod:`.blame`); the frames it had not
  reached go back to waiting.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from farmhand.engine import nodescripts
from farmhand.engine.blame import Blame
from farmhand.engine.jobrun import JobRun
from farmhand.engine.noderun import StopCause, Task, TaskPhase
from farmhand.engine.nodewatch import BUSY_NOTE, NodeWatch
from farmhand.engine.scheduler import update_average
from farmhand.engine.state import EngineState
from farmhand.engine.store import append_log
from farmhand.engine.transitions import move_chunk
from farmhand.engine.verify import Verifier
from farmhand.jobs import ChunkState, FrameState
from farmhand.presets import failures as fl
from farmhand.presets.failures import Failure, FailureKind
from farmhand.presets.progress import FrameDone, FrameProgress, FrameStarted, OutputWritten, WorkerEvent
from farmhand.remote import RunResult

log = logging.getLogger(__name__)

KILL_TIMEOUT = 8.0  # seconds after a kill with no exit status before the task is given up
MAX_WRITTEN = 64  # outputs remembered per frame (a render may claim any number of "Saved" lines)
BUSY_RETRY_SECONDS = 3.0
_WORKER_ERRORS = {
    "licence": FailureKind.LICENCE,
    "missing_file": FailureKind.MISSING_FILE,
    "load": FailureKind.SCENE_LOAD,
}


class Outcomes:
    """Reads every running task's output and end, and applies them to its job."""

    def __init__(
        self,
        state: EngineState,
        nodes: NodeWatch,
        verifier: Verifier,
        blame: Blame,
        log_bytes: Optional[int] = None,
    ) -> None:
        self.state = state
        self.nodes = nodes
        self.verifier = verifier
        self.blame = blame
        self.log_bytes = log_bytes
        self.logs: list[tuple[str, str, list[tuple[float, Any, str, str]]]] = []  # applied, not yet written
        self._log_errors = 0

    # --- output lines ---------------------------------------------------------------------------------

    def pump(self, task: Task, now: float) -> None:
        """Move ``task`` forward: its launch, the lines :meth:`Task.read` parsed, its end.

        An ended process is settled only once every line it printed has been read and applied, so the
        parsing itself always happens outside the step's store transactions.
        """
        job = self.state.jobs.get(task.job_id)
        if task.proc is None and task.launch is not None and task.launch.done():
            try:
                task.proc = task.launch.result()  # type: ignore[assignment]
            except Exception as exc:
                ended = RunResult(task.node, "", None, "", str(exc), now - task.started)
                self.task_ended(task, ended, now, launch_error=exc)
                return
            self._apply(task, job, now)
            if task.kill_pending:
                cause = task.kill_cause or StopCause.SHUTDOWN
                self.state.kill(task, cause, task.kill_reason or "stopped", now)
            else:
                task.phase = TaskPhase.RUNNING
                task.chunk_state = move_chunk(task.chunk_state, ChunkState.RUNNING)
                self.state.store.update_chunk(task.chunk_id, state=ChunkState.RUNNING)
        self._apply(task, job, now)
        if task.proc is not None and task.phase in (TaskPhase.RUNNING, TaskPhase.STOPPING):
            result = task.proc.poll()
            if result is not None and not task.lines:
                self.task_ended(task, result, now)
                return
        if (
            task.phase is TaskPhase.STOPPING
            and task.kill_sent_at is not None
            and now - task.kill_sent_at > KILL_TIMEOUT + self.state.retry.cancel_grace
        ):
            # The channel never reported an end (a dead connection): the watchdog on the node has the
            # tree; we stop waiting for it.
            ended = RunResult(task.node, "", None, "", "no exit status after kill", now - task.started)
            self.task_ended(task, ended, now)

    def _apply(self, task: Task, job: Optional[JobRun], now: float) -> None:
        """Act on the lines :meth:`Task.read` parsed: the wrapper's control lines, then the render's
        events, in order; every line goes to the node's log for the job (written by :meth:`flush_logs`)."""
        if task.dropped > task.dropped_reported:
            log.warning("chunk %s on %s printed faster than it was read: %d lines dropped", task.chunk_id,
                        task.node, task.dropped - task.dropped_reported)
            task.dropped_reported = task.dropped
        if not task.parsed:
            return
        stamp = self.state.stamp(now)
        for item in task.parsed:
            task.last_activity = now
            if item.control is not None:
                self._control(task, item.control)
                continue
            task.tail.append(item.text)
            before = task.current
            if job is not None:
                for event in item.events:
                    self._event(task, job, event, now)
            # A frame's start line belongs to the new frame, its "done" line to the one that just ended.
            owner = task.current if task.current is not None else before
            frame = task.frame_of.get(owner) if owner is not None else None
            task.log_buffer.append((stamp, frame, item.stream, item.text))
        task.parsed = []
        if task.log_buffer:
            self.logs.append((task.job_id, task.node, task.log_buffer))
            task.log_buffer = []
        if task.read_error is not None:
            raise task.read_error

    def _control(self, task: Task, control: nodescripts.Control) -> None:
        """One of the chunk wrapper's own lines (authenticated by the chunk's nonce)."""
        if control.word == nodescripts.PGID_WORD and task.pgid is None:
            text = control.arg.strip()
            if text.isascii() and text.isdigit() and len(text) < 10:
                task.pgid = int(text)
                self.state.store.update_chunk(task.chunk_id, pgid=task.pgid)
        elif control.word == nodescripts.BUSY_WORD:
            task.busy = True
        elif control.word == nodescripts.MISSING_WORD:
            task.missing = control.arg.strip()

    def flush_logs(self) -> None:
        """Append the lines applied this step to the render logs (file I/O, outside any transaction).
        A log that cannot be written (a full disk) loses those lines, never the step."""
        pending, self.logs = self.logs, []
        for job_id, node, lines in pending:
            try:
                append_log(job_id, node, lines, self.log_bytes)
            except (OSError, ValueError) as exc:
                if self._log_errors % 100 == 0:
                    log.warning("render log of job %s on %s not written (%s); %d lines lost", job_id, node,
                                exc, len(lines))
                self._log_errors += 1

    def _event(self, task: Task, job: JobRun, event: Any, now: float) -> None:
        if isinstance(event, FrameStarted):
            self._frame_started(task, job, event, now)
        elif isinstance(event, FrameProgress):
            task.percent = event.percent
        elif isinstance(event, OutputWritten):
            idx = task.idx_of.get(event.frame) if event.frame is not None else task.current
            written = job.frames[idx].written if idx is not None else None
            if written is not None and event.path not in written and len(written) < MAX_WRITTEN:
                written.append(event.path)
        elif isinstance(event, FrameDone):
            idx = task.idx_of.get(event.frame) if event.frame is not None else task.current
            if idx is not None and idx not in task.done:
                self.frame_finished(task, job, idx, now)
        elif isinstance(event, WorkerEvent):
            self._worker_event(task, job, event, now)

    def _frame_started(self, task: Task, job: JobRun, event: FrameStarted, now: float) -> None:
        idx = task.idx_of.get(event.frame)
        if idx is None:
            return
        if idx in task.stolen and not task.kill_reason:
            reason = f"frames from {task.frame_of[idx]} on were re-split to another node"
            self.state.kill(task, StopCause.RESPLIT, reason, now)
            return
        if task.current != idx:
            task.current, task.current_started, task.percent = idx, now, None
            if task.first_frame_at is None:
                task.first_frame_at = now
                job.stat(task.node).startup = now - task.started

    def _worker_event(self, task: Task, job: JobRun, event: WorkerEvent, now: float) -> None:
        if event.event == "ready":
            task.ready = True
            job.stat(task.node).startup = now - task.started
            job.event("worker_ready", f"scene loaded in {now - task.started:.1f}s", now, node=task.node)
        elif event.event == "error":
            raw = event.data.get("frame")
            idx = task.idx_of.get(raw) if isinstance(raw, (int, float)) else None
            if idx is None or idx in task.done:
                return
            task.done.append(idx)
            if idx in task.sent:
                task.sent.remove(idx)
            task.current = None
            kind = _WORKER_ERRORS.get(str(event.data.get("kind")), FailureKind.UNKNOWN)
            failure = fl.failure(kind, str(event.data.get("message", "")))
            self.blame.chunk_failed(task, job, [idx], failure, now)

    def frame_finished(
        self, task: Task, job: JobRun, idx: int, now: float, seconds: Optional[float] = None
    ) -> None:
        """``task`` finished frame ``idx``: measure the node's speed, then verify the frame's outputs."""
        task.done.append(idx)
        if idx in task.sent:
            task.sent.remove(idx)
        if seconds is None and task.current == idx and task.current_started is not None:
            seconds = now - task.current_started
        if task.current == idx:
            task.current, task.current_started, task.percent = None, None, None
        if seconds is not None and seconds >= 0:
            stat = job.stat(task.node)
            stat.spf = update_average(stat.spf, max(seconds, 1e-3), self.state.policy.smoothing)
        if job.frames[idx].state is FrameState.DONE:
            return  # a backup copy finished it first
        self.verifier.expect(task, job, idx, seconds, now)
        if not task.persistent and not task.kill_reason and task.stolen and not task.pending() \
                and task.current is None:
            reason = "the rest of its frames were re-split to another node"
            self.state.kill(task, StopCause.RESPLIT, reason, now)

    # --- the end of a task ----------------------------------------------------------------------------

    def task_ended(
        self, task: Task, result: RunResult, now: float, launch_error: Optional[BaseException] = None
    ) -> None:
        """The task's process is gone (or never started): settle its frames and close its chunk."""
        task.phase = TaskPhase.ENDED
        task.result = result
        self.state.tasks.pop(task.chunk_id, None)
        self.nodes.task_gone(task.node)
        job = self.state.jobs.get(task.job_id)
        if job is None:
            self._close_chunk(task, ChunkState.CANCELLED, result, task.kill_reason or "its job was stopped")
            return
        if task.missing is not None:
            self._scripts_missing(task, job, result, task.missing, now)
            return
        # Classify first: only a run that succeeded may finish the frame it was on (a frame "completed"
        # by the exit of a failed run would be verified against a stale file and counted done).
        failure = None if task.busy else self._classify(task, job, result, launch_error)
        clean = result.ok and task.kill_reason is None and not task.busy and failure is None
        for event in task.parser.finish(clean):
            self._event(task, job, event, now)
        unfinished = [i for i in task.frames if i not in task.done]
        if task.busy:
            self._ended_busy(task, job, result, unfinished, now)
        elif failure is None:
            self._ended_clean(task, job, result, unfinished, now)
        elif failure.kind is FailureKind.CANCELLED:
            self._ended_stopped(task, job, result, unfinished, now)
        elif not unfinished and not task.persistent and task.done:
            # Every frame was rendered and verified; only the exit went wrong (a crash at shutdown).
            job.event("chunk_exit", f"all frames done, then {failure.kind.value}: {failure.message}", now,
                      node=task.node)
            self._close_chunk(task, ChunkState.DONE, result, failure.message)
        else:
            self._ended_failed(task, job, result, failure, unfinished, now)

    def _ended_busy(
        self, task: Task, job: JobRun, result: RunResult, unfinished: list[int], now: float
    ) -> None:
        for idx in unfinished:
            job.release(job.frames[idx], task.chunk_id)
        if self.state.busy_on(task.node):
            # Our own previous chunk on the node is slow to exit: wait for it, blame nobody.
            self.nodes.slow_exit.add(task.node)
            self._close_chunk(task, ChunkState.CANCELLED, result, "previous chunk still exiting")
            return
        self.nodes.back_off(task.node, now + BUSY_RETRY_SECONDS, BUSY_NOTE)
        self._close_chunk(task, ChunkState.CANCELLED, result, "node busy (locked by another dispatcher)")
        message = "node is locked by another dispatcher; skipped, not failed"
        job.event("node_busy", message, now, node=task.node)

    def _ended_clean(
        self, task: Task, job: JobRun, result: RunResult, unfinished: list[int], now: float
    ) -> None:
        for idx in unfinished:
            rec = job.frames[idx]
            if task.persistent:
                job.release(rec, task.chunk_id)  # a worker that quit early: frames never sent back
            elif rec.state is not FrameState.DONE:
                self.frame_finished(task, job, idx, now)
        self._close_chunk(task, ChunkState.DONE, result, None)

    def _ended_stopped(
        self, task: Task, job: JobRun, result: RunResult, unfinished: list[int], now: float
    ) -> None:
        for idx in unfinished:
            job.release(job.frames[idx], task.chunk_id)
        if task.kill_cause is StopCause.BACKUP_RACE:
            self._recheck_after_race(task, job, now)
        self._close_chunk(task, ChunkState.CANCELLED, result, task.kill_reason)

    def _ended_failed(
        self, task: Task, job: JobRun, result: RunResult, failure: Failure, unfinished: list[int], now: float
    ) -> None:
        # Only the frame the process died on carries the failure (an attempt, the error); frames it had
        # not reached go back to waiting without blame. No frame started: the chunk's first frame.
        culprit = task.current if task.current in unfinished else unfinished[0] if unfinished else None
        for idx in unfinished:
            if idx != culprit:
                job.release(job.frames[idx], task.chunk_id)
        self.blame.chunk_failed(task, job, [] if culprit is None else [culprit], failure, now)
        self._close_chunk(task, ChunkState.FAILED, result, failure.message)

    def _scripts_missing(self, task: Task, job: JobRun, result: RunResult, where: str, now: float) -> None:
        """The node cannot see Farmhand's node scripts: nothing the frames did. The node is blocklisted
        for the job with a message saying what to set; the job fails when no node is left."""
        message = (f"{task.node} cannot see Farmhand's node scripts at {where}: set FARMHAND_NODE_PACKAGE "
                   "for the dispatcher to the share copy of scripts/ (as the nodes name it, or map it in "
                   "pathmap.json), then 'farmhand retry'")
        for idx in task.frames:
            job.release(job.frames[idx], task.chunk_id)
        stat = job.stat(task.node)
        stat.blocked, stat.message = True, message
        job.event("scripts_missing", message, now, node=task.node)
        self._close_chunk(task, ChunkState.FAILED, result, message)

    def _recheck_after_race(self, task: Task, job: JobRun, now: float) -> None:
        """The killed copy wrote to the same file as the winner: make sure the winner's output survived."""
        for idx in task.frames:
            if job.frames[idx].state is FrameState.DONE:
                self.verifier.recheck(job, idx, task.node, task.chunk_id)

    def _classify(
        self, task: Task, job: JobRun, result: RunResult, launch_error: Optional[BaseException]
    ) -> Optional[Failure]:
        if launch_error is not None:
            return fl.failure(FailureKind.UNREACHABLE, f"could not start: {launch_error}")
        if task.kill_cause is StopCause.STALLED:
            return fl.failure(FailureKind.STALLED, "stalled: no output and no progress")
        return fl.classify(
            job.preset.error_rules,
            result.exit_code,
            result.signal,
            task.parser.errors,
            list(task.tail),
            cancelled=task.kill_reason is not None,
        )

    def _close_chunk(self, task: Task, state: ChunkState, result: RunResult, message: Optional[str]) -> None:
        task.chunk_state = move_chunk(task.chunk_state, state)
        self.state.store.update_chunk(
            task.chunk_id, state=state, ended=self.state.clock(), exit_code=result.exit_code,
            message=None if message is None else message[:1000],
        )
