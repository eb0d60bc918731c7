"""Who is to blame for a failure: the frame (an attempt), the node (blocklist, backoff) or the job.

Per classified :class:`farmhand.presets.failures.Failure`:

* an attempt is counted only when the frame itself may be at fault (crash, OOM, stall, unknown, scene
  errors) — never for licence waits, lost connections, cancellations or a full disk;
* ``blame_node`` failures count against the node; ``Retry.node_failures_to_block`` of them blocklist it
  for the job;
* licence failures back the node off for the job (doubling) without blame; an unreachable node backs
  off for every job and is checked for leftovers before reuse;
* deterministic failures (missing file, scene load, bad command, output missing) fail the whole job as
  soon as ``Retry.agree_to_fail`` different nodes (or every eligible node, if fewer) reported the same
  kind; a missing output needs a few frames more, since one lost file is more likely a flaky write.
"""

from __future__ import annotations

from collections.abc import Sequence

from farmhand.engine.eligibility import eligible_nodes
from farmhand.engine.jobrun import JobRun
from farmhand.engine.noderun import StopCause, Task
from farmhand.engine.nodewatch import NodeWatch
from farmhand.engine.state import EngineState
from farmhand.jobs import JobState
from farmhand.presets.failures import Failure, FailureKind

# Failures that say nothing about the frame itself: its attempt counter does not move.
_NOT_THE_FRAME = {FailureKind.LICENCE, FailureKind.UNREACHABLE, FailureKind.CANCELLED, FailureKind.DISK_FULL}


class Blame:
    """Applies a failure to the frames, the node and the job it concerns."""

    def __init__(self, state: EngineState, nodes: NodeWatch) -> None:
        self.state = state
        self.nodes = nodes

    def chunk_failed(
        self, task: Task, job: JobRun, idxs: Sequence[int], failure: Failure, now: float
    ) -> None:
        """``task`` failed on frames ``idxs`` (the one it died on; none when it never started one)."""
        node, retry = task.node, self.state.retry
        message = f"{node}: {failure.message}"
        count = failure.kind not in _NOT_THE_FRAME
        for idx in idxs:
            job.fail_attempt(job.frames[idx], task.chunk_id, failure.kind.value, message, retry, count=count)
        job.event("chunk_failed", f"{failure.kind.value}: {failure.message}", now, node=node)
        stat = job.stat(node)
        if failure.kind is FailureKind.LICENCE:
            stat.licence_repeats += 1
            delay = retry.licence_delay(stat.licence_repeats)
            stat.backoff_until = now + delay
            stat.message = f"licence unavailable; retrying in {delay:.0f}s"
        elif failure.kind is FailureKind.UNREACHABLE:
            self.nodes.back_off(node, now + retry.unreachable_backoff, failure.message)
            if task.pgid is not None:
                self.nodes.check_before_reuse(node, task.pgid, job.id, task.chunk_id)
        elif failure.backoff_seconds:
            stat.backoff_until = now + failure.backoff_seconds
        if failure.blame_node:
            stat.failures += 1
            if stat.failures >= retry.node_failures_to_block and not stat.blocked:
                stat.blocked = True
                stat.message = f"blocklisted for this job after {stat.failures} failures: {failure.message}"
                job.event("blocklisted", stat.message, now, node=node)
        self.agree(job, node, failure, now)

    def frame_failed_after_end(
        self, job: JobRun, node: str, chunk_id: int, idx: int, failure: Failure, now: float
    ) -> None:
        """A frame of a chunk that has already ended failed (its outputs were checked late)."""
        message = f"{node}: {failure.message}"
        rec = job.frames[idx]
        job.fail_attempt(rec, chunk_id, failure.kind.value, message, self.state.retry)
        what = f"frame {rec.frame}: {failure.kind.value}: {failure.message}"
        job.event("frame_failed", what, now, node=node, frame=rec.frame)
        self.agree(job, node, failure, now)

    def agree(self, job: JobRun, node: str, failure: Failure, now: float) -> None:
        """Fail the job once enough nodes reported the same deterministic failure."""
        if not failure.deterministic or job.state.finished:
            return
        nodes = job.agree.setdefault(failure.kind.value, set())
        nodes.add(node)
        eligible = len(eligible_nodes(job, self.state.farm.values()))
        needed = max(1, min(self.state.retry.agree_to_fail, eligible or 1))
        if failure.kind is FailureKind.OUTPUT_MISSING:
            job.missing_outputs += 1
            if job.missing_outputs < self.state.retry.agree_to_fail + 1:
                return
        if len(nodes) >= needed:
            error = f"{failure.kind.value} on {len(nodes)} node(s): {failure.message}"
            job.set_state(JobState.FAILED, error=error, now=now)
            job.event("failed", error, now)
            for other in self.state.tasks_of(job.id):
                self.state.kill(other, StopCause.JOB_ENDED, "the job failed", now)
