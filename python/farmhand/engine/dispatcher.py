"""The dispatcher: one step function that moves every job forward, wrapped by ``run()`` until stopped.

Each :meth:`Dispatcher.step` (every ~50 ms in ``run``) does, in one store transaction (dependencies and
the path map: :mod:`farmhand.engine.gates`):

1. apply client commands (cancel, pause, resume, retry, priority, requeue a frame, stop);
2. pick up newly submitted jobs and refresh the node list;
3. pump every running task: drain its output lines into the preset's parser, act on frame events
   (start, progress, done → output verification), and settle tasks whose process ended (classify the
   failure, retry, blocklist, back off, fail the job fast on agreed deterministic errors);
4. kill stalled tasks;
5. hand work to free nodes (:mod:`farmhand.engine.scheduler`: priority, then age; adaptive chunks; tail
   re-split and backups);
6. write per-node progress rows and job states.

The clock (``now``) and the :class:`~farmhand.remote.Executor` are injected, and blocking SSH calls run
on an injected ``submit`` (a thread pool in production, inline in unit tests), so tests drive steps by
hand. Every decision is written to the store's events table.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Optional

from farmhand.engine import nodescripts
from farmhand.engine.gates import Gates
from farmhand.engine.jobrun import JobRun
from farmhand.engine.noderun import Submit, Task, TaskPhase
from farmhand.engine.outcomes import Outcomes, Verification
from farmhand.engine.scheduler import Policy
from farmhand.engine.store import Store
from farmhand.errors import FarmhandError
from farmhand.jobs import ChunkState, CommandOp, FrameState, JobState, Retry
from farmhand.pathmap import PathMap
from farmhand.remote import Executor

log = logging.getLogger(__name__)

STEP_SECONDS = 0.05
MIN_STEP_SECONDS = 0.01
LOAD_STALL_FACTOR = 5.0
HEARTBEAT_SECONDS = 2.0


@dataclass(frozen=True)
class FarmNode:
    """A render node as the dispatcher needs it (from the registry's enabled, trusted nodes)."""

    name: str
    cores: int = 1
    houdini: tuple[tuple[str, str], ...] = ()  # (version, install directory), newest last


NodeSource = Callable[[], Sequence[FarmNode]]


def default_node_package() -> str:
    """Farmhand's package directory as nodes see it (its node-side scripts run from there).

    ``FARMHAND_NODE_PACKAGE`` when set (the share's copy, for an install the nodes cannot see), else
    where this package is installed, found with :mod:`importlib.resources` (a checkout or a wheel).
    """
    import os
    from importlib import resources

    env = os.environ.get("FARMHAND_NODE_PACKAGE")
    if env:
        return env
    return str(resources.files("farmhand"))


def inline_submit(fn: Callable[..., object], *args: Any, **kwargs: Any) -> Future[object]:
    """Run ``fn`` now and return a finished future (unit tests: no threads, fully deterministic)."""
    future: Future[object] = Future()
    try:
        future.set_result(fn(*args, **kwargs))
    except BaseException as exc:  # the future carries it to the step that looks
        future.set_exception(exc)
    return future


class Dispatcher(Outcomes, Gates):
    """Moves every job of one store forward. Not thread-safe: one thread calls ``step``/``run``."""

    def __init__(
        self,
        store: Store,
        executor: Executor,
        nodes: NodeSource,
        *,
        clock: Callable[[], float] = time.time,
        submit: Optional[Submit] = None,
        retry: Optional[Retry] = None,
        policy: Optional[Policy] = None,
        node_package: Optional[str] = None,
        node_refresh: float = 5.0,
        pathmap: Optional[PathMap] = None,
    ) -> None:
        self.store = store
        self.executor = executor
        self.node_source = nodes
        self.clock = clock
        self._pool: Optional[ThreadPoolExecutor] = None
        if submit is None:
            self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="farmhand-ssh")
            submit = self._pool.submit
        self.submit: Submit = submit
        self.retry = retry or Retry()
        self.policy = policy or Policy()
        self.node_package = node_package or default_node_package()
        # Given: fixed (tests). Otherwise FARMHAND_HOME/pathmap.json, read again when it changes.
        self.pathmap = pathmap or PathMap()
        self._pathmap_fixed = pathmap is not None
        self._pathmap_stamp: Optional[float] = None
        self.node_refresh = node_refresh
        self.jobs: dict[str, JobRun] = {}
        self.tasks: dict[int, Task] = {}
        self.farm: dict[str, FarmNode] = {}
        self.node_backoff: dict[str, float] = {}
        self.node_note: dict[str, str] = {}
        self.checks: dict[str, Future[object]] = {}  # node -> orphan check in flight
        self.needs_check: dict[str, tuple[int, str]] = {}  # node -> (pgid, marker) to check before reuse
        self.verifying: list[Verification] = []
        self._nodes_at = -1e18
        self._beat_at = -1e18
        self._written: dict[tuple[str, str], Any] = {}
        self._eta_written: dict[str, Optional[float]] = {}
        self.stop_requested = threading.Event()
        self.wake = threading.Event()
        self.slow_exit: set[str] = set()
        self._recovered = False

    # --- lifecycle ------------------------------------------------------------------------------------

    def recover(self, now: float) -> None:
        """After a (re)start: chunks the store says were running belong to a dead dispatcher. Their
        frames go back to the queue (verified frames stay done) and their nodes are checked for the
        recorded process group before reuse."""
        self._recovered = True
        with self.store.tx():
            for row in self.store.open_chunks():
                job_id, node, chunk_id = str(row["job"]), str(row["node"]), int(row["id"])
                self.store.update_chunk(
                    chunk_id, state=ChunkState.LOST, ended=now, message="dispatcher restarted while it ran"
                )
                if row["pgid"] is not None:
                    self.needs_check[node] = (int(row["pgid"]), nodescripts.chunk_marker(job_id, chunk_id))
                self.store.add_event(
                    job_id,
                    "recovered",
                    f"chunk {chunk_id} on {node} was running when the "
                    "dispatcher stopped; its unfinished frames are queued again",
                    node=node,
                    now=now,
                )
            for job_id in self.store.job_ids():
                rendering = [
                    i for i, f in enumerate(self.store.frames(job_id)) if f.state is FrameState.RENDERING
                ]
                self.store.update_frames(job_id, rendering, state=FrameState.WAITING)
            self.store.set_meta("dispatcher_started", repr(now))

    def close(self) -> None:
        """Stop every running task (their frames stay queued for the next start) and release threads."""
        now = self.clock()
        for task in list(self.tasks.values()):
            task.kill(self.executor, self.submit, "the dispatcher is stopping", now, self.retry.cancel_grace)
        deadline = time.monotonic() + self.retry.cancel_grace + 3.0
        while self.tasks and time.monotonic() < deadline:
            self.step()
            time.sleep(STEP_SECONDS)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def run(self, stop: Optional[threading.Event] = None) -> None:
        """Step until ``stop`` is set or a client sends the stop command."""
        stop = stop or self.stop_requested
        if not self._recovered:
            self.recover(self.clock())
        while not stop.is_set() and not self.stop_requested.is_set():
            started = time.monotonic()
            try:
                self.step()
            except FarmhandError as exc:  # one bad job must not take the dispatcher down
                log.error("step failed: %s", exc.message)
            # Sleep until the next step is due, or earlier when a node printed something (a frame
            # finished): progress then reaches clients, and free nodes get work, without polling delay.
            elapsed = time.monotonic() - started
            self.wake.wait(max(0.0, STEP_SECONDS - elapsed))
            self.wake.clear()
            if time.monotonic() - started < MIN_STEP_SECONDS:
                time.sleep(MIN_STEP_SECONDS)
        self.close()

    # --- the step -------------------------------------------------------------------------------------

    def step(self, now: Optional[float] = None) -> None:
        now = self.clock() if now is None else now
        if not self._recovered:
            self.recover(now)
        with self.store.tx():
            self._commands(now)
            self._refresh(now)
            self._dependencies(now)
            self._node_checks(now)
            for task in list(self.tasks.values()):
                self.pump(task, now)
            self.settle_verifications(now)
            self._stalls(now)
            self.assign(now)
            self._finish_jobs(now)
            self.write_progress(now)
            if now - self._beat_at >= HEARTBEAT_SECONDS:
                self._beat_at = now
                self.store.set_meta("dispatcher_heartbeat", repr(now))

    def _refresh(self, now: float) -> None:
        active = [JobState.QUEUED, JobState.WAITING, JobState.RUNNING, JobState.PAUSED]
        for job_id in self.store.job_ids(active):
            if job_id not in self.jobs:
                try:
                    job = JobRun.load(self.store, job_id)
                except FarmhandError as exc:
                    self.store.update_job(job_id, state=JobState.FAILED, error=exc.message)
                    self.store.add_event(job_id, "failed", exc.message, now=now)
                    continue
                self.jobs[job_id] = job
                job.event("loaded", f"{len(job.frames)} frames, {job.count(FrameState.DONE)} done", now)
        if now - self._nodes_at >= self.node_refresh:
            self._nodes_at = now
            self._load_pathmap(now)
            try:
                self.farm = {n.name: n for n in self.node_source()}
            except FarmhandError as exc:
                log.warning("could not read the node list: %s", exc.message)

    def _commands(self, now: float) -> None:
        for command_id, job_id, op, arg in self.store.pending_commands():
            result = "ok"
            try:
                result = self._apply(job_id, op, arg, now)
            except FarmhandError as exc:
                result = exc.message
            self.store.finish_command(command_id, result, now)

    def _apply(self, job_id: Optional[str], op: CommandOp, arg: dict[str, Any], now: float) -> str:
        if op is CommandOp.STOP:
            self.stop_requested.set()
            return "stopping"
        if job_id is None:
            return "no job given"
        job = self.jobs.get(job_id) or JobRun.load(self.store, job_id)
        self.jobs[job_id] = job
        if op is CommandOp.CANCEL:
            if job.state.finished:
                return f"job is already {job.state.value}"
            job.set_state(JobState.CANCELLED, now=now)
            for task in self._tasks_of(job_id):
                task.kill(self.executor, self.submit, "cancelled by the user", now, self.retry.cancel_grace)
                # The job is cancelled now, so none of its frames is "rendering" any more, even while the
                # killed processes are still being reaped (a frame they finish meanwhile still counts).
                for idx in task.frames:
                    job.release(job.frames[idx], task.chunk_id)
            job.event("cancelled", "cancelled by the user; running chunks are being stopped", now)
        elif op is CommandOp.PAUSE:
            if job.state not in (JobState.QUEUED, JobState.WAITING, JobState.RUNNING):
                return f"job is {job.state.value}; nothing to pause"
            job.set_state(JobState.PAUSED, now=now)
            job.event("paused", "no new chunks are handed out; running ones finish", now)
        elif op is CommandOp.RESUME:
            if job.state is not JobState.PAUSED:
                return f"job is {job.state.value}, not paused; nothing to resume"
            job.set_state(JobState.RUNNING, now=now)
            job.event("resumed", "handing out chunks again", now)
        elif op is CommandOp.RETRY:
            again = [f for f in job.frames if f.state is FrameState.FAILED]
            if job.state is JobState.DONE and not again:
                return "nothing to retry: every frame is done"
            for rec in again:
                rec.attempts = 0
                job.requeue(rec, "retried by the user")
                job.store.update_frames(job.id, [rec.idx], attempts=0)
            for stat in job.nodes.values():
                stat.blocked, stat.failures, stat.backoff_until = False, 0, 0.0
            job.agree.clear()
            if job.state in (JobState.FAILED, JobState.CANCELLED, JobState.DONE):
                job.set_state(JobState.RUNNING, error="", now=now)
            job.event("retry", f"{len(again)} failed frames queued again; blocklists cleared", now)
        elif op is CommandOp.PRIORITY:
            job.priority = int(arg.get("priority", job.priority))
            self.store.update_job(job.id, priority=job.priority)
            job.event("priority", f"priority set to {job.priority}", now)
        elif op is CommandOp.REQUEUE_FRAME:
            frame = arg.get("frame")
            found = job.by_frame.get(frame) if isinstance(frame, (int, float)) else None
            if found is None:
                return f"job {job.id} has no frame {frame}"
            rec = found
            for task in self._tasks_of(job.id):
                if rec.idx in task.frames and task.current == rec.idx:
                    return f"frame {frame} is rendering now"
            job.requeue(rec, "requeued by the user")
            if job.state.finished:
                job.set_state(JobState.RUNNING, now=now)
            job.event("requeued", f"frame {frame} queued again", now, frame=rec.frame)
        if job.state.finished and not self._tasks_of(job.id):
            self._retire(job, now)
        return "ok"

    def _tasks_of(self, job_id: str) -> list[Task]:
        return [t for t in self.tasks.values() if t.job_id == job_id]

    # --- nodes ----------------------------------------------------------------------------------------

    def node_free(self, node: str, now: float) -> bool:
        # A chunk whose frames are all done is only exiting (hython releasing its licence, ...): the next
        # chunk may start now; its wrapper waits briefly for the node lock the old process still holds.
        if any(t.node == node and (not t.draining or node in self.slow_exit) for t in self.tasks.values()):
            return False
        if self.node_backoff.get(node, 0.0) > now or node in self.checks:
            return False
        if node in self.needs_check:
            pgid, marker = self.needs_check.pop(node)
            self.checks[node] = self.submit(
                self.executor.run,
                node,
                nodescripts.orphan_argv(pgid, marker, self.retry.cancel_grace),
                timeout=self.retry.cancel_grace + 10.0,
            )
            self._node_event(node, "node_check", f"checking process group {pgid} left by an earlier run", now)
            return False
        return True

    def _node_checks(self, now: float) -> None:
        for node, future in list(self.checks.items()):
            if not future.done():
                continue
            del self.checks[node]
            try:
                result: Any = future.result()
                self._node_event(node, "node_check", f"earlier process group: {result.stdout.strip()}", now)
            except Exception as exc:
                self.node_backoff[node] = now + self.retry.unreachable_backoff
                self._node_event(node, "node_check", f"could not check the node: {exc}", now)

    def _node_event(self, node: str, kind: str, message: str, now: float) -> None:
        log.info("%s: %s", node, message)
        self.store.add_event(None, kind, message, node=node, now=now)

    # --- stalls and job completion --------------------------------------------------------------------

    def _stalls(self, now: float) -> None:
        for task in list(self.tasks.values()):
            if task.phase is not TaskPhase.RUNNING or task.kill_reason:
                continue
            job = self.jobs.get(task.job_id)
            if job is None:
                continue
            if task.persistent and task.ready and not task.sent:
                continue  # an idle worker waits for us, not the other way round
            expected = job.stat(task.node).spf or self.job_spf(job)
            limit = self.retry.stall_timeout(expected)
            if (task.persistent and not task.ready) or (not task.persistent and task.first_frame_at is None):
                # Before the first frame: loading a big scene (or waiting for the node lock) is quiet.
                limit = max(limit, LOAD_STALL_FACTOR * self.retry.stall_floor)
            if now - task.last_activity > limit:
                self.stall(task, job, now, limit)

    def _retire(self, job: JobRun, now: float) -> None:
        """A finished job leaves the working set; its node rows are written one last time (idle)."""
        self.write_job_progress(job, now)
        self.jobs.pop(job.id, None)

    def _finish_jobs(self, now: float) -> None:
        for job in list(self.jobs.values()):
            if self._tasks_of(job.id):
                continue
            if job.state.finished:
                self._retire(job, now)
                continue
            if job.state in (JobState.PAUSED, JobState.WAITING) or any(
                v.job_id == job.id for v in self.verifying
            ):
                continue
            waiting = job.count(FrameState.WAITING, FrameState.RETRYING, FrameState.RENDERING)
            failed = job.count(FrameState.FAILED)
            if waiting == 0 and failed == 0:
                job.set_state(JobState.DONE, now=now)
                job.event("done", f"all {len(job.frames)} frames rendered and verified", now)
                self._retire(job, now)
            elif waiting == 0:
                first = next(f for f in job.frames if f.state is FrameState.FAILED)
                message = self.store.frames(job.id)[first.idx].error_message or "see farmhand logs"
                job.set_state(JobState.FAILED, error=f"{failed} frames failed; first: {message}", now=now)
                job.event("failed", job.error or "", now)
                self._retire(job, now)
            elif not self.farm and not job.warned_no_nodes:
                job.warned_no_nodes = True
                job.event("no_nodes", "no trusted, enabled nodes in the registry; add some with "
                          "'farmhand scan' or 'farmhand nodes add'", now)
            elif self.farm and not self.eligible_nodes(job, include_backoff=True):
                why = "no node can render this job: " + self.why_no_node(job)
                job.set_state(JobState.FAILED, now=now, error=job.error or why)
                job.event("failed", job.error or "", now)
                self._retire(job, now)
