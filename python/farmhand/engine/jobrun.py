"""The dispatcher's working copy of one active job: frames, per-node statistics, failure bookkeeping.

These are the only mutable objects of the engine and they belong to the dispatcher's thread. Every
change that matters goes through :class:`JobRun` methods, which also write it to the store, so the
store is always a faithful copy (a restarted dispatcher rebuilds a ``JobRun`` from it).
"""

from __future__ import annotations

import logging
import statistics
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Optional

from farmhand.engine.store import KEEP, Change, Store
from farmhand.engine.transitions import move_job
from farmhand.frames import Frame
from farmhand.jobs import FrameState, JobSpec, JobState, NodeActivity, Retry
from farmhand.presets import Preset, load_preset

log = logging.getLogger(__name__)


@dataclass
class FrameRec:
    idx: int
    frame: Frame
    state: FrameState
    output: Optional[str]  # the expected output path (from the job's output pattern)
    node: Optional[str] = None
    attempts: int = 0
    owners: set[int] = field(default_factory=set)  # chunk ids currently rendering it (2 with a backup)
    written: list[str] = field(default_factory=list)  # outputs the renderer reported for it


@dataclass
class NodeStat:
    """One node's record on one job."""

    spf: Optional[float] = None  # measured seconds per frame (EWMA)
    startup: float = 0.0  # measured seconds from launch to first frame start
    frames_done: int = 0
    failures: int = 0  # failures blamed on the node
    blocked: bool = False
    licence_repeats: int = 0
    backoff_until: float = 0.0
    message: Optional[str] = None


class JobRun:
    """An active job as the dispatcher sees it."""

    def __init__(
        self,
        store: Store,
        job_id: str,
        spec: JobSpec,
        state: JobState,
        priority: int,
        created: float,
        frames: list[FrameRec],
    ) -> None:
        self.store = store
        self.id = job_id
        self.spec = spec
        self.state = state
        self.priority = priority
        self.created = created
        self.frames = frames
        self.by_frame = {f.frame: f for f in frames}
        self.ordered = all(a.frame < b.frame for a, b in zip(frames, frames[1:]))  # ascending frames
        self.nodes: dict[str, NodeStat] = {}
        self.agree: dict[str, set[str]] = {}  # deterministic failure kind -> nodes that reported it
        self.error: Optional[str] = None
        self.missing_outputs = 0
        self.warned_no_nodes = False
        self.preset: Preset = load_preset(spec.preset)
        if self.preset.needs_command and spec.command:
            self.preset = self.preset.with_command(spec.command)
        self.skip_checked = not spec.skip_existing
        self.skip_future: Optional[Future[object]] = None  # the outputs check on a node, in flight
        self.deps_met = not spec.after  # checked against the store each step until every one is done
        self.prior: dict[str, float] = {}  # node -> speed relative to the farm, from earlier jobs

    @classmethod
    def load(cls, store: Store, job_id: str) -> JobRun:
        head = store.job(job_id)
        spec = store.spec(job_id)
        frames = [
            FrameRec(idx=i, frame=r.frame, state=r.state, output=r.output, node=r.node, attempts=r.attempts)
            for i, r in enumerate(store.frames(job_id))
        ]
        run = cls(store, job_id, spec, head.state, head.priority, head.created, frames)
        run.error = head.error
        run.prior = farm_speeds(store, job_id)
        for prog in store.progress(job_id):
            stat = run.stat(prog.node)
            stat.spf = prog.seconds_per_frame
            stat.frames_done = prog.frames_done
            stat.blocked = prog.state is NodeActivity.BLOCKED
            stat.message = prog.message
        return run

    def stat(self, node: str) -> NodeStat:
        return self.nodes.setdefault(node, NodeStat())

    # --- frame transitions (each written to the store) ----------------------------------------------

    def waiting(self) -> list[FrameRec]:
        return [f for f in self.frames if f.state in (FrameState.WAITING, FrameState.RETRYING)]

    def count(self, *states: FrameState) -> int:
        return sum(1 for f in self.frames if f.state in states)

    def set_rendering(self, recs: list[FrameRec], node: str, chunk_id: int) -> None:
        for rec in recs:
            rec.state = FrameState.RENDERING
            rec.node = node
            rec.owners.add(chunk_id)
        self.store.update_frames(self.id, [r.idx for r in recs], state=FrameState.RENDERING, node=node)

    def set_done(self, rec: FrameRec, node: str, seconds: Optional[float], output: Optional[str]) -> None:
        rec.state = FrameState.DONE
        rec.node = node
        rec.owners.clear()
        self.store.update_frames(
            self.id,
            [rec.idx],
            state=FrameState.DONE,
            node=node,
            seconds=seconds,
            output=output or rec.output,
            error_kind=None,
            error_message=None,
        )

    def release(self, rec: FrameRec, chunk_id: int) -> None:
        """The chunk no longer renders ``rec`` and nothing went wrong with the frame (cancel, busy, lost)."""
        rec.owners.discard(chunk_id)
        if rec.state is FrameState.RENDERING and not rec.owners:
            rec.state = FrameState.RETRYING if rec.attempts else FrameState.WAITING
            self.store.update_frames(self.id, [rec.idx], state=rec.state)

    def fail_attempt(
        self, rec: FrameRec, chunk_id: int, kind: str, message: str, retry: Retry, count: bool = True
    ) -> None:
        """One attempt at ``rec`` failed; it is retried unless it is out of attempts."""
        rec.owners.discard(chunk_id)
        if rec.state is FrameState.DONE or rec.owners:
            return  # another copy (backup) is still rendering it, or already rendered it
        if count:
            rec.attempts += 1
        rec.state = FrameState.FAILED if rec.attempts >= retry.max_attempts else FrameState.RETRYING
        self.store.update_frames(
            self.id,
            [rec.idx],
            state=rec.state,
            attempts=rec.attempts,
            error_kind=kind,
            error_message=message[:500],
        )

    def fail_frames(self, recs: list[FrameRec], kind: str, message: str) -> None:
        """``recs`` cannot be rendered now (a dependency failed); no attempt is counted."""
        for rec in recs:
            rec.state = FrameState.FAILED
        self.store.update_frames(
            self.id, [r.idx for r in recs], state=FrameState.FAILED, error_kind=kind, error_message=message
        )

    def reset_attempts(self, rec: FrameRec) -> None:
        rec.attempts = 0
        self.store.update_frames(self.id, [rec.idx], attempts=0)

    def requeue(self, rec: FrameRec, reason: str) -> None:
        rec.state = FrameState.WAITING
        rec.owners.clear()
        self.store.update_frames(self.id, [rec.idx], state=rec.state, error_kind=None, error_message=reason)

    def set_state(self, state: JobState, error: Optional[str] = None, now: Optional[float] = None) -> None:
        """Move the job to ``state`` (refused by :mod:`farmhand.engine.transitions` if illegal); an
        ``error`` given replaces the job's error ("" clears it)."""
        self.state = move_job(self.state, state)
        change: Change[Optional[str]] = KEEP
        if error is not None:
            self.error = change = error
        self.store.update_job(self.id, state=state, error=change, now=now)

    def event(
        self, kind: str, message: str, now: float, node: Optional[str] = None, frame: Optional[Frame] = None
    ) -> None:
        log.info("job %s: %s %s", self.id, kind, message)
        self.store.add_event(self.id, kind, message, node=node, frame=frame, now=now)


