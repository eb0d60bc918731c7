"""Handing work to free nodes and feeding persistent workers.

Each step, :meth:`Assigner.assign` streams the next frames to loaded hython workers, then walks the free
nodes (most cores first) and asks the policy what each should do for the first job, by priority then age,
that it may take: start a chunk of waiting frames, re-split a slow chunk, back up a frame in progress, or
nothing (the job's other nodes finish its frames sooner; the node may serve the next job). The decisions
themselves are the pure code in :mod:`farmhand.engine.scheduler`, explained there; this module only
describes the job's nodes and chunks to it (:class:`~farmhand.engine.jobview.JobView`) and carries out
what it says. Which nodes may take a job is :mod:`farmhand.engine.eligibility`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Optional

from farmhand.engine import eligibility, noderun
from farmhand.engine.farmrules import FarmRules
from farmhand.engine.jobrun import FrameRec, JobRun
from farmhand.engine.jobview import JobView, Pass
from farmhand.engine.noderun import StopCause, Task, TaskPhase
from farmhand.engine.nodewatch import NodeWatch
from farmhand.engine.scheduler import (
    DecisionKind,
    Estimates,
    NodeSpeed,
    job_order,
    next_work,
    tail_action,
    worker_holding,
)
from farmhand.engine.state import EngineState, FarmNode
from farmhand.engine.team import Team
from farmhand.errors import UsageError
from farmhand.frames import contiguous_runs, format_frame
from farmhand.jobs import JobState
from farmhand.presets import CommandContext, PresetMode, worker_protocol
from farmhand.presets.progress import LineParser

log = logging.getLogger(__name__)

_TAKING = (JobState.QUEUED, JobState.RUNNING)  # job states that are handed new work
#: Seconds before a job every free node passed on is asked again when nothing about it changed (its
#: tasks, their finished frames, its waiting frames): the policy's answer only drifts with time.
QUIET_SECONDS = 0.25


class Assigner:
    """Starts chunks on free nodes and streams frames to persistent workers."""

    def __init__(self, state: EngineState, nodes: NodeWatch, team: Optional[Team] = None) -> None:
        self.state = state
        self.nodes = nodes
        self.team = team  # a shared farm: jobs are offered in fair-share order
        self.rules = FarmRules(state)  # limits, environment, sleeping and waking nodes
        self._quiet: dict[str, tuple[float, tuple[int, int, int]]] = {}  # job -> (until, what it was)

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
        # Nodes with a task that is still rendering are not free: skip them before NodeWatch.free, which
        # looks at every task (a pass over a large farm stays linear in its size).
        occupied = {t.node for t in self.state.tasks.values() if not t.draining}
        farm = sorted(self.state.farm.values(), key=lambda n: (-n.cores, n.name))
        free = [n for n in farm if n.name not in occupied and self.rules.usable(n.name)
                and self.nodes.free(n.name, now)]
        names = {n.name for n in free}
        memo = Pass()
        asking = [j for j in order if not self._still_quiet(j, now, memo)] if free else []
        given: dict[str, int] = {}  # nodes handed out in this pass, by fair-share account
        for node in free:
            offered = self.team.order(asking, given) if self.team is not None else asking
            takers = [j for j in offered if self._can_take(j, node, now)]
            served = self._first_served(takers, node, names, now, memo)
            if served is not None:
                names.discard(node.name)
                if self.team is not None:
                    account = self.team.account(served)
                    given[account] = given.get(account, 0) + 1
        self._quiet = {j.id: (now + QUIET_SECONDS, self._signature(j, memo)) for j in order
                       if j.id in memo.asked and j.id not in memo.served} | {
            j.id: self._quiet[j.id] for j in order if j.id in self._quiet and j.id not in memo.asked}

    def _first_served(self, takers: list[JobRun], node: FarmNode, names: set[str], now: float,
                      memo: Pass) -> Optional[JobRun]:
        """The first of ``takers`` that gives ``node`` work; waiting frames of any job come before the
        tail of a higher-priority one."""
        for tail in (False, True):
            for job in takers:
                if bool(memo.waiting_of(job)) is not tail and self._serve(job, node, names, now, memo):
                    return job
        return None

    def _signature(self, job: JobRun, memo: Pass) -> tuple[int, int, int]:
        tasks = self.state.tasks_of(job.id)
        return len(tasks), sum(len(t.done) for t in tasks), len(memo.waiting_of(job))

    def _still_quiet(self, job: JobRun, now: float, memo: Pass) -> bool:
        """Every free node passed on the job a moment ago and nothing about it changed since."""
        quiet = self._quiet.get(job.id)
        return quiet is not None and now < quiet[0] and quiet[1] == self._signature(job, memo)

    def _can_take(self, job: JobRun, node: FarmNode, now: float) -> bool:
        return self._may_join(job, node, now) and self.rules.may_start(job, node)

    def _may_join(self, job: JobRun, node: FarmNode, now: float) -> bool:
        """The job may have work for the node (the farm's limits aside: they are asked only when it would
        start something, and they note why a job waits)."""
        if job.state not in _TAKING or not job.skip_checked or not job.deps_met:
            return False
        if not eligibility.suitable(job, node):
            return False
        stat = job.nodes.get(node.name)
        if stat is not None and stat.backoff_until > now:
            return False
        return not ((job.spec.single_node or not job.preset.splittable) and self.state.tasks_of(job.id))

    def _serve(self, job: JobRun, node: FarmNode, free: set[str], now: float, memo: Pass) -> bool:
        """Do for ``job`` what the policy says ``node`` should; True when the node got work."""
        memo.asked.add(job.id)
        served = self._carry_out(job, node, free, now, memo)
        if served:
            memo.served.add(job.id)
        return served

    def _carry_out(self, job: JobRun, node: FarmNode, free: set[str], now: float, memo: Pass) -> bool:
        waiting = memo.waiting_of(job)
        persistent = job.preset.mode is PresetMode.WORKER
        if persistent and not waiting:
            return False  # a new worker would first load the scene: the tail is for loaded workers
        if waiting and (job.spec.single_node or not job.preset.splittable):
            memo.waiting.pop(job.id, None)
            return self.start_chunk(job, node, now) is not None
        if job.id not in memo.speeds:
            memo.speeds[job.id] = eligibility.speeds(job, self.state.farm.values())
            memo.joinable[job.id] = {n for n in free if self._may_join(job, self.state.farm[n], now)}
            memo.known[job.id] = Estimates(memo.speeds[job.id])
            memo.by_node[job.id] = {n.node: n for n in memo.speeds[job.id]}
        mine = self._estimate(job, node, memo)
        # A node that passed on the job means one no faster and with no cheaper start passes too (its
        # share and any re-split it could make are no larger): a large farm's tail is looked at once.
        if any(mine[0] >= spf and mine[1] >= start for spf, start in memo.passed.get(job.id, ())):
            return False
        team = memo.joinable[job.id] & free
        view = JobView(self.state, job, team, now, memo.speeds[job.id], memo.works)
        fixed = 1 if job.preset.per_frame else job.spec.chunk.frames
        decision = next_work(view.me(node), view.team, len(waiting), view.others(node.name),
                             self.state.policy, fixed)
        if decision is None:
            memo.passed.setdefault(job.id, []).append(mine)
            return False
        memo.waiting.pop(job.id, None)
        if decision.kind is DecisionKind.TAKE:
            recs = self._take(job, decision.frames, persistent, waiting)
            started = self.start_chunk(job, node, now, recs=recs) is not None
            if started and not persistent and waiting[: len(recs)] == recs:
                memo.waiting[job.id] = waiting[len(recs):]  # the usual case: the first frames were taken
            return started
        victim = self.state.tasks.get(decision.chunk_id or -1)
        if victim is None:
            return False
        memo.works.pop(victim.chunk_id, None)  # it loses frames or gains a backup
        if decision.kind is DecisionKind.STEAL:
            return self._steal(job, node, victim, decision.frames, now)
        if victim.current is None:
            return False
        recs = [job.frames[victim.current]]
        return self.start_chunk(job, node, now, recs=recs, backup_of=victim.chunk_id) is not None

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
            recs = self._take(job, None, persistent)
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

    @staticmethod
    def _estimate(job: JobRun, node: FarmNode, memo: Pass) -> tuple[float, float]:
        """(seconds per frame, start cost) of ``node`` on ``job`` as the policy estimates them now."""
        known = memo.known[job.id]
        speed = memo.by_node[job.id].get(node.name) or NodeSpeed(node.name, node.cores)
        return known.spf(speed) or float("inf"), known.start(speed)

    def _take(
        self, job: JobRun, frames: Optional[int], persistent: bool, waiting: Optional[list[FrameRec]] = None
    ) -> list[FrameRec]:
        """The next ``frames`` waiting frames in one run (None: the whole run, for single-node jobs)."""
        waiting = job.waiting() if waiting is None else waiting
        if not waiting:
            return []
        if persistent:
            return [waiting[0]]  # only sets up the session; frames are streamed by _feed_workers
        # Frames in order: the first run of the first frames+2 is the first run (its step confirmed).
        head = waiting[: frames + 2] if frames is not None and job.ordered else waiting
        first = contiguous_runs([r.frame for r in head])[0]
        run = [r for r in head if first[0] <= r.frame <= first[1]]
        return run if frames is None else run[:frames]

    # --- persistent workers ---------------------------------------------------------------------------

    def _feed_workers(self, now: float) -> None:
        for task in list(self.state.tasks.values()):
            live_worker = task.persistent and task.phase is TaskPhase.RUNNING and task.ready
            if not live_worker or task.kill_reason:
                continue
            job = self.state.jobs.get(task.job_id)
            if job is not None:
                self._feed(task, job, now)

    def _feed(self, task: Task, job: JobRun, now: float) -> None:
        """Send the worker frames up to what the policy says it should hold; an idle worker with nothing
        waiting re-splits or backs up another worker's frame, or is told to quit."""
        running = job.state is JobState.RUNNING and not job.stat(task.node).blocked
        if running and job.waiting():
            view = JobView(self.state, job, [], now)
            me = view.me(self.state.farm.get(task.node, FarmNode(task.node)), loaded=True)
            mine = view.works.get(task.chunk_id)
            if mine is not None:
                want = worker_holding(me, view.team, len(job.waiting()), mine, view.others(task.node),
                                      self.state.policy)
                self._send(task, job, job.waiting()[: max(0, want - len(task.sent))], now)
        if task.sent or task.closing:
            return
        if running and not job.waiting() and self._worker_tail(task, job, now):
            return
        if job.state is not JobState.RUNNING or not job.waiting():
            task.closing = True
            task.write(worker_protocol.quit_command())

    def _send(self, task: Task, job: JobRun, recs: Sequence[FrameRec], now: float) -> None:
        for rec in recs:
            job.set_rendering([rec], task.node, task.chunk_id)
            task.order.append(rec.idx)
            task.sent.append(rec.idx)
            if task.current is None:
                task.current_started = now
            task.last_activity = now
            task.write(worker_protocol.render_command(rec.frame))

    def _worker_tail(self, task: Task, job: JobRun, now: float) -> bool:
        """An idle loaded worker at the end of the job: take frames another worker holds but has not
        started (that worker is stopped when it reaches them) or render a backup copy of its frame."""
        view = JobView(self.state, job, [], now)
        me = view.me(self.state.farm.get(task.node, FarmNode(task.node)), loaded=True)
        decision = tail_action(me, view.team, view.others(task.node), self.state.policy)
        victim = self.state.tasks.get(decision.chunk_id or -1) if decision is not None else None
        if decision is None or victim is None:
            return False
        if decision.kind is DecisionKind.STEAL:
            taken = victim.pending()[-decision.frames:]
            self._take_from(job, victim, task.node, taken, now)
            victim.sent = [i for i in victim.sent if i not in taken]
            recs = [job.frames[i] for i in taken]
        elif victim.current is not None:
            recs = [job.frames[victim.current]]
            job.event("backup", f"frame {_span([recs[0].frame])} of {victim.node} (chunk "
                      f"{victim.chunk_id}) also sent to {task.node}", now, node=task.node)
        else:
            return False
        self._send(task, job, recs, now)
        return True

    def _steal(self, job: JobRun, node: FarmNode, victim: Task, frames: int, now: float) -> bool:
        """Move the last ``frames`` pending frames of ``victim`` to a new chunk on ``node``."""
        taken = victim.pending()[-frames:]
        self._take_from(job, victim, node.name, taken, now)
        if not victim.pending() and victim.current is None:
            self.state.kill(victim, StopCause.RESPLIT, "all its frames were re-split to other nodes", now)
        return self.start_chunk(job, node, now, recs=[job.frames[i] for i in taken]) is not None

    def _take_from(self, job: JobRun, victim: Task, node: str, taken: Sequence[int], now: float) -> None:
        """``taken`` no longer belong to ``victim``; reaching one of them stops it."""
        victim.stolen.update(taken)
        recs = [job.frames[i] for i in taken]
        for rec in recs:
            rec.owners.discard(victim.chunk_id)
        job.event(
            "resplit",
            f"{len(recs)} frames ({_span([r.frame for r in recs])}) moved from "
            f"{victim.node} (chunk {victim.chunk_id}) to {node}",
            now,
            node=node,
        )

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
