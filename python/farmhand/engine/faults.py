"""Crash-only containment: an unexpected error is recorded against what it happened in, and nothing else.

The dispatcher runs each piece of work of its step (a command, a task's output, an output check, a job's
gate, assignment, end or progress rows) inside a guard. An exception that is not a
:class:`~farmhand.engine.store.StoreError` (the store itself failing is the dispatcher's problem, see
:meth:`farmhand.engine.dispatcher.Dispatcher.run`) is logged with its traceback and then:

* a **command** is answered with one ``internal error: ...`` line (:mod:`.commands`);
* a **task** (its launch, its lines, its end, its stall check) fails as an internal error: its process is
  dropped (the node's watchdog ends it; its group is checked before the node is reused), the frame it
  was on counts one attempt (a line that always breaks the dispatcher fails that frame after
  ``max_attempts``, never loops), its other frames go back to the queue, the chunk ends ``failed``;
* an **output check** fails its frame the same way;
* a **job** fails with ``internal error while <stage>: ...`` as its error (``farmhand retry`` tries
  again with a fresh copy from the store), its tasks are stopped and it leaves the working set.

If recording the error raises too, the task or job is dropped from the working set all the same: the
step always goes on.
"""

from __future__ import annotations

import logging
from typing import Callable, Optional

from farmhand.engine.jobrun import JobRun
from farmhand.engine.noderun import StopCause, Task
from farmhand.engine.nodewatch import NodeWatch
from farmhand.engine.state import EngineState
from farmhand.engine.store.database import StoreError
from farmhand.engine.transitions import can_move_job
from farmhand.jobs import ChunkState, FrameState, JobState
from farmhand.presets.failures import FailureKind
from farmhand.presets.lines import one_line

log = logging.getLogger(__name__)

INTERNAL = "internal_error"


def describe(stage: str, exc: BaseException) -> str:
    """One line for an unexpected error: where, what, and where the traceback is."""
    text = one_line(str(exc), 300)
    what = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"internal error while {stage}: {what} (traceback in dispatcher.log)"


