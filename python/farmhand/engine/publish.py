"""Publishing progress: the per-node rows and the ETA clients read, written only when they changed.

Clients poll the store's change counter (:meth:`farmhand.engine.store.Store.version`), so every write
wakes them: a row identical to the one last written is not written again.
"""

from __future__ import annotations

from typing import Optional

from farmhand.engine.jobrun import JobRun
from farmhand.engine.noderun import Task
from farmhand.engine.nodewatch import NodeWatch
from farmhand.engine.scheduler import eta_seconds
from farmhand.engine.state import EngineState
from farmhand.jobs import FrameState, NodeActivity, NodeRow


class Publisher:
    """Writes what clients show about each active job: one row per node, and the job's ETA."""

    def __init__(self, state: EngineState, nodes: NodeWatch, *, shared: bool = False) -> None:
        self.state = state
        self.nodes = nodes
        # On a shared farm a job's node rows are written by the dispatcher that rendered on the node:
        # this one writes only the rows of nodes it rendered the job on.
        self.shared = shared
        self._mine: set[tuple[str, str]] = set()
        self._rates: dict[str, tuple[float, list[float]]] = {}  # job -> (until, the farm's frame rates)
        self._rows: dict[tuple[str, str], NodeRow] = {}  # (job, node) -> the row last written
        self._etas: dict[str, Optional[float]] = {}  # job -> the ETA last written

    def publish(self, now: float) -> None:
        for job in self.state.jobs.values():
            self.publish_job(job, now)

    def retire(self, job: JobRun, now: float) -> None:
        """A finished job leaves the working set; its node rows are written one last time (idle)."""
        self.publish_job(job, now)
        self.forget(job.id)

    def reset(self) -> None:
        """Forget every row written: the next publish writes them all again."""
        self._rows.clear()
        self._etas.clear()

    def forget(self, job_id: str) -> None:
        """The job leaves the working set (finished, or failed by an internal error): nothing of it is
        remembered here any more."""
        self.state.jobs.pop(job_id, None)
        self._etas.pop(job_id, None)
        for key in [k for k in self._rows if k[0] == job_id]:
            del self._rows[key]
        self._mine = {k for k in self._mine if k[0] != job_id}

    def publish_job(self, job: JobRun, now: float) -> None:
        """Per-node rows and the job ETA, written only when they changed."""
        mine = self.state.tasks_of(job.id)
        tasks = {t.node: t for t in mine if t.backup_of is None}
        tasks.update({t.node: t for t in mine if t.node not in tasks})
        rates = []
        nodes = set(job.nodes) | set(tasks)
        if self.shared:
            self._mine.update((job.id, n) for n in tasks)
            nodes = {n for n in nodes if (job.id, n) in self._mine}
        for node in sorted(nodes):
            row = self.row(job, node, tasks.get(node), now)
            if row.seconds_per_frame and node in tasks:
                rates.append(1.0 / row.seconds_per_frame)
            key = (job.id, node)
            if self._rows.get(key) != row:
                self._rows[key] = row
                self.state.store.set_progress(job.id, row)
        remaining = job.count(FrameState.WAITING, FrameState.RETRYING, FrameState.RENDERING)
        if self.shared:
            if not mine and not job.state.finished:
                return  # the dispatchers rendering it keep its ETA
            rates = self._farm_rates(job.id, now)
        eta = eta_seconds(remaining, rates) if not job.state.finished else None
        eta = None if eta is None else float(round(eta))
        if self._etas.get(job.id, -1.0) != eta:
            self._etas[job.id] = eta
            self.state.store.update_job(job.id, eta=eta)

    def _farm_rates(self, job_id: str, now: float) -> list[float]:
        """Frames per second of every node rendering the job, whichever dispatcher runs it (read from
        the node rows at most once a second): one dispatcher's own nodes would make its ETA too long."""
        cached = self._rates.get(job_id)
        if cached is not None and now < cached[0]:
            return cached[1]
        rows = self.state.store.progress(job_id)
        rates = [1.0 / r.seconds_per_frame for r in rows if r.seconds_per_frame
                 and r.state in (NodeActivity.RENDERING, NodeActivity.STARTING)]
        self._rates[job_id] = (now + 1.0, rates)
        return rates

    def row(self, job: JobRun, node: str, task: Optional[Task], now: float) -> NodeRow:
        """What ``node`` is doing for ``job``: its running task, or why it is idle."""
        if task is not None:
            return self._working(job, task, now)
        stat = job.stat(node)
        state, message = NodeActivity.IDLE, stat.message
        if stat.blocked:
            state = NodeActivity.BLOCKED
        elif stat.backoff_until > now:
            state = NodeActivity.BACKOFF
        elif self.nodes.backed_off(node, now):
            state, message = self.nodes.away(node)
        spf = None if stat.spf is None else round(stat.spf, 3)
        return NodeRow(node, state, None, None, stat.frames_done, spf, None, 0, 0, message)

    @staticmethod
    def _working(job: JobRun, task: Task, now: float) -> NodeRow:
        stat = job.stat(task.node)
        spf = stat.spf
        current = task.frame_of.get(task.current) if task.current is not None else None
        working = task.first_frame_at is not None or (task.persistent and task.ready)
        eta = None
        if spf:
            elapsed = now - task.current_started if task.current_started is not None else 0.0
            left = max(spf - elapsed, 0.0) if task.current is not None else 0.0
            if task.persistent:
                queued = len(task.sent) - (1 if task.current is not None else 0)
            else:
                queued = len(task.pending())
            eta = float(round(left + max(queued, 0) * spf, 1))
        return NodeRow(
            task.node,
            NodeActivity.RENDERING if working else NodeActivity.STARTING,
            current,
            None if task.percent is None else round(task.percent, 1),
            stat.frames_done,
            None if spf is None else round(spf, 3),
            eta,
            len(task.frames),
            len(task.done),
            None,
        )
