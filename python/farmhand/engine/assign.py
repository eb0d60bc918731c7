"""Handing work to free nodes and feeding persistent workers.

Each step, :meth:`Assigner.assign` streams the next frames to ready hython workers, then walks the free
nodes (most cores first) and gives each the next chunk of the first job, by priority then age, that it
may take; with nothing waiting, a free node may re-split a slow chunk or back up its frame in progress.
The decisions themselves (chunk sizes, tail actions) are the pure code in :mod:`farmhand.engine.scheduler`,
explained there; which nodes may take a job is :mod:`farmhand.engine.eligibility`.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

from farmhand.engine import eligibility, noderun
from farmhand.engine.farmrules import FarmRules
from farmhand.engine.jobrun import FrameRec, JobRun
from farmhand.engine.noderun import StopCause, Task, TaskPhase
from farmhand.engine.nodewatch import NodeWatch
from farmhand.engine.scheduler import NodeSpeed, RunningWork, TailKind, chunk_size, job_order, tail_action
from farmhand.engine.state import EngineState, FarmNode
from farmhand.errors import UsageError
from farmhand.frames import contiguous_runs, format_frame
from farmhand.jobs import JobState
from farmhand.presets import CommandContext, PresetMode, worker_protocol
from farmhand.presets.progress import LineParser

log = logging.getLogger(__name__)

WORKER_DEPTH = 2  # frames sent ahead to a persistent worker, so it never waits for the next one
WORKER_SLOW_FRAME = 2.0  # seconds: frames this slow gain nothing from being sent ahead
_TAKING = (JobState.QUEUED, JobState.RUNNING)  # job states that are handed new work


class Assigner:
    """Starts chunks on free nodes and streams frames to persistent workers."""

    def __init__(self, state: EngineState, nodes: NodeWatch) -> None:
        self.state = state
        self.nodes = nodes
        self.rules = FarmRules(state)  # limits, environment, sleeping and waking nodes

    def assign(self, now: float) -> None:
        """One assignment pass: feed workers, give every free node the work it should take, then let the
        farm's rules wake nodes jobs need and put idle ones to sleep."""
        self.rules.begin(now)
        self._assign(now)
        self.rules.end(now, self.state.jobs.values())

    def _assign(self, now: float) -> None:
        self._feed_workers(now)
        jobs = self.state.jobs
        active = [j for j in jobs.values() if j.state in _TAKING]
        order = [jobs[i] for i in job_order([(j.id, j.priority, j.created) for j in active])]
        for job in order:
            self._skip_existing(job, now)
        if not order:
            return
        for node in sorted(self.state.farm.values(), key=lambda n: (-n.cores, n.name)):
            if not self.rules.usable(node.name) or not self.nodes.free(node.name, now):
                continue
            takers = [j for j in order if self._can_take(j, node, now)]
            waiting = next((j for j in takers if j.waiting()), None)
            if waiting is not None:
                self.start_chunk(waiting, node, now)
                continue
            for job in takers:
                if self._tail(job, node, now):
                    break

    def _can_take(self, job: JobRun, node: FarmNode, now: float) -> bool:
        if job.state not in _TAKING or not job.skip_checked or not job.deps_met:
            return False
        if not eligibility.suitable(job, node):
            return False
        stat = job.nodes.get(node.name)
        if stat is not None and stat.backoff_until > now:
            return False
        if (job.spec.single_node or not job.preset.splittable) and self.state.tasks_of(job.id):
            return False
        return self.rules.may_start(job, node)

    # --- starting a chunk -----------------------------------------------------------------------------

    def start_chunk(
        self,
        job: JobRun,
        node: FarmNode,
        now: float,
        recs: Optional[list[FrameRec]] = None,
        backup_of: Optional[int] = None,
    ) -> Optional[Task]:
        """Start the next frames of ``job`` (or ``recs``) on ``node``: a chunk, or a worker session."""
        persistent = job.preset.mode is PresetMode.WORKER
        if recs is None:
            recs = self._take(job, node, persistent)
        if not recs:
            return None
        values = [r.frame for r in recs]
        ctx = CommandContext.for_frames(
            values,
            file=self.state.node_path(job.spec.file, node.name),
            target=job.spec.target,
            output=self.state.node_path(job.spec.output, node.name),
            hfs=eligibility.pick_hfs(job, node),
            farmhand=self.state.node_path(self.state.node_package, node.name),
            extra=self.state.node_values(job, node.name),
        )
        try:
            argv = job.preset.command(ctx)
        except UsageError as exc:
            job.set_state(JobState.FAILED, error=exc.message, now=now)
            job.event("failed", exc.message, now)
            return None
        argv = self.rules.command(job, node.name, argv)
        mapping = [(f.idx, f.frame) for f in job.frames] if persistent else [(r.idx, r.frame) for r in recs]
        chunk_id = self.state.store.insert_chunk(
            job.id, node.name, [] if persistent else [r.idx for r in recs], now,
            backup_of=backup_of, persistent=persistent,
        )
        parser = LineParser(job.preset, [] if persistent else values, alf_scope=job.spec.alf_scope)
        task = Task(
            chunk_id, job.id, node.name, mapping, now, parser, persistent=persistent, backup_of=backup_of
        )
        if persistent:
            task.order = []
        self.state.tasks[chunk_id] = task
        if not persistent:
            job.set_rendering(recs, node.name, chunk_id)
        if job.state is JobState.QUEUED:
            job.set_state(JobState.RUNNING, now=now)
        what = "worker session" if persistent else f"frames {_span(values)}"
        kind = "backup" if backup_of else "assigned"
        backup = f" (backup of chunk {backup_of})" if backup_of else ""
        job.event(kind, f"chunk {chunk_id}: {what}{backup}", now, node=node.name)
        # The node must see Farmhand's package folder; the wrapper checks before anything runs (clear error).
        package = ctx.farmhand if "farmhand" in job.preset.used_placeholders() else None
        task.start(self.state.executor, self.state.submit, argv, require=package or "")
        return task

    def _take(self, job: JobRun, node: FarmNode, persistent: bool) -> list[FrameRec]:
        waiting = job.waiting()
        if not waiting:
            return []
        if persistent:
            return [waiting[0]]  # only sets up the session; frames are streamed by _feed_workers
        first = contiguous_runs([r.frame for r in waiting])[0]
        run = [r for r in waiting if first[0] <= r.frame <= first[1]]
        if job.spec.single_node or not job.preset.splittable:
            return run
        if job.preset.per_frame:
            return run[:1]
        speeds = eligibility.speeds(job, self.state.farm.values())
        me = next((s for s in speeds if s.node == node.name), NodeSpeed(node.name, node.cores))
        size = chunk_size(me, speeds, len(waiting), self.state.policy, job.spec.chunk.frames)
        return run[:size]

    # --- persistent workers ---------------------------------------------------------------------------

    def _worker_depth(self, job: JobRun, task: Task) -> int:
        """Frames in flight for one worker: a second one hides the dispatch gap between short frames;
        slow frames and the tail get one at a time, so the last frames go to whichever worker is free."""
        spf = job.stat(task.node).spf
        workers = sum(1 for t in self.state.tasks_of(job.id) if t.persistent)
        if (spf is not None and spf >= WORKER_SLOW_FRAME) or len(job.waiting()) <= workers:
            return 1
        return WORKER_DEPTH

    def _feed_workers(self, now: float) -> None:
        for task in list(self.state.tasks.values()):
            live_worker = task.persistent and task.phase is TaskPhase.RUNNING and task.ready
            if not live_worker or task.kill_reason:
                continue
            job = self.state.jobs.get(task.job_id)
            if job is not None:
                self._feed(task, job, now)

    def _feed(self, task: Task, job: JobRun, now: float) -> None:
        while (
            job.state is JobState.RUNNING
            and len(task.sent) < self._worker_depth(job, task)
            and job.waiting()
            and not job.stat(task.node).blocked
        ):
            rec = job.waiting()[0]
            job.set_rendering([rec], task.node, task.chunk_id)
            task.order.append(rec.idx)
            task.sent.append(rec.idx)
            if task.current is None:
                task.current_started = now
            task.last_activity = now
            task.write(worker_protocol.render_command(rec.frame))
        if not task.sent and not task.closing and (job.state is not JobState.RUNNING or not job.waiting()):
            task.closing = True
            task.write(worker_protocol.quit_command())

    # --- the tail: re-split and backups ---------------------------------------------------------------

    def _tail(self, job: JobRun, node: FarmNode, now: float) -> bool:
        """A free node and nothing waiting: re-split a slow chunk or back up its frame in progress."""
        works = self._running_work(job, node, now)
        if not works:
            return False
        stat = job.nodes.get(node.name)
        spf, startup = (stat.spf, stat.startup) if stat else (None, 0.0)
        action = tail_action(spf, startup, works, self.state.policy)
        if action is None:
            return False
        victim = self.state.tasks[action.chunk_id]
        if action.kind is TailKind.STEAL:
            return self._steal(job, node, victim, action.frames, now)
        if victim.current is None:
            return False
        recs = [job.frames[victim.current]]
        return self.start_chunk(job, node, now, recs=recs, backup_of=victim.chunk_id) is not None

    def _running_work(self, job: JobRun, node: FarmNode, now: float) -> list[RunningWork]:
        """The job's chunks on other nodes, as the tail decision sees them."""
        tasks = self.state.tasks.values()
        fallback = eligibility.job_spf(job) or 1.0
        works = []
        for t in self.state.tasks_of(job.id):
            if t.persistent or t.kill_reason or t.node == node.name:
                continue
            spf = job.stat(t.node).spf or fallback
            if t.current is not None and t.current_started is not None:
                left = max(spf - (now - t.current_started), 0.05 * spf)
            else:
                # No frame started yet (the renderer is starting or loading the scene) or between
                # frames: only the rest of its start is left, not a frame. Counting a whole frame here
                # made equal free nodes take a fresh chunk's frames from each other forever.
                left = max(job.stat(t.node).startup - (now - t.started), 0.0)
            backed = t.backup_of is not None or any(o.backup_of == t.chunk_id for o in tasks)
            pending, busy = len(t.pending()), t.current is not None
            works.append(RunningWork(t.chunk_id, t.node, pending, left, spf, busy, backed))
        return works

    def _steal(self, job: JobRun, node: FarmNode, victim: Task, frames: int, now: float) -> bool:
        """Move the last ``frames`` pending frames of ``victim`` to a new chunk on ``node``."""
        taken = victim.pending()[-frames:]
        victim.stolen.update(taken)
        recs = [job.frames[i] for i in taken]
        for rec in recs:
            rec.owners.discard(victim.chunk_id)
        job.event(
            "resplit",
            f"{len(recs)} frames ({_span([r.frame for r in recs])}) moved from "
            f"{victim.node} (chunk {victim.chunk_id}) to {node.name}",
            now,
            node=node.name,
        )
        if not victim.pending() and victim.current is None:
            self.state.kill(victim, StopCause.RESPLIT, "all its frames were re-split to other nodes", now)
        return self.start_chunk(job, node, now, recs=recs) is not None

    # --- --skip-existing ------------------------------------------------------------------------------

    def _skip_existing(self, job: JobRun, now: float) -> None:
        """Once per job: frames whose output already exists are done without rendering."""
        if job.skip_checked:
            return
        recs = [r for r in job.waiting() if r.output]
        paths = [r.output or "" for r in recs]
        if not recs:
            job.skip_checked = True
            return
        pending = job.skip_future
        if pending is None:
            if not noderun.outputs_visible(paths):
                self._skip_check_on_node(job, paths)
                return
            answers: Any = noderun.check_local(paths)
        else:
            if not pending.done():
                return
            job.skip_future = None
            try:
                answers = pending.result()
            except Exception as exc:
                job.event("skip_existing", f"could not check existing outputs ({exc}); rendering all", now)
                job.skip_checked = True
                return
        existing = [r for r, ok in zip(recs, answers) if ok]
        for rec in existing:
            job.set_done(rec, rec.node or "-", None, rec.output)
        job.skip_checked = True
        job.event("skip_existing", f"{len(existing)} of {len(recs)} frames already had their output", now)

    def _skip_check_on_node(self, job: JobRun, paths: list[str]) -> None:
        node = next(iter(eligibility.eligible_nodes(job, self.state.farm.values())), None)
        if node is None:
            return
        there = [self.state.node_path(p, node.name) or p for p in paths]
        job.skip_future = self.state.submit(noderun.check_remote, self.state.executor, node.name, there)


def _span(frames: list[Any]) -> str:
    if not frames:
        return "-"
    if len(frames) == 1:
        return format_frame(frames[0])
    return f"{format_frame(frames[0])}-{format_frame(frames[-1])}"
