"""Client commands (cancel, pause, resume, retry, priority, requeue a frame, stop), one small handler each.

Clients insert rows into the store's ``commands`` table (:mod:`farmhand.client`); the dispatcher applies
them at the start of its next step and writes each one's answer back: ``ok``, or one line saying why
nothing was done (``job is done; nothing to pause``). Which state a command may move a job to is the
transition table's call (:mod:`farmhand.engine.transitions`).

A command row may come from any program, so its argument is range-checked again here
(:mod:`farmhand.engine.ranges`). Each command is marked as being applied, and that mark committed,
before it is applied: if applying it kills the dispatcher, the next start answers it with an error
instead of applying it again (a poisoned command never takes the farm down twice). An unexpected error
while applying one is answered as ``internal error: ...`` and logged with its traceback.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Optional

from farmhand.engine import ranges
from farmhand.engine.faults import describe
from farmhand.engine.jobrun import JobRun
from farmhand.engine.lifecycle import requeue_frames
from farmhand.engine.noderun import StopCause
from farmhand.engine.publish import Publisher
from farmhand.engine.state import EngineState
from farmhand.engine.store import Command
from farmhand.engine.store.database import StoreError
from farmhand.engine.transitions import can_move_job
from farmhand.errors import FarmhandError
from farmhand.jobs import CommandOp, FrameState, JobState

log = logging.getLogger(__name__)

#: A job command: (job, argument, now) -> None when done, else why nothing was done.
Handler = Callable[[JobRun, dict[str, Any], float], Optional[str]]


class Commands:
    """Applies the commands clients left in the store.

    Args:
        stop: set by the ``stop`` command; the dispatcher's run loop ends after this step.
    """

    def __init__(self, state: EngineState, publisher: Publisher, stop: threading.Event,
                 me: Optional[str] = None) -> None:
        self.state = state
        self.publisher = publisher
        self.stop = stop
        # On a shared farm: this dispatcher's id. A stop command names the dispatcher it is for (the one
        # of the client's machine); the others leave it alone.
        self.me = me
        self.handlers: dict[CommandOp, Handler] = {
            CommandOp.CANCEL: self._cancel,
            CommandOp.PAUSE: self._pause,
            CommandOp.RESUME: self._resume,
            CommandOp.RETRY: self._retry,
            CommandOp.PRIORITY: self._priority,
            CommandOp.REQUEUE_FRAME: self._requeue_frame,
            CommandOp.REQUEUE_FRAMES: requeue_frames,
        }

    def apply_pending(self, now: float) -> None:
        """Apply every command not handled yet, oldest first, and record each one's answer."""
        store = self.state.store
        for command in store.pending_commands():
            if self._someone_elses_stop(command, now):
                continue
            if not store.take_command(command.id):
                continue  # another dispatcher of the farm applies it
            try:
                result = self.apply(command, now)
            except StoreError:
                raise
            except FarmhandError as exc:
                result = exc.message
            except Exception as exc:
                result = describe(f"applying the command '{command.op.value}'", exc)
                log.error("command %s: %s", command.id, result, exc_info=exc)
            store.finish_command(command.id, result, now)

    def _someone_elses_stop(self, command: Command, now: float) -> bool:
        """A stop for another dispatcher of a shared farm (left for it), or for none (answered)."""
        if command.op is not CommandOp.STOP or self.me is None:
            return False
        target = command.arg.get("dispatcher")
        if target == self.me:
            return False
        if target is None and self.state.store.take_command(command.id):
            self.state.store.finish_command(command.id, "on a shared farm a stop names its dispatcher; "
                                            "update Farmhand on the machine that sent it", now)
        return True

    def apply(self, command: Command, now: float) -> str:
        """Apply one command; return its answer (``ok`` or why nothing was done)."""
        if command.op is CommandOp.STOP:
            self.stop.set()
            return "stopping"
        if command.job_id is None:
            return "no job given"
        handler = self.handlers.get(command.op)
        if handler is None:
            return f"this dispatcher cannot apply '{command.op.value}'; restart it after updating Farmhand"
        job = self.state.jobs.get(command.job_id) or JobRun.load(self.state.store, command.job_id)
        self.state.jobs[command.job_id] = job
        refusal = handler(job, command.arg, now)
        if refusal is not None:
            return refusal
        if job.state.finished and not self.state.tasks_of(job.id):
            self.publisher.retire(job, now)
        return "ok"

    def _cancel(self, job: JobRun, arg: dict[str, Any], now: float) -> Optional[str]:
        if not can_move_job(job.state, JobState.CANCELLED):
            return f"job is already {job.state.value}"
        job.set_state(JobState.CANCELLED, now=now)
        for task in self.state.tasks_of(job.id):
            self.state.kill(task, StopCause.USER, "cancelled by the user", now)
            # The job is cancelled now, so none of its frames is "rendering" any more, even while the
            # killed processes are still being reaped (a frame they finish meanwhile still counts).
            for idx in task.frames:
                job.release(job.frames[idx], task.chunk_id)
        job.event("cancelled", "cancelled by the user; running chunks are being stopped", now)
        return None

    def _pause(self, job: JobRun, arg: dict[str, Any], now: float) -> Optional[str]:
        if not can_move_job(job.state, JobState.PAUSED):
            return f"job is {job.state.value}; nothing to pause"
        job.set_state(JobState.PAUSED, now=now)
        job.event("paused", "no new chunks are handed out; running ones finish", now)
        return None

    def _resume(self, job: JobRun, arg: dict[str, Any], now: float) -> Optional[str]:
        if job.state is not JobState.PAUSED:
            return f"job is {job.state.value}, not paused; nothing to resume"
        job.set_state(JobState.RUNNING, now=now)
        job.event("resumed", "handing out chunks again", now)
        return None

    def _retry(self, job: JobRun, arg: dict[str, Any], now: float) -> Optional[str]:
        again = [f for f in job.frames if f.state is FrameState.FAILED]
        if job.state is JobState.DONE and not again:
            return "nothing to retry: every frame is done"
        for rec in again:
            job.requeue(rec, "retried by the user")
            job.reset_attempts(rec)
        for stat in job.nodes.values():
            stat.blocked, stat.failures, stat.backoff_until = False, 0, 0.0
        job.agree.clear()
        if job.state.finished:
            job.set_state(JobState.RUNNING, error="", now=now)
        job.event("retry", f"{len(again)} failed frames queued again; blocklists cleared", now)
        return None

    def _priority(self, job: JobRun, arg: dict[str, Any], now: float) -> Optional[str]:
        job.priority = ranges.priority(arg.get("priority"))
        self.state.store.update_job(job.id, priority=job.priority)
        job.event("priority", f"priority set to {job.priority}", now)
        return None

    def _requeue_frame(self, job: JobRun, arg: dict[str, Any], now: float) -> Optional[str]:
        frame = ranges.frame(arg.get("frame"))
        rec = job.by_frame.get(frame)
        if rec is None:
            return f"job {job.id} has no frame {frame}"
        if any(rec.idx in task.frames and task.current == rec.idx for task in self.state.tasks_of(job.id)):
            return f"frame {frame} is rendering now"
        job.requeue(rec, "requeued by the user")
        if job.state.finished:
            job.set_state(JobState.RUNNING, now=now)
        job.event("requeued", f"frame {frame} queued again", now, frame=rec.frame)
        return None
