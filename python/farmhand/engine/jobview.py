"""One job as the scheduling policy sees it at one moment, and what one assignment pass reuses.

:class:`JobView` describes a job to :mod:`farmhand.engine.scheduler`: its team (the eligible nodes that
are free for it or run it) with their speeds, and its tasks in flight as
:class:`~farmhand.engine.scheduler.RunningWork`. :class:`Pass` holds what the assigner computes once per
pass instead of once per free node, which keeps a pass over a large farm near-linear in its size.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Optional

from farmhand.engine import eligibility
from farmhand.engine.estimates import Estimates, NodeSpeed, work_left
from farmhand.engine.jobrun import FrameRec, JobRun
from farmhand.engine.scheduler import RunningWork
from farmhand.engine.state import EngineState, FarmNode


class JobView:
    """One job as the policy sees it at one moment: its team (the eligible nodes that are free for it or
    run it) with their speeds, and its tasks in flight as :class:`RunningWork`."""

    def __init__(
        self, state: EngineState, job: JobRun, free: Collection[str], now: float,
        speeds: Optional[list[NodeSpeed]] = None, cache: Optional[dict[int, RunningWork]] = None,
    ) -> None:
        tasks = [t for t in state.tasks_of(job.id) if not t.kill_reason and not t.draining]
        running = {t.node for t in tasks}
        if speeds is None:
            speeds = eligibility.speeds(job, state.farm.values())
        self.team = [s for s in speeds if s.node in running or s.node in free]
        known = Estimates(self.team)
        by_node = {s.node: s for s in self.team}
        backed = {t.backup_of for t in tasks if t.backup_of is not None}
        self.works: dict[int, RunningWork] = {}
        fallback = eligibility.job_spf(job) or 1.0
        cache = {} if cache is None else cache  # tasks do not change during one assignment pass
        for t in tasks:
            if t.chunk_id in cache:
                self.works[t.chunk_id] = cache[t.chunk_id]
                continue
            speed = by_node.get(t.node, NodeSpeed(t.node))
            spf = known.spf(speed) or fallback
            left, spf = work_left(spf, speed.startup_seconds, t.started, t.current_started, now)
            doubled = t.current is not None and len(job.frames[t.current].owners) > 1
            is_backed = t.backup_of is not None or t.chunk_id in backed or doubled
            self.works[t.chunk_id] = cache[t.chunk_id] = RunningWork(
                t.chunk_id, t.node, len(t.pending()), left, spf, t.current is not None, is_backed,
                t.persistent,
            )
        self.by_node = by_node

    def me(self, node: FarmNode, loaded: bool = False) -> NodeSpeed:
        """The asking node (a loaded worker asks with no start cost: it pays none for more frames)."""
        speed = self.by_node.get(node.name, NodeSpeed(node.name, node.cores))
        if loaded:
            return NodeSpeed(speed.node, speed.cores, speed.seconds_per_frame, 0.0, speed.weight)
        return speed

    def others(self, node: str) -> list[RunningWork]:
        return [w for w in self.works.values() if w.node != node]


class Pass:
    """What one assignment pass reuses from one free node to the next: each job's waiting frames (read
    again once it started something), the speeds of its eligible nodes and which nodes may join it. It
    keeps a pass over a large farm from repeating per node what is per job."""

    def __init__(self) -> None:
        self.waiting: dict[str, list[FrameRec]] = {}
        self.speeds: dict[str, list[NodeSpeed]] = {}
        self.joinable: dict[str, set[str]] = {}
        self.works: dict[int, RunningWork] = {}  # chunk id -> as the policy sees it (valid for the pass)
        self.asked: set[str] = set()  # jobs some free node asked about
        self.known: dict[str, Estimates] = {}  # job -> estimates over its eligible nodes
        self.by_node: dict[str, dict[str, NodeSpeed]] = {}  # job -> its eligible nodes by name
        self.passed: dict[str, list[tuple[float, float]]] = {}  # job -> (spf, start) of nodes that passed
        self.served: set[str] = set()  # jobs that gave some free node work

    def waiting_of(self, job: JobRun) -> list[FrameRec]:
        if job.id not in self.waiting:
            self.waiting[job.id] = job.waiting()
        return self.waiting[job.id]
