"""Handing work to free nodes, feeding persistent workers, and publishing per-node progress.

A mixin of :class:`farmhand.engine.dispatcher.Dispatcher`; the policy itself (chunk sizes, tail decisions)
is the pure code in :mod:`farmhand.engine.scheduler`, explained there.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Optional

from farmhand.engine import noderun
from farmhand.engine.jobrun import FrameRec, JobRun
from farmhand.engine.noderun import Task, TaskPhase
from farmhand.engine.scheduler import (
    NodeSpeed,
    RunningWork,
    chunk_size,
    eta_seconds,
    job_order,
    tail_action,
)
from farmhand.errors import UsageError
from farmhand.frames import contiguous_runs, format_frame
from farmhand.jobs import FrameState, JobState, NodeActivity, NodeRow
from farmhand.presets import CommandContext, PresetMode, worker_protocol
from farmhand.presets.progress import LineParser

if TYPE_CHECKING:
    from farmhand.engine.dispatcher import FarmNode
    from farmhand.engine.noderun import Submit
    from farmhand.engine.scheduler import Policy
    from farmhand.engine.store import Store
    from farmhand.jobs import Retry
    from farmhand.pathmap import PathMap
    from farmhand.remote import Executor

log = logging.getLogger(__name__)

WORKER_DEPTH = 2  # frames sent ahead to a persistent worker, so it never waits for the next one
WORKER_SLOW_FRAME = 2.0  # seconds: frames this slow gain nothing from being sent ahead
_ABS_PATH = re.compile(r"^(/|[A-Za-z]:[\\/]|\\\\)")  # POSIX, drive letter or UNC


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


class Assigner:
    store: Store
    executor: Executor
    submit: Submit
    retry: Retry
    policy: Policy
    node_package: str
    pathmap: PathMap
    jobs: dict[str, JobRun]
    tasks: dict[int, Task]
    farm: dict[str, FarmNode]
    node_backoff: dict[str, float]
    node_note: dict[str, str]
    _written: dict[tuple[str, str], Any]
    _eta_written: dict[str, Optional[float]]

    def node_free(self, node: str, now: float) -> bool:
        raise NotImplementedError

    def kill(self, task: Task, reason: str, now: float) -> None:
        raise NotImplementedError

    # --- paths as each node sees them ------------------------------------------------------------------

    def node_path(self, path: Optional[str], node: str) -> Optional[str]:
        """A submitter-side path (scene, output pattern, Farmhand's package dir) as ``node`` must open it."""
        return self.pathmap.to_node(path, node) if path else path

    def node_values(self, job: JobRun, node: str) -> dict[str, str]:
        """The job's preset parameters for ``node``: values that are absolute paths (``job=/share/proj``)
        are mapped like the scene; other values pass unchanged."""
        return {k: (self.node_path(v, node) or v) if _ABS_PATH.match(v) else v for k, v in job.spec.params}

    # --- eligibility ----------------------------------------------------------------------------------

    def pick_hfs(self, job: JobRun, node: FarmNode) -> Optional[str]:
        """The node's Houdini install for the job: the submitter's exact build, else the same
        major.minor, else (no version given) the newest."""
        if not node.houdini:
            return None
        wanted = job.spec.houdini_version
        builds = sorted(node.houdini, key=lambda vh: _version_key(vh[0]))
        if not wanted:
            return builds[-1][1]
        for version, hfs in builds:
            if version == wanted:
                return hfs
        major_minor = _version_key(wanted)[:2]
        same = [hfs for version, hfs in builds if _version_key(version)[:2] == major_minor]
        return same[-1] if same else None

    def suitable(self, job: JobRun, node: FarmNode) -> bool:
        if job.spec.nodes and node.name not in job.spec.nodes:
            return False
        stat = job.nodes.get(node.name)
        if stat is not None and stat.blocked:
            return False
        return not (job.preset.needs_houdini and self.pick_hfs(job, node) is None)

    def eligible_nodes(self, job: JobRun, include_backoff: bool = False) -> list[FarmNode]:
        del include_backoff  # backoffs are temporary; eligibility is about blocklists and installs
        return [n for n in self.farm.values() if self.suitable(job, n)]

    def why_no_node(self, job: JobRun) -> str:
        """One line saying why :meth:`eligible_nodes` is empty, naming what to fix."""
        selected = [n for n in self.farm.values() if not job.spec.nodes or n.name in job.spec.nodes]
        if not selected:
            return (f"none of the nodes given by --nodes ({', '.join(job.spec.nodes)}) is a trusted, "
                    "enabled node; see 'farmhand nodes list'")
        free = [n for n in selected if not (job.nodes.get(n.name) and job.nodes[n.name].blocked)]
        if not free:
            last = next((st.message for st in job.nodes.values() if st.blocked and st.message), None)
            return "every selected node is blocklisted for this job" + (f"; last: {last}" if last else "")
        wanted = job.spec.houdini_version
        build = f"{wanted} (or another {'.'.join(wanted.split('.')[:2])} build)" if wanted else "installed"
        return (f"no selected node has Houdini {build} "
                f"in its inventory ({', '.join(n.name for n in free)}); install it, run 'farmhand nodes "
                "probe', or submit with another --houdini-version")

    def job_spf(self, job: JobRun) -> Optional[float]:
        measured = [s.spf for s in job.nodes.values() if s.spf]
        return sum(measured) / len(measured) if measured else None

    def _speeds(self, job: JobRun) -> list[NodeSpeed]:
        return [
            NodeSpeed(
                n.name,
                n.cores,
                job.nodes[n.name].spf if n.name in job.nodes else None,
                job.nodes[n.name].startup if n.name in job.nodes else 0.0,
            )
            for n in self.eligible_nodes(job)
        ]

    # --- the assignment pass --------------------------------------------------------------------------

    def assign(self, now: float) -> None:
        self._feed_workers(now)
        active = [j for j in self.jobs.values() if j.state in (JobState.QUEUED, JobState.RUNNING)]
        order = job_order([(j.id, j.priority, j.created) for j in active])
        jobs = [self.jobs[i] for i in order]
        for job in jobs:
            self._skip_existing(job, now)
        if not jobs:
            return
        for node in sorted(self.farm.values(), key=lambda n: (-n.cores, n.name)):
            if not self.node_free(node.name, now):
                continue
            takers = [j for j in jobs if self._can_take(j, node, now)]
            if any(j.waiting() for j in takers):
                job = next(j for j in takers if j.waiting())
                self.start_chunk(job, node, now)
                continue
            for job in takers:
                if self._tail(job, node, now):
                    break

    def _can_take(self, job: JobRun, node: FarmNode, now: float) -> bool:
        if job.state not in (JobState.QUEUED, JobState.RUNNING) or not job.skip_checked or not job.deps_met:
            return False
        if not self.suitable(job, node):
            return False
        stat = job.nodes.get(node.name)
        if stat is not None and stat.backoff_until > now:
            return False
        if job.spec.single_node or not job.preset.splittable:
            return not any(t.job_id == job.id for t in self.tasks.values())
        return True

    def start_chunk(
        self,
        job: JobRun,
        node: FarmNode,
        now: float,
        recs: Optional[list[FrameRec]] = None,
        backup_of: Optional[int] = None,
    ) -> Optional[Task]:
        persistent = job.preset.mode is PresetMode.WORKER
        if recs is None:
            recs = self._take(job, node, persistent)
        if not recs:
            return None
        values = [r.frame for r in recs]
        ctx = CommandContext.for_frames(
            values,
            file=self.node_path(job.spec.file, node.name),
            target=job.spec.target,
            output=self.node_path(job.spec.output, node.name),
            hfs=self.pick_hfs(job, node),
            farmhand=self.node_path(self.node_package, node.name),
            extra=self.node_values(job, node.name),
        )
        try:
            argv = job.preset.command(ctx)
        except UsageError as exc:
            job.set_state(JobState.FAILED, error=exc.message, now=now)
            job.event("failed", exc.message, now)
            return None
        mapping = [(f.idx, f.frame) for f in job.frames] if persistent else [(r.idx, r.frame) for r in recs]
        chunk_id = self.store.insert_chunk(
            job.id,
            node.name,
            [] if persistent else [r.idx for r in recs],
            now,
            backup_of=backup_of,
            persistent=persistent,
        )
        parser = LineParser(job.preset, [] if persistent else values, alf_scope=job.spec.alf_scope)
        task = Task(
            chunk_id, job.id, node.name, mapping, now, parser, persistent=persistent, backup_of=backup_of
        )
        if persistent:
            task.order = []
        self.tasks[chunk_id] = task
        if not persistent:
            job.set_rendering(recs, node.name, chunk_id)
        if job.state is JobState.QUEUED:
            job.set_state(JobState.RUNNING, now=now)
        what = "worker session" if persistent else f"frames {_span(values)}"
        kind = "backup" if backup_of else "assigned"
        job.event(
            kind,
            f"chunk {chunk_id}: {what}" + (f" (backup of chunk {backup_of})" if backup_of else ""),
            now,
            node=node.name,
        )
        # The node must see Farmhand's package folder; the wrapper checks before anything runs (clear error).
        package = ctx.farmhand if "farmhand" in job.preset.used_placeholders() else None
        task.start(self.executor, self.submit, argv, require=package or "")
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
        fixed = job.spec.chunk if isinstance(job.spec.chunk, int) else None
        speeds = self._speeds(job)
        me = next((s for s in speeds if s.node == node.name), NodeSpeed(node.name, node.cores))
        size = chunk_size(me, speeds, len(waiting), self.policy, fixed)
        return run[:size]

    def _worker_depth(self, job: JobRun, task: Task) -> int:
        """Frames in flight for one worker: a second one hides the dispatch gap between short frames;
        slow frames and the tail get one at a time, so the last frames go to whichever worker is free."""
        spf = job.stat(task.node).spf
        workers = sum(1 for t in self.tasks.values() if t.job_id == job.id and t.persistent)
        if (spf is not None and spf >= WORKER_SLOW_FRAME) or len(job.waiting()) <= workers:
            return 1
        return WORKER_DEPTH

    def _feed_workers(self, now: float) -> None:
        for task in list(self.tasks.values()):
            if (
                not task.persistent
                or task.phase is not TaskPhase.RUNNING
                or not task.ready
                or task.kill_reason
            ):
                continue
            job = self.jobs.get(task.job_id)
            if job is None:
                continue
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
            if (
                not task.sent
                and not task.closing
                and (job.state is not JobState.RUNNING or not job.waiting())
            ):
                task.closing = True
                task.write(worker_protocol.quit_command())

    def _tail(self, job: JobRun, node: FarmNode, now: float) -> bool:
        """A free node and nothing waiting: re-split a slow chunk or back up its frame in progress."""
        running = [
            t
            for t in self.tasks.values()
            if t.job_id == job.id and not t.persistent and not t.kill_reason and t.node != node.name
        ]
        if not running:
            return False
        fallback = self.job_spf(job) or 1.0
        works = []
        for t in running:
            spf = job.stat(t.node).spf or fallback
            if t.current is not None and t.current_started is not None:
                left = max(spf - (now - t.current_started), 0.05 * spf)
            else:
                # No frame started yet (the renderer is starting or loading the scene) or between
                # frames: only the rest of its start is left, not a frame. Counting a whole frame here
                # made equal free nodes take a fresh chunk's frames from each other forever.
                left = max(job.stat(t.node).startup - (now - t.started), 0.0)
            backed = t.backup_of is not None or any(o.backup_of == t.chunk_id for o in self.tasks.values())
            works.append(
                RunningWork(t.chunk_id, t.node, len(t.pending()), left, spf, t.current is not None, backed)
            )
        stat = job.nodes.get(node.name)
        action = tail_action(stat.spf if stat else None, stat.startup if stat else 0.0, works, self.policy)
        if action is None:
            return False
        victim = self.tasks[action.chunk_id]
        if action.kind == "steal":
            taken = victim.pending()[-action.frames :]
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
                self.kill(victim, "all its frames were re-split to other nodes", now)
            return self.start_chunk(job, node, now, recs=recs) is not None
        if victim.current is None:
            return False
        return (
            self.start_chunk(job, node, now, recs=[job.frames[victim.current]], backup_of=victim.chunk_id)
            is not None
        )

    def _skip_existing(self, job: JobRun, now: float) -> None:
        if job.skip_checked:
            return
        pending = getattr(job, "skip_future", None)
        recs = [r for r in job.waiting() if r.output]
        paths = [r.output or "" for r in recs]
        if not recs:
            job.skip_checked = True
            return
        if pending is None:
            if noderun.outputs_visible(paths):
                answers: Any = noderun.check_local(paths)
            else:
                node = next(iter(self.eligible_nodes(job)), None)
                if node is None:
                    return
                there = [self.node_path(p, node.name) or p for p in paths]
                job.skip_future = self.submit(noderun.check_remote, self.executor, node.name, there)  # type: ignore[attr-defined]
                return
        else:
            fut: Future[object] = pending
            if not fut.done():
                return
            job.skip_future = None  # type: ignore[attr-defined]
            try:
                answers = fut.result()
            except Exception as exc:
                job.event("skip_existing", f"could not check existing outputs ({exc}); rendering all", now)
                job.skip_checked = True
                return
        existing = [r for r, ok in zip(recs, answers) if ok]
        for rec in existing:
            job.set_done(rec, rec.node or "-", None, rec.output)
        job.skip_checked = True
        job.event("skip_existing", f"{len(existing)} of {len(recs)} frames already had their output", now)

    # --- progress rows --------------------------------------------------------------------------------

    def write_progress(self, now: float) -> None:
        for job in self.jobs.values():
            self.write_job_progress(job, now)

    def write_job_progress(self, job: JobRun, now: float) -> None:
        """Per-node rows and the job ETA, written only when they changed (clients poll the version)."""
        mine = [t for t in self.tasks.values() if t.job_id == job.id]
        tasks = {t.node: t for t in mine if t.backup_of is None}
        tasks.update({t.node: t for t in mine if t.node not in tasks})
        speeds = []
        for node in sorted(set(job.nodes) | set(tasks)):
            row = self._row(job, node, tasks.get(node), now)
            if row.seconds_per_frame and node in tasks:
                speeds.append(1.0 / row.seconds_per_frame)
            key = (job.id, node)
            if self._written.get(key) != row:
                self._written[key] = row
                self.store.set_progress(job.id, row)
        remaining = job.count(FrameState.WAITING, FrameState.RETRYING, FrameState.RENDERING)
        eta = eta_seconds(remaining, speeds) if not job.state.finished else None
        eta = None if eta is None else float(round(eta))
        if self._eta_written.get(job.id, -1.0) != eta:
            self._eta_written[job.id] = eta
            self.store.update_job(job.id, eta=eta)

    def _row(self, job: JobRun, node: str, task: Optional[Task], now: float) -> NodeRow:
        stat = job.stat(node)
        spf = stat.spf
        if task is not None:
            current = task.frame_of.get(task.current) if task.current is not None else None
            working = task.first_frame_at is not None or (task.persistent and task.ready)
            eta = None
            if spf:
                elapsed = now - task.current_started if task.current_started is not None else 0.0
                left = max(spf - elapsed, 0.0) if task.current is not None else 0.0
                queued = (
                    len(task.sent) - (1 if task.current is not None else 0)
                    if task.persistent
                    else len(task.pending())
                )
                eta = float(round(left + max(queued, 0) * spf, 1))
            percent = None if task.percent is None else round(task.percent, 1)
            return NodeRow(
                node,
                NodeActivity.RENDERING if working else NodeActivity.STARTING,
                current,
                percent,
                stat.frames_done,
                None if spf is None else round(spf, 3),
                eta,
                len(task.frames),
                len(task.done),
                None,
            )
        state, message = NodeActivity.IDLE, stat.message
        if stat.blocked:
            state = NodeActivity.BLOCKED
        elif stat.backoff_until > now:
            state = NodeActivity.BACKOFF
        elif self.node_backoff.get(node, 0.0) > now:
            note = self.node_note.get(node, "")
            state = NodeActivity.BUSY if note.startswith("busy") else NodeActivity.OFFLINE
            message = note
        return NodeRow(
            node,
            state,
            None,
            None,
            stat.frames_done,
            None if spf is None else round(spf, 3),
            None,
            0,
            0,
            message,
        )


def _span(frames: list[Any]) -> str:
    if not frames:
        return "-"
    if len(frames) == 1:
        return format_frame(frames[0])
    return f"{format_frame(frames[0])}-{format_frame(frames[-1])}"