#: How many of the last finished jobs the farm's speed memory looks at.
PRIOR_JOBS = 10
#: A remembered speed is kept within this factor of the farm's median either way: one bad measurement
#: (frame lines that reached the dispatcher in a burst) must not hand a node most of the next job.
PRIOR_SPREAD = 8.0


def farm_speeds(store: Store, besides: str, jobs: int = PRIOR_JOBS) -> dict[str, float]:
    """Each node's speed relative to the others, as the last ``jobs`` finished jobs measured it.

    Within one job, a node's frames per second over the median of that job's measured nodes (those that
    rendered two frames or more), kept within :data:`PRIOR_SPREAD`; across jobs, the median. A node's
    relative speed carries over from job to job far better than its cores do, so the first chunks of a
    new job are shared by it (see :mod:`farmhand.engine.scheduler`); the job's own measurements replace
    it as they arrive. Jobs with fewer than two measured nodes say nothing.
    """
    samples: dict[str, list[float]] = {}
    for job_id in [j for j in store.job_ids((JobState.DONE,)) if j != besides][-jobs:]:
        rates = {r.node: 1.0 / r.seconds_per_frame for r in store.progress(job_id)
                 if r.seconds_per_frame and r.seconds_per_frame > 0 and r.frames_done >= 2}
        if len(rates) < 2:
            continue
        middle = statistics.median(rates.values())
        for node, rate in rates.items():
            samples.setdefault(node, []).append(min(max(rate / middle, 1 / PRIOR_SPREAD), PRIOR_SPREAD))
    return {node: statistics.median(values) for node, values in samples.items()}
