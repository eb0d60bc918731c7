"""The dispatcher: one step function that moves every job forward, wrapped by ``run()`` until stopped.

The dispatcher owns its parts, each a class of its own module sharing one
:class:`~farmhand.engine.state.EngineState` (the store, executor, clock, thresholds, jobs, tasks, nodes):

========================  =====================================================================
``commands``              client commands: cancel, pause, resume, retry, priority, requeue, stop
``gates``                 ``after`` dependencies and the path map
``nodes``                 per-node backoffs, leftover checks, slow exits
``outcomes``              each task's output lines, frame events and end
``verifier``              output checks of finished frames
``blame``                 what a failure costs the frame, the node and the job
``assigner``              work for free nodes, frames for persistent workers
``publisher``             per-node progress rows and ETAs for clients
========================  =====================================================================

Each :meth:`Dispatcher.step` (every ~50 ms in ``run``) does, in one store transaction, what it reads
top-down. The clock (``now``) and the :class:`~farmhand.remote.Executor` are injected, and blocking SSH
calls run on an injected ``submit`` (a thread pool in production, inline in unit tests), so tests drive
steps by hand. Every decision is written to the store's events table.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Optional

from farmhand import paths
from farmhand.engine.assign import Assigner
from farmhand.engine.blame import Blame
from farmhand.engine.commands import Commands
from farmhand.engine.eligibility import eligible_nodes, job_spf, why_no_node
from farmhand.engine.gates import Gates
from farmhand.engine.hooks import NotifySettings, load_settings
from farmhand.engine.jobrun import JobRun
from farmhand.engine.lifecycle import Aftercare
from farmhand.engine.noderun import StopCause, Submit, TaskPhase
from farmhand.engine.nodewatch import NodeWatch
from farmhand.engine.outcomes import Outcomes
from farmhand.engine.publish import Publisher
from farmhand.engine.scheduler import Policy
from farmhand.engine.state import EngineState, NodeSource
from farmhand.engine.store import Store
from farmhand.engine.transitions import move_chunk, move_job
from farmhand.engine.verify import Verifier
from farmhand.errors import FarmhandError
from farmhand.jobs import ChunkState, FrameState, JobState, Retry
from farmhand.pathmap import PathMap
from farmhand.remote import Executor
from farmhand.ssh import pool_size

log = logging.getLogger(__name__)

STEP_SECONDS = 0.05
MIN_STEP_SECONDS = 0.01
LOAD_STALL_FACTOR = 5.0
HEARTBEAT_SECONDS = 2.0
_ACTIVE = (JobState.QUEUED, JobState.WAITING, JobState.RUNNING, JobState.PAUSED)


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


class Dispatcher:
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
        notify: Optional[NotifySettings] = None,
    ) -> None:
        self._pool: Optional[ThreadPoolExecutor] = None
        if submit is None:
            # One thread per node at most (started only when work arrives): every node of a large farm
            # can be connecting or starting at once, bounded by what the process can hold open.
            self._pool = ThreadPoolExecutor(max_workers=pool_size(), thread_name_prefix="farmhand-ssh")
            submit = self._pool.submit
        self.state = EngineState(
            store=store,
            executor=executor,
            submit=submit,
            clock=clock,
            retry=retry or Retry(),
            policy=policy or Policy(),
            node_package=node_package or default_node_package(),
            pathmap=pathmap or PathMap(),
        )
        self.node_source = nodes
        self.node_refresh = node_refresh
        self.stop_requested = threading.Event()
        self.wake = threading.Event()  # ends the wait between two steps early
        self.nodes = NodeWatch(self.state)
        self.publisher = Publisher(self.state, self.nodes)
        self.blame = Blame(self.state, self.nodes)
        self.verifier = Verifier(self.state, self.blame)
        # Hooks and previews: on threads of their own in production, inline under an injected submit.
        self.aftercare = Aftercare(self.state, notify or load_settings(paths.home() / "dispatcher.json"),
                                   None if self._pool is not None else submit)
        self.outcomes = Outcomes(self.state, self.nodes, self.verifier, self.blame)
        self.assigner = Assigner(self.state, self.nodes)
        # Given: fixed (tests). Otherwise FARMHAND_HOME/pathmap.json, read again when it changes.
        self.gates = Gates(self.state, fixed_pathmap=pathmap is not None)
        self.commands = Commands(self.state, self.publisher, self.stop_requested)
        self._nodes_at = -1e18
        self._beat_at = -1e18
        self._recovered = False

    # --- the step -------------------------------------------------------------------------------------

    def step(self, now: Optional[float] = None) -> None:
        """Move every job forward once, in one store transaction."""
        now = self.state.clock() if now is None else now
        if not self._recovered:
            self.recover(now)
        with self.state.store.tx():
            self.commands.apply_pending(now)
            self._load_jobs(now)
            self._refresh_nodes(now)
            self.gates.dependencies(now)
            self.nodes.poll_checks(now)
            for task in list(self.state.tasks.values()):
                self.outcomes.pump(task, now)
            self.verifier.settle(now)
            self._kill_stalled(now)
            self.assigner.assign(now)
            self._finish_jobs(now)
            self.aftercare.step(now)
            self.publisher.publish(now)
            self._heartbeat(now)

    def _load_jobs(self, now: float) -> None:
        """Newly submitted (and still active) jobs join the working set."""
        store = self.state.store
        for job_id in store.job_ids(_ACTIVE):
            if job_id in self.state.jobs:
                continue
            try:
                job = JobRun.load(store, job_id)
            except FarmhandError as exc:
                state = move_job(store.job(job_id).state, JobState.FAILED)
                store.update_job(job_id, state=state, error=exc.message)
                store.add_event(job_id, "failed", exc.message, now=now)
                continue
            self.state.jobs[job_id] = job
            job.event("loaded", f"{len(job.frames)} frames, {job.count(FrameState.DONE)} done", now)

    def _refresh_nodes(self, now: float) -> None:
        """Every ``node_refresh`` seconds: the path map and the registry's nodes, read again."""
        if now - self._nodes_at < self.node_refresh:
            return
        self._nodes_at = now
        self.gates.load_pathmap(now)
        try:
            self.state.farm = {n.name: n for n in self.node_source()}
        except FarmhandError as exc:
            log.warning("could not read the node list: %s", exc.message)

    def _kill_stalled(self, now: float) -> None:
        """Kill tasks that showed no output and no progress for longer than their stall limit."""
        retry = self.state.retry
        for task in list(self.state.tasks.values()):
            if task.phase is not TaskPhase.RUNNING or task.kill_reason:
                continue
            job = self.state.jobs.get(task.job_id)
            if job is None:
                continue
            if task.persistent and task.ready and not task.sent:
                continue  # an idle worker waits for us, not the other way round
            limit = retry.stall_timeout(job.stat(task.node).spf or job_spf(job))
            if (task.persistent and not task.ready) or (not task.persistent and task.first_frame_at is None):
                # Before the first frame: loading a big scene (or waiting for the node lock) is quiet.
                limit = max(limit, LOAD_STALL_FACTOR * retry.stall_floor)
            if now - task.last_activity > limit:
                message = f"no output or progress for {limit:.0f}s; killing and re-assigning"
                job.event("stalled", message, now, node=task.node)
                self.state.kill(task, StopCause.STALLED, "stalled", now)

    def _finish_jobs(self, now: float) -> None:
        """Jobs with no task left: retire the finished, end the complete, fail those no node can take."""
        for job in list(self.state.jobs.values()):
            if self.state.tasks_of(job.id):
                continue
            if job.state.finished:
                self.publisher.retire(job, now)
                continue
            if job.state in (JobState.PAUSED, JobState.WAITING) or self.verifier.pending(job.id):
                continue
            self._finish_job(job, now)

    def _finish_job(self, job: JobRun, now: float) -> None:
        waiting = job.count(FrameState.WAITING, FrameState.RETRYING, FrameState.RENDERING)
        failed = job.count(FrameState.FAILED)
        farm = self.state.farm
        if waiting == 0 and failed == 0:
            job.set_state(JobState.DONE, now=now)
            job.event("done", f"all {len(job.frames)} frames rendered and verified", now)
            self.publisher.retire(job, now)
        elif waiting == 0:
            first = next(f for f in job.frames if f.state is FrameState.FAILED)
            message = self.state.store.frames(job.id)[first.idx].error_message or "see farmhand logs"
            job.set_state(JobState.FAILED, error=f"{failed} frames failed; first: {message}", now=now)
            job.event("failed", job.error or "", now)
            self.publisher.retire(job, now)
        elif not farm and not job.warned_no_nodes:
            job.warned_no_nodes = True
            job.event("no_nodes", "no trusted, enabled nodes in the registry; add some with "
                      "'farmhand scan' or 'farmhand nodes add'", now)
        elif farm and not eligible_nodes(job, farm.values()):
            why = "no node can render this job: " + why_no_node(job, farm.values())
            job.set_state(JobState.FAILED, now=now, error=job.error or why)
            job.event("failed", job.error or "", now)
            self.publisher.retire(job, now)

    def _heartbeat(self, now: float) -> None:
        if now - self._beat_at >= HEARTBEAT_SECONDS:
            self._beat_at = now
            self.state.store.set_meta("dispatcher_heartbeat", repr(now))

    # --- lifecycle ------------------------------------------------------------------------------------

    def recover(self, now: float) -> None:
        """After a (re)start: chunks the store says were running belong to a dead dispatcher. Their
        frames go back to the queue (verified frames stay done) and their nodes are checked for the
        recorded process group before reuse."""
        self._recovered = True
        store = self.state.store
        with store.tx():
            for chunk in store.open_chunks():
                lost = move_chunk(chunk.state, ChunkState.LOST)
                why = "dispatcher restarted while it ran"
                store.update_chunk(chunk.id, state=lost, ended=now, message=why)
                if chunk.pgid is not None:
                    self.nodes.check_before_reuse(chunk.node, chunk.pgid, chunk.job_id, chunk.id)
                store.add_event(
                    chunk.job_id,
                    "recovered",
                    f"chunk {chunk.id} on {chunk.node} was running when the "
                    "dispatcher stopped; its unfinished frames are queued again",
                    node=chunk.node,
                    now=now,
                )
            for job_id in store.job_ids():
                rendering = [i for i, f in enumerate(store.frames(job_id)) if f.state is FrameState.RENDERING]
                store.update_frames(job_id, rendering, state=FrameState.WAITING)
            store.set_meta("dispatcher_started", repr(now))

    def close(self) -> None:
        """Stop every running task (their frames stay queued for the next start) and release threads."""
        now = self.state.clock()
        for task in list(self.state.tasks.values()):
            self.state.kill(task, StopCause.SHUTDOWN, "the dispatcher is stopping", now)
        deadline = time.monotonic() + self.state.retry.cancel_grace + 3.0
        while self.state.tasks and time.monotonic() < deadline:
            self.step()
            time.sleep(STEP_SECONDS)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self.aftercare.close()

    def run(self, stop: Optional[threading.Event] = None) -> None:
        """Step until ``stop`` is set or a client sends the stop command."""
        stop = stop or self.stop_requested
        if not self._recovered:
            self.recover(self.state.clock())
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
