"""Output verification: a frame counts as done only once its outputs exist and are not empty.

Renderers report a frame at "100%" or "Saved" before some of them close the file, and a share mounted
over NFS caches directory listings and attributes for up to a minute. So a check follows the share's
pace, and never holds the node (the chunk may end and its node take new work meanwhile):

1. **Settle.** A frame reported done is checked only once its renderer is done writing it: the process
   started the next frame, or ended, or printed nothing for ``Verification.quiet_seconds``. A persistent
   worker's "done" event comes after its render call returned: checked at once.
2. **Look.** On the helper pool, never inside a store transaction: here, with fresh lookups
   (:func:`farmhand.engine.noderun.look_here`), when the outputs' folders are visible on this machine;
   otherwise on the node over SSH (:func:`farmhand.engine.noderun.check_remote`).
3. **Look again.** A missing or empty output is looked for again, pausing ``recheck_seconds`` and then
   twice as long each time (up to ``max_recheck_seconds``), until ``grace_seconds`` after the first
   look. Only then does anything fail:

   * missing here but present on the node: the outputs were written somewhere this machine does not
     see. That is the job's share or path-mapping problem, not the node's: the job fails with one
     message saying what to fix; no node is blamed or blocklisted;
   * missing on the node too: an ``output_missing`` failure of the frame (see :mod:`.blame`).

For jobs that check images (:func:`farmhand.engine.previews.wants_check`), outputs found here are also
read whole on the pool (:func:`farmhand.engine.previews.readable`, which also makes the preview): a
truncated image is looked at again in the same way, then fails the frame with why it is unreadable.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from farmhand.engine import noderun, previews
from farmhand.engine.blame import Blame
from farmhand.engine.faults import Faults
from farmhand.engine.jobrun import JobRun
from farmhand.engine.noderun import StopCause, Task
from farmhand.engine.settings import Verification
from farmhand.engine.state import EngineState
from farmhand.engine.transitions import can_move_job
from farmhand.frames import Frame
from farmhand.jobs import FrameState, JobState
from farmhand.presets import failures as fl
from farmhand.presets.failures import FailureKind
from farmhand.remote import Executor

HERE, NODE, NODE_AFTER_HERE = "here", "node", "node_after_here"


@dataclass
class Check:
    """The outputs of one frame, on their way to being verified.

    Attributes:
        paths: the outputs as this machine names them; ``there``: as the node names them.
        recheck: a frame already done whose file the losing copy of a backup race may have damaged.
    """

    job_id: str
    node: str
    chunk_id: int
    idx: int
    seconds: Optional[float]
    paths: list[str]
    there: list[str]
    ready: bool = False
    recheck: bool = False
    first: Optional[float] = None  # when the first look was made
    next_at: float = 0.0
    pause: float = 0.0
    where: str = HERE
    image_of: Optional[tuple[str, Frame]] = None  # (job, frame) when its outputs are read as images
    why: Optional[str] = None  # why an output found here is not usable (an unreadable image)
    future: Optional[Future[object]] = field(default=None, repr=False)


@dataclass(frozen=True)
class Look:
    """What one look found: where it looked, one answer per output, and why an output is bad."""

    where: str
    answers: list[bool]
    why: Optional[str] = None


def look(executor: Executor, check: Check) -> Look:
    """One look at the outputs (on the helper pool): here when their folders are visible here and the
    check allows, else on the node."""
    if check.where == HERE and noderun.outputs_visible(check.paths):
        answers = noderun.look_here(check.paths)
        if all(answers) and check.image_of is not None:
            read = previews.readable(check.image_of[0], check.image_of[1], check.paths)
            return Look(HERE, read.answers, read.why)
        return Look(HERE, answers)
    where = check.where if check.where != HERE else NODE
    return Look(where, noderun.check_remote(executor, check.node, check.there))


class Verifier:
    """Checks finished frames' outputs and marks them done, or fails them."""

    def __init__(
        self,
        state: EngineState,
        blame: Blame,
        faults: Optional[Faults] = None,
        policy: Optional[Verification] = None,
    ) -> None:
        self.state = state
        self.blame = blame
        self.faults = faults or Faults(state, blame.nodes)
        self.policy = policy or Verification()
        self.checks: list[Check] = []

    def pending(self, job_id: str) -> bool:
        """An output check of the job is not finished (the job cannot end yet)."""
        return any(c.job_id == job_id for c in self.checks)

    def expect(self, task: Task, job: JobRun, idx: int, seconds: Optional[float], now: float) -> None:
        """``task`` reported frame ``idx`` done: verify its outputs (expected, else the ones reported)
        once the renderer is done writing them."""
        rec = job.frames[idx]
        if rec.state is FrameState.DONE or any(c.job_id == job.id and c.idx == idx for c in self.checks):
            return
        paths = [rec.output] if rec.output else list(dict.fromkeys(rec.written))
        if not paths:
            self._done(job, idx, task.node, task.chunk_id, seconds, None, now)
            return
        # The expected output is the submitter's name of the file; what the renderer reported is
        # already the node's.
        there = [self.state.node_path(p, task.node) or p for p in paths] if rec.output else paths
        check = Check(job.id, task.node, task.chunk_id, idx, seconds, paths, there, ready=task.persistent)
        if previews.wants_check(job.spec.check_images, job.preset.outputs_images, paths):
            check.image_of = (job.id, rec.frame)
        self.checks.append(check)

    def recheck(self, job: JobRun, idx: int, node: str, chunk_id: int) -> None:
        """A done frame's output may have been damaged (a stopped backup copy wrote the same file)."""
        rec = job.frames[idx]
        if rec.output:
            self.checks.append(Check(job.id, node, chunk_id, idx, None, [rec.output], [rec.output],
                                     ready=True, recheck=True))

    def look(self, now: float) -> None:
        """Start the looks that are due (on the helper pool; the step calls this outside its store
        transactions, so even an inline look never holds the write lock)."""
        self._each(self._start, now)

    def settle(self, now: float) -> None:
        """Act on the looks that came back."""
        self._each(self._advance, now)

    def _each(self, work: Callable[[Check, JobRun, float], None], now: float) -> None:
        """``work`` on every check; an unexpected error fails only the frame whose check raised (see
        :mod:`.faults`)."""
        for check in list(self.checks):
            job = self.state.jobs.get(check.job_id)
            if job is None:
                self._drop(check)
                continue
            try:
                work(check, job, now)
            except Exception as exc:
                self._drop(check)
                stage = "checking a frame's outputs"
                self.faults.frame(job, check.node, check.chunk_id, check.idx, exc, stage, now)

    def _drop(self, check: Check) -> None:
        if check in self.checks:
            self.checks.remove(check)

    def _start(self, check: Check, job: JobRun, now: float) -> None:
        if check not in self.checks or check.future is not None:
            return
        if not check.ready:
            check.ready = self._written(check, now)
        if check.ready and now >= check.next_at:
            check.first = now if check.first is None else check.first
            check.future = self.state.submit(look, self.state.executor, check)

    def _advance(self, check: Check, job: JobRun, now: float) -> None:
        if check.future is None or not check.future.done():
            return
        future, check.future = check.future, None
        try:
            answer: Any = future.result()
        except Exception as exc:
            self._no_answer(check, job, exc, now)
            return
        check.where, answers, check.why = answer.where, answer.answers, answer.why
        if all(answers):
            self._drop(check)
            if check.where == NODE_AFTER_HERE:
                self._not_shared(check, job, now)
            elif not check.recheck:
                self._done(job, check.idx, check.node, check.chunk_id, check.seconds, check.paths[0], now)
            return
        self._missing(check, job, answers, now)

    def _written(self, check: Check, now: float) -> bool:
        """The renderer is done writing the frame: its task moved on, ended, or went quiet."""
        task = self.state.tasks.get(check.chunk_id)
        if task is None or task.persistent:
            return True
        if task.current is not None and task.current != check.idx:
            return True
        return now - task.last_activity >= self.policy.quiet_seconds

    def _missing(self, check: Check, job: JobRun, answers: Sequence[bool], now: float) -> None:
        first = now if check.first is None else check.first
        if not check.recheck and now - first < self.policy.grace_seconds:
            self._later(check, now)
            return
        if check.where == HERE and not check.recheck and check.why is None:
            check.where, check.next_at = NODE_AFTER_HERE, now  # is it on the node, at least?
            return
        self._drop(check)
        rec = job.frames[check.idx]
        if check.recheck:
            if rec.state is FrameState.DONE:
                job.requeue(rec, "output damaged when the losing backup copy was stopped")
                why = f"frame {rec.frame}: output damaged by the backup race"
                job.event("requeued", why, now, frame=rec.frame)
            return
        missing = [p for p, ok in zip(check.paths, answers) if not ok]
        waited = f" (looked for {now - first:.0f}s)" if now > first else ""
        self._failed(check, job, check.why or f"output missing or empty: {missing[0]}{waited}", now)

    def _later(self, check: Check, now: float) -> None:
        """Look again after a pause that doubles each time, from ``recheck_seconds`` up to its maximum."""
        policy = self.policy
        check.pause = min(max(check.pause * 2, policy.recheck_seconds), policy.max_recheck_seconds)
        check.next_at = now + check.pause

    def _no_answer(self, check: Check, job: JobRun, exc: BaseException, now: float) -> None:
        """The node could not be asked: look again within the grace window, then give the frame back."""
        first = now if check.first is None else check.first
        if now - first < self.policy.grace_seconds:
            self._later(check, now)
            return
        self._drop(check)
        rec = job.frames[check.idx]
        if check.where == NODE_AFTER_HERE:
            self._failed(check, job, f"output missing or empty: {check.paths[0]}", now)
            return
        job.event("verify", f"could not check outputs on {check.node}: {exc}; frame queued again", now,
                  node=check.node, frame=rec.frame)
        if not check.recheck:
            job.release(rec, check.chunk_id)

    def _failed(self, check: Check, job: JobRun, message: str, now: float) -> None:
        if job.frames[check.idx].state is FrameState.DONE:
            return
        failure = fl.failure(FailureKind.OUTPUT_MISSING, message)
        task = self.state.tasks.get(check.chunk_id)
        if task is not None:
            self.blame.chunk_failed(task, job, [check.idx], failure, now)
        else:
            self.blame.frame_failed_after_end(job, check.node, check.chunk_id, check.idx, failure, now)

    def _not_shared(self, check: Check, job: JobRun, now: float) -> None:
        """The node has the outputs and this machine never saw them: the job's share or path map is
        wrong. One message on the job; the frame fails without an attempt; no node is blamed."""
        rec = job.frames[check.idx]
        if rec.state is FrameState.DONE:
            return
        message = (f"{check.paths[0]} was written on {check.node} but is not visible on this machine "
                   f"after {self.policy.grace_seconds:.0f}s: write outputs to a share this machine mounts at "
                   f"the same path, or map the folder in pathmap.json; then 'farmhand retry {job.id}'")
        rec.owners.discard(check.chunk_id)
        job.fail_frames([rec], FailureKind.OUTPUT_MISSING.value, message)
        if not can_move_job(job.state, JobState.FAILED) or job.state is JobState.FAILED:
            return
        job.set_state(JobState.FAILED, error=message, now=now)
        job.event("failed", message, now, node=check.node, frame=rec.frame)
        for task in self.state.tasks_of(job.id):
            self.state.kill(task, StopCause.JOB_ENDED, "the job failed: outputs not on the share", now)

    def _done(self, job: JobRun, idx: int, node: str, chunk_id: int, seconds: Optional[float],
              output: Optional[str], now: float) -> None:
        """The frame is done; a backup copy still rendering only that frame has lost the race."""
        rec = job.frames[idx]
        if rec.state is FrameState.DONE:
            return
        others = [c for c in rec.owners if c != chunk_id]
        job.set_done(rec, node, seconds, output)
        job.stat(node).frames_done += 1
        for other in others:
            task = self.state.tasks.get(other)
            if (
                task is not None
                and not task.kill_reason
                and not [i for i in task.frames if job.frames[i].state is not FrameState.DONE]
            ):
                reason = f"backup race: {node} finished frame {rec.frame} first"
                self.state.kill(task, StopCause.BACKUP_RACE, reason, now)