class Faults:
    """Records unexpected errors against the task, frame or job they happened in."""

    def __init__(self, state: EngineState, nodes: NodeWatch) -> None:
        self.state = state
        self.nodes = nodes
        self.count = 0  # errors contained since the start (for tests and the log)

    # --- guards the dispatcher runs its work in -------------------------------------------------------

    def each_task(self, stage: str, work: Callable[[Task, float], None], now: float) -> None:
        """``work`` on every running task; one that raises fails alone (:meth:`task`)."""
        for task in list(self.state.tasks.values()):
            if task.chunk_id not in self.state.tasks:
                continue  # ended (or dropped) by an earlier one's work
            try:
                work(task, now)
            except StoreError:
                raise
            except Exception as exc:
                self.task(task, exc, stage, now)

    def each_job(self, stage: str, work: Callable[[JobRun, float], None], now: float) -> None:
        """``work`` on every active job; one that raises fails alone (:meth:`job`)."""
        for job in list(self.state.jobs.values()):
            if job.id not in self.state.jobs:
                continue  # retired by an earlier one's work
            try:
                work(job, now)
            except StoreError:
                raise
            except Exception as exc:
                self.job(job, exc, stage, now)

    def each_pass(self, stage: str, work: Callable[[float], None], now: float) -> None:
        """One pass over every job (assignment). If it raises, each job is given the pass alone, so the
        job that breaks it fails by itself; a pass that fails for every job of several is nobody's."""
        try:
            work(now)
            return
        except StoreError:
            raise
        except Exception as exc:
            first = exc
        jobs, culprits = self.state.jobs, []
        try:
            for job in list(jobs.values()):
                self.state.jobs = {job.id: job}
                try:
                    work(now)
                except StoreError:
                    raise
                except Exception as alone:
                    culprits.append((job, alone))
        finally:
            jobs.update(self.state.jobs)
            self.state.jobs = jobs
        if culprits and (len(culprits) < len(jobs) or len(jobs) == 1):
            for job, error in culprits:
                self.job(job, error, stage, now)
        else:
            self.nobodys(stage, lambda _: _raise(first), now)

    def nobodys(self, stage: str, work: Callable[[float], object], now: float) -> None:
        """Work that belongs to no task or job (hooks, pruning, the node list): an error is logged with
        its traceback, and the step goes on."""
        try:
            work(now)
        except StoreError:
            raise
        except Exception as exc:
            self.count += 1
            log.error("%s", describe(stage, exc), exc_info=exc)

    # --- recording an error ---------------------------------------------------------------------------

    def task(self, task: Task, exc: BaseException, stage: str, now: float) -> None:
        """``task`` raised while ``stage``: drop its process, fail its chunk and its current frame."""
        if isinstance(exc, StoreError):
            raise exc
        self.count += 1
        message = describe(stage, exc)
        log.error("chunk %s on %s: %s", task.chunk_id, task.node, message, exc_info=exc)
        self.state.tasks.pop(task.chunk_id, None)
        self._drop_process(task, message, now)
        job = self.state.jobs.get(task.job_id)
        try:
            if job is not None:
                self._fail_frames(task, job, message)
                job.event(INTERNAL, message, now, node=task.node)
            self.state.store.update_chunk(task.chunk_id, state=ChunkState.FAILED, ended=now, message=message)
        except StoreError:
            raise
        except Exception as again:
            if job is not None:
                self.job(job, again, f"recording chunk {task.chunk_id}'s error", now)

    def frame(self, job: JobRun, node: str, chunk_id: int, idx: int, exc: BaseException, stage: str,
              now: float) -> None:
        """Checking frame ``idx`` of ``job`` raised: the frame counts a failed attempt."""
        if isinstance(exc, StoreError):
            raise exc
        self.count += 1
        message = describe(stage, exc)
        log.error("job %s frame index %s: %s", job.id, idx, message, exc_info=exc)
        try:
            job.fail_attempt(job.frames[idx], chunk_id, FailureKind.UNKNOWN.value, message, self.state.retry)
            job.event(INTERNAL, message, now, node=node, frame=job.frames[idx].frame)
        except StoreError:
            raise
        except Exception as again:
            self.job(job, again, "recording a frame's error", now)

    def job(self, job: JobRun, exc: BaseException, stage: str, now: float) -> None:
        """``job`` raised while ``stage``: it fails with the error, its tasks stop, it leaves the working
        set."""
        if isinstance(exc, StoreError):
            raise exc
        self.count += 1
        message = describe(stage, exc)
        log.error("job %s: %s", job.id, message, exc_info=exc)
        self.state.jobs.pop(job.id, None)
        for task in self.state.tasks_of(job.id):
            try:
                self.state.kill(task, StopCause.JOB_ENDED, message, now)
            except Exception:  # never let stopping one task keep the others running
                log.exception("could not stop chunk %s", task.chunk_id)
                self.state.tasks.pop(task.chunk_id, None)
                task.abandon()
        store = self.state.store
        try:
            rendering = [f.idx for f in job.frames if f.state is FrameState.RENDERING]
            store.update_frames(job.id, rendering, state=FrameState.WAITING)
            failed: Optional[JobState] = JobState.FAILED if can_move_job(job.state, JobState.FAILED) else None
            state = failed if failed is not None else job.state
            store.update_job(job.id, state=state, error=message, now=now)
            store.add_event(job.id, INTERNAL, message, now=now)
        except StoreError:
            raise
        except Exception:
            log.exception("job %s: could not record its internal error", job.id)

    def _drop_process(self, task: Task, message: str, now: float) -> None:
        """Stop the task's remote process without waiting for (or reading) its end."""
        try:
            self.state.kill(task, StopCause.INTERNAL, message, now)
        except Exception:
            log.exception("could not stop chunk %s", task.chunk_id)
        task.abandon()
        if task.pgid is not None:
            self.nodes.check_before_reuse(task.node, task.pgid, task.job_id, task.chunk_id)
        # Until the check (or the watchdog) has ended it, the node gets no new chunk.
        until = now + self.state.retry.cancel_grace + 2.0
        self.nodes.back_off(task.node, until, "cleaning up a failed chunk")

    def _fail_frames(self, task: Task, job: JobRun, message: str) -> None:
        unfinished = [i for i in task.frames if i not in task.done]
        culprit = task.current if task.current in unfinished else unfinished[0] if unfinished else None
        for idx in unfinished:
            rec = job.frames[idx]
            if idx == culprit:
                job.fail_attempt(rec, task.chunk_id, FailureKind.UNKNOWN.value, message, self.state.retry)
            else:
                job.release(rec, task.chunk_id)


def _raise(exc: BaseException) -> None:
    raise exc
