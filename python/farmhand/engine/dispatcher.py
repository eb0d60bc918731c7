"""The dispatcher: one step function that moves every job forward, wrapped by ``run()`` until stopped.

The dispatcher owns its parts, each a class of its own module sharing one
:class:`~farmhand.engine.state.EngineState` (the store, executor, clocks, thresholds, jobs, tasks, nodes):

========================  =====================================================================
``commands``              client commands: cancel, pause, resume, retry, priority, requeue, stop
``gates``                 ``after`` dependencies and the path map
``nodes``                 per-node backoffs, leftover checks, slow exits
``outcomes``              each task's output lines, frame events and end
``verifier``              output checks of finished frames
``blame``                 what a failure costs the frame, the node and the job
``assigner``              work for free nodes, frames for persistent workers
``publisher``             per-node progress rows and ETAs for clients
``aftercare``             hooks, notifications and previews of jobs that ended
``faults``                unexpected errors, contained to the command, task, frame or job
``recovery``              starting from the store (after a start, or a failed store write)
========================  =====================================================================

Each :meth:`Dispatcher.step` does what it reads top-down, in a few short store transactions: parsing
output lines, writing render logs and looking at outputs on the share happen outside them (or on the
helper pool), so readers and clients never wait long for the store. The monotonic clock (``now``), the
wall clock (timestamps only) and the :class:`~farmhand.remote.Executor` are injected, and blocking SSH
calls run on an injected ``submit`` (a thread pool in production, inline in unit tests), so tests drive
steps by hand. Every decision is written to the store's events table.

The dispatcher is crash-only: an unexpected error in one piece of work is contained there
(:mod:`.faults`), a store that refuses a write makes it start again from the store (:mod:`.recovery`),
and ``run`` never ends for either.
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
from farmhand.engine.faults import Faults, describe
from farmhand.engine.gates import Gates
from farmhand.engine.hooks import NotifySettings, load_settings
from farmhand.engine.jobrun import JobRun
from farmhand.engine.lifecycle import Aftercare
from farmhand.engine.noderun import StopCause, Submit, Task, TaskPhase
from farmhand.engine.nodewatch import NodeWatch
from farmhand.engine.outcomes import Outcomes
from farmhand.engine.publish import Publisher
from farmhand.engine.recovery import Recovery
from farmhand.engine.scheduler import Policy
from farmhand.engine.settings import Verification
from farmhand.engine.state import EngineState, NodeSource
from farmhand.engine.store import Store
from farmhand.engine.store.database import StoreBusy, StoreError
from farmhand.engine.store.retention import Retention, prune
from farmhand.engine.team import LEASE_SECONDS, Team, TeamDb
from farmhand.engine.transitions import can_move_job
from farmhand.engine.verify import Verifier
from farmhand.errors import FarmhandError
from farmhand.jobs import FrameState, JobState, Retry
from farmhand.pathmap import PathMap
from farmhand.remote import Executor
from farmhand.ssh import pool_size

log = logging.getLogger(__name__)

#: The longest wait between two steps; a node printing a line (a frame finished) wakes the dispatcher
#: at once, so this only bounds how soon a client's command is seen.
STEP_SECONDS = 0.1
MIN_STEP_SECONDS = 0.02
LOAD_STALL_FACTOR = 5.0
HEARTBEAT_SECONDS = 2.0
#: Longest pause before starting again from the store after it refused a write (it doubles up to this).
MAX_RESTART_PAUSE = 30.0
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
    """Moves every job of one store forward. Not thread-safe: one thread calls ``step``/``run``.

    Args:
        clock: monotonic seconds for every duration (default :func:`time.monotonic`).
        wall: seconds since the epoch, for timestamps only (default :func:`time.time`).
    """

    def __init__(
        self,
        store: Store,
        executor: Executor,
        nodes: NodeSource,
        *,
        clock: Optional[Callable[[], float]] = None,
        wall: Optional[Callable[[], float]] = None,
        submit: Optional[Submit] = None,
        retry: Optional[Retry] = None,
        policy: Optional[Policy] = None,
        verify: Optional[Verification] = None,
        retention: Optional[Retention] = None,
        node_package: Optional[str] = None,
        node_refresh: float = 5.0,
        pathmap: Optional[PathMap] = None,
        notify: Optional[NotifySettings] = None,
        team: Optional[TeamDb] = None,
        lease_seconds: float = LEASE_SECONDS,
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
            clock=clock or time.monotonic,
            wall=wall or time.time,
            retry=retry or Retry(),
            policy=policy or Policy(),
            node_package=node_package or default_node_package(),
            pathmap=pathmap or PathMap(),
        )
        # The parts write through a view of the store in which every time is this dispatcher's clock.
        self.state.store = store.view(self.state.stamp)
        self.retention = retention or Retention()
        self.node_source = nodes
        self.node_refresh = node_refresh
        self.stop_requested = threading.Event()
        self.wake = threading.Event()  # set by any task's output line: ends the wait between steps
        self.nodes = NodeWatch(self.state)
        # A farm database served by several dispatchers (engine/team.py); None: this one alone.
        self.team = Team(self.state, self.nodes, team, lease_seconds) if team is not None else None
        self.faults = Faults(self.state, self.nodes)
        self.recovery = Recovery(self.state, self.nodes, team.my_open_chunks if team is not None else None)
        self.publisher = Publisher(self.state, self.nodes, shared=team is not None)
        self.blame = Blame(self.state, self.nodes)
        self.verifier = Verifier(self.state, self.blame, self.faults, verify)
        # Hooks and previews: on threads of their own in production, inline under an injected submit.
        self.aftercare = Aftercare(self.state, notify or load_settings(paths.home() / "dispatcher.json"),
                                   None if self._pool is not None else submit,
                                   lock=self.team.lock if self.team is not None else None)
        self.outcomes = Outcomes(self.state, self.nodes, self.verifier, self.blame, self.retention.log_bytes)
        self.assigner = Assigner(self.state, self.nodes, self.team)
        # Given: fixed (tests). Otherwise FARMHAND_HOME/pathmap.json, read again when it changes.
        self.gates = Gates(self.state, fixed_pathmap=pathmap is not None)
        self.commands = Commands(self.state, self.publisher, self.stop_requested,
                                 self.team.id if self.team is not None else None)
        self._nodes_at = -1e18
        self._beat_at = -1e18
        self._pruned_at: Optional[float] = None

    # --- the step -------------------------------------------------------------------------------------

    def step(self, now: Optional[float] = None) -> None:
        """Move every job forward once.

        Raises:
            StoreError: the store refused a write (:meth:`run` then starts again from the store).
        """
        now = self.state.clock() if now is None else now
        store = self.state.store
        if not self.recovery.done:
            self.recovery.recover(now)
        if self.team is not None:
            self.team.check(now)
            self.team.renew(now)
        self.commands.apply_pending(now)
        self._refresh_nodes(now)
        self.faults.each_task("reading its output", lambda t, _: t.read(t.job_id in self.state.jobs), now)
        with store.tx():
            self._load_jobs(now)
            self.faults.each_job("checking its dependencies", self.gates.gate, now)
            self.nodes.poll_checks(now)
            self.faults.each_task("reading its output", self.outcomes.pump, now)
        self.outcomes.flush_logs()
        self.verifier.look(now)
        with store.tx():
            self.verifier.settle(now)
            self.faults.each_task("checking it for a stall", self._kill_stalled, now)
        with store.tx():
            self._assign(now)
        with store.tx():
            self.faults.each_job("ending it", self._finish_job, now)
            self._aftercare(now)
            self.faults.each_job("publishing its progress", self.publisher.publish_job, now)
            self._heartbeat(now)
        self._prune(now)
        for task in self.state.tasks.values():
            if task.wake is None:
                task.wake = self.wake
                if task.lines:
                    self.wake.set()

    def _assign(self, now: float) -> None:
        team = self.team
        if team is None:
            self.faults.each_pass("assigning its work", self.assigner.assign, now)
            return
        # Shared farm: decide on the store's frames as of now, on the nodes this dispatcher leases.
        if team.idle_peer():
            return
        team.refresh(now)
        team.lease_for_assign()
        try:
            self.faults.each_pass("assigning its work", self.assigner.assign, now)
            self.faults.each_pass("pre-empting for fair share", team.preempt, now)
        finally:
            team.after_assign()

    def _aftercare(self, now: float) -> None:
        # Hooks and previews are extras: their errors are logged, never a reason to stop rendering.
        self.faults.nobodys("running hooks and previews", self.aftercare.step, now)

    def _load_jobs(self, now: float) -> None:
        """Newly submitted (and still active) jobs join the working set; one that cannot be read fails."""
        store = self.state.store
        for job_id in store.job_ids(_ACTIVE):
            if job_id in self.state.jobs:
                continue
            try:
                job = JobRun.load(store, job_id)
            except StoreError:
                raise
            except Exception as exc:
                message = exc.message if isinstance(exc, FarmhandError) else describe("loading it", exc)
                if not isinstance(exc, FarmhandError):
                    log.error("job %s: %s", job_id, message, exc_info=exc)
                head = store.job(job_id)
                if can_move_job(head.state, JobState.FAILED):
                    store.update_job(job_id, state=JobState.FAILED, error=message, now=now)
                store.add_event(job_id, "failed", message, now=now)
                continue
            self.state.jobs[job_id] = job
            job.event("loaded", f"{len(job.frames)} frames, {job.count(FrameState.DONE)} done", now)

    def _refresh_nodes(self, now: float) -> None:
        """Every ``node_refresh`` seconds: the path map and the registry's nodes, read again."""
        if now - self._nodes_at < self.node_refresh:
            return
        self._nodes_at = now
        self.gates.load_pathmap(now)
        # Keep the nodes we knew when the registry cannot be read: it must not stop renders.
        self.faults.nobodys("reading the node list", self._read_nodes, now)

    def _read_nodes(self, now: float) -> None:
        try:
            self.state.farm = {n.name: n for n in self.node_source()}
        except FarmhandError as exc:
            log.warning("could not read the node list: %s", exc.message)

    def _kill_stalled(self, task: Task, now: float) -> None:
        """Kill a task that showed no output and no progress for longer than its stall limit."""
        retry = self.state.retry
        if task.phase is not TaskPhase.RUNNING or task.kill_reason:
            return
        job = self.state.jobs.get(task.job_id)
        if job is None:
            return
        if task.persistent and task.ready and not task.sent:
            return  # an idle worker waits for us, not the other way round
        limit = retry.stall_timeout(job.stat(task.node).spf or job_spf(job))
        if (task.persistent and not task.ready) or (not task.persistent and task.first_frame_at is None):
            # Before the first frame: loading a big scene (or waiting for the node lock) is quiet.
            limit = max(limit, LOAD_STALL_FACTOR * retry.stall_floor)
        if now - task.last_activity > limit:
            message = f"no output or progress for {limit:.0f}s; killing and re-assigning"
            job.event("stalled", message, now, node=task.node)
            self.state.kill(task, StopCause.STALLED, "stalled", now)

    def _finish_job(self, job: JobRun, now: float) -> None:
        """A job with no task left: retire it when finished, end it when complete, fail it when no node
        can take it."""
        if self.state.tasks_of(job.id):
            return
        if job.state.finished:
            self.publisher.retire(job, now)
            return
        if job.state in (JobState.PAUSED, JobState.WAITING) or self.verifier.pending(job.id):
            return
        waiting = job.count(FrameState.WAITING, FrameState.RETRYING, FrameState.RENDERING)
        if waiting == 0 and self.team is not None:
            # Another dispatcher may have ended it, or still render it: decide on the store's view.
            self.team.refresh_job(job, now)
            if job.state.finished:
                self.publisher.retire(job, now)
                return
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
            self.state.store.set_meta("dispatcher_heartbeat", repr(self.state.stamp(now)))

    def _prune(self, now: float) -> None:
        """Every ``Retention.prune_minutes``: old history out of the store (see its retention module)."""
        if self._pruned_at is not None and now - self._pruned_at < self.retention.prune_minutes * 60.0:
            return
        self._pruned_at = now
        try:
            self.faults.nobodys("pruning history", lambda t: prune(self.state.store, self.retention, t), now)
        except StoreError as exc:  # the next prune tries again; the step itself is fine
            log.warning("pruning history: %s", exc.message)

    # --- lifecycle ------------------------------------------------------------------------------------

    def recover(self, now: float) -> None:
        """Start from the store (see :mod:`.recovery`); the first step does it when nobody did."""
        self.recovery.recover(now)

    def restart(self, why: str) -> None:
        """Start again from the store at the next step: drop every task and job (see :mod:`.recovery`)."""
        log.error("%s; dropping running chunks and starting again from the store", why)
        self.recovery.reset()
        if self.team is not None:
            self.team.reset()
        self.verifier.checks.clear()
        self.outcomes.logs.clear()
        self.publisher.reset()

    def close(self) -> None:
        """Stop every running task (their frames stay queued for the next start) and release threads."""
        now = self.state.clock()
        for task in list(self.state.tasks.values()):
            self.state.kill(task, StopCause.SHUTDOWN, "the dispatcher is stopping", now)
        deadline = time.monotonic() + self.state.retry.cancel_grace + 3.0
        while self.state.tasks and time.monotonic() < deadline:
            try:
                self.step()
            except Exception as exc:  # the store is gone or full: the node watchdogs end the renders
                log.warning("could not record the stop: %s", exc)
                break
            time.sleep(STEP_SECONDS)
        self.recovery.reset()
        if self.team is not None:
            self.team.leave()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self.aftercare.close()

    def run(self, stop: Optional[threading.Event] = None) -> None:
        """Step until ``stop`` is set or a client sends the stop command; nothing else ends it."""
        stop = stop or self.stop_requested
        failures = 0
        while not stop.is_set() and not self.stop_requested.is_set():
            started = time.monotonic()
            try:
                self.step()
                failures = 0
            except StoreBusy as exc:  # nothing was done: the next step tries again
                log.warning("%s", exc.message)
            except Exception as exc:
                # A store that refused a write (full disk, damaged file) or a bug outside every guard:
                # what is in memory may be ahead of the store, so start again from the store, slower
                # each time it happens again.
                failures += 1
                why = exc.message if isinstance(exc, StoreError) else describe("stepping", exc)
                if not isinstance(exc, StoreError):
                    log.error("step failed", exc_info=exc)
                self.restart(why)
                stop.wait(min(0.5 * 2.0 ** min(failures, 16), MAX_RESTART_PAUSE))
            # Sleep until the next step is due, or earlier when a node printed something (a frame
            # finished): progress then reaches clients, and free nodes get work, without polling delay.
            elapsed = time.monotonic() - started
            self.wake.wait(max(0.0, STEP_SECONDS - elapsed))
            self.wake.clear()
            if time.monotonic() - started < MIN_STEP_SECONDS:
                time.sleep(MIN_STEP_SECONDS)
        self.close()
