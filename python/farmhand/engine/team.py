"""Several dispatchers, one farm: node leases, adoption, a shared view of every job, and fair share.

With a farm database (docs/team.md) every artist's dispatcher, or one on a server, or both, serve the
same queue at once. Each one is a peer: it sees every job and may render any of them, on the nodes it
leases. What keeps them from stepping on each other:

* **Writers go one at a time.** Every write transaction of the farm database first takes one advisory
  lock (:mod:`farmhand.engine.pg.sqlite_dialect`), as SQLite's writers do, and each assignment pass
  re-reads the frames it decides on inside its transaction (:meth:`Team.refresh`). A frame another
  dispatcher handed out is seen as rendering, so no frame is booked twice.
* **A node is leased to one dispatcher at a time.** A pass leases the free nodes it may hand work to
  (:meth:`Team.lease_for_assign`) and gives back the ones left idle (:meth:`Team.after_assign`); the
  leases of busy nodes are renewed every quarter of their length (:meth:`Team.renew`). The node-side
  lock stays the last line of defence.
* **A dispatcher that dies or loses the database stops.** Its leases run out; one that cannot renew in
  time drops its renders itself (:meth:`Team.check` raises, the dispatcher starts again from the store)
  and hands out nothing until it can. Another dispatcher adopts the expired leases with the chunks open
  on them: their frames go back to the queue and the node's old process group is checked (killed if it
  still runs) before the node takes new work.
* **Node time is shared fairly.** Among jobs of equal priority, the next free node goes to the account
  (owner, or project with a share) holding the fewest nodes for its weight, counted over every
  dispatcher (:mod:`farmhand.engine.fairshare` states the rule); priority still wins and nothing running
  is killed to rebalance.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional, Protocol

from farmhand.engine.jobrun import JobRun
from farmhand.engine.noderun import StopCause, Task, TaskPhase
from farmhand.engine.nodewatch import NodeWatch
from farmhand.engine.state import EngineState, FarmNode
from farmhand.engine.store.database import StoreError
from farmhand.jobs import ChunkState, FrameState, JobState

log = logging.getLogger(__name__)

#: Default seconds a node lease lasts without renewal (``team.lease_seconds`` in dispatcher.json).
LEASE_SECONDS = 15.0
_TAKING = (JobState.QUEUED, JobState.RUNNING)
#: A dispatcher silent this long, holding no lease, is dropped from the farm's list; looked at this often.
FORGET_AFTER = 24 * 3600.0
FORGET_EVERY = 600.0


@dataclass(frozen=True)
class AdoptedChunk:
    """A chunk left open by a dispatcher whose lease on its node expired."""

    id: int
    job_id: str
    node: str
    idxs: tuple[int, ...]
    pgid: Optional[int]
    previous: str


@dataclass(frozen=True)
class FairInputs:
    """What every dispatcher holds, by account; each account's weight; each job's account."""

    usage: dict[str, float] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)
    preempt: bool = False  # a wrangler lets dispatchers stop chunks to give nodes to accounts below share


@dataclass(frozen=True)
class FrameChange:
    """A frame as the store has it now (one changed since the dispatcher last looked)."""

    job_id: str
    idx: int
    state: FrameState
    node: Optional[str]
    attempts: int


class TeamDb(Protocol):
    """The farm database's answers (:class:`farmhand.engine.pg.team.PgTeam`); each call joins the
    store's open transaction."""

    id: str

    def register(self) -> None: ...
    def renew(self, ttl: float) -> list[str]: ...
    def acquire(self, nodes: list[str], ttl: float) -> list[str]: ...
    def release(self, nodes: list[str]) -> list[str]: ...
    def leased_by_others(self) -> set[str]: ...
    def adopt(self, ttl: float) -> tuple[list[str], list[AdoptedChunk]]: ...
    def fair_inputs(self) -> FairInputs: ...
    def frame_states(self, job_id: str) -> list[tuple[FrameState, Optional[str], int]]: ...
    def lock(self) -> None: ...
    def heads(self, job_ids: list[str]) -> dict[str, tuple[JobState, int, Optional[str]]]: ...
    def changed_frames(self, job_ids: list[str], since: int) -> tuple[int, list[FrameChange]]: ...
    def my_open_chunks(self) -> set[int]: ...
    def forget(self, older_than: float) -> list[str]: ...
    def leave(self) -> None: ...


class LeasesLost(StoreError):
    """This dispatcher could not renew its node leases in time: others may adopt them."""


class Team:
    """This dispatcher's part in a shared farm (see the module docstring)."""

    def __init__(self, state: EngineState, nodes: NodeWatch, db: TeamDb,
                 lease_seconds: float = LEASE_SECONDS) -> None:
        self.state = state
        self.nodes = nodes
        self.db = db
        self.ttl = lease_seconds
        self.held: set[str] = set()
        self.valid_until = float("inf")
        self.next_renew = -float("inf")
        self.others: set[str] = set()  # nodes other dispatchers lease, as of the last pass
        self.fair = FairInputs()
        self._farm: Optional[dict[str, FarmNode]] = None
        self._registered = False
        self._seen = 0  # the newest frame version read
        self._forget_at = -float("inf")

    @property
    def id(self) -> str:
        return self.db.id

    def lock(self) -> None:
        """Take the farm's write lock for the rest of the current transaction."""
        self.db.lock()

    def reset(self) -> None:
        """After the dispatcher dropped its tasks: nothing is held until the next renewal says so."""
        self.held.clear()
        self.valid_until = float("inf")
        self.next_renew = -float("inf")
        if self._farm is not None:
            self.state.farm, self._farm = self._farm, None

    # --- leases ---------------------------------------------------------------------------------------

    def check(self, now: float) -> None:
        """Refuse to go on once this dispatcher's leases may have run out (it could not renew them).

        Raises:
            LeasesLost: the renders are dropped and the dispatcher starts again from the store.
        """
        if self.state.tasks and now > self.valid_until:
            raise LeasesLost(f"could not renew this dispatcher's node leases for {self.ttl:.0f}s (the farm "
                             "database was out of reach): its renders are dropped, other dispatchers "
                             "take the frames over")

    def renew(self, now: float) -> None:
        """Renew this dispatcher's leases and adopt expired ones of others (its own transaction), every
        quarter of the lease; drop the renders on nodes another dispatcher took over."""
        if now < self.next_renew:
            return
        store = self.state.store
        with store.tx():
            if not self._registered:
                self.db.register()
                self._registered = True
            held = set(self.db.renew(self.ttl))
            adopted_nodes, chunks = self.db.adopt(self.ttl)
            for chunk in chunks:
                self._requeue(chunk, now)
            if now >= self._forget_at:  # dispatchers long gone (a restart gets a new id) leave the list
                self._forget_at = now + FORGET_EVERY
                self.db.forget(FORGET_AFTER)
        self.valid_until = now + self.ttl * 0.75
        self.next_renew = now + self.ttl / 4
        self.held = held | set(adopted_nodes)
        for task in [t for t in self.state.tasks.values() if t.node not in self.held]:
            log.warning("%s: another dispatcher took this node over; dropping chunk %s",
                        task.node, task.chunk_id)
            task.abandon()
            del self.state.tasks[task.chunk_id]
            job = self.state.jobs.get(task.job_id)
            for rec in job.frames if job is not None else ():
                rec.owners.discard(task.chunk_id)

    def _requeue(self, chunk: AdoptedChunk, now: float) -> None:
        """Close a dead dispatcher's chunk and queue its unfinished frames again."""
        store = self.state.store
        store.update_chunk(chunk.id, state=ChunkState.LOST, ended=now,
                           message=f"its dispatcher ({chunk.previous}) stopped; adopted by {self.id}")
        states = self.db.frame_states(chunk.job_id)
        again = [i for i in chunk.idxs if i < len(states) and states[i][0] is FrameState.RENDERING]
        retrying = [i for i in again if states[i][2] > 0]
        if retrying:
            store.update_frames(chunk.job_id, retrying, state=FrameState.RETRYING)
        if len(retrying) < len(again):
            fresh = [i for i in again if i not in retrying]
            store.update_frames(chunk.job_id, fresh, state=FrameState.WAITING)
        if chunk.pgid is not None:
            self.nodes.check_before_reuse(chunk.node, chunk.pgid, chunk.job_id, chunk.id)
        store.add_event(chunk.job_id, "adopted",
                        f"chunk {chunk.id} on {chunk.node} belonged to a dispatcher that stopped "
                        f"({chunk.previous}); {len(again)} unfinished frame(s) queued again",
                        node=chunk.node, now=now)

    def idle_peer(self) -> bool:
        """Nothing to render and every node of its registry leased by others: the pass would only wait
        for the write lock to find that out again (one read instead)."""
        if self.state.tasks or self.held or not self.state.farm:
            return False
        return set(self.state.farm) <= self.db.leased_by_others()

    def lease_for_assign(self) -> None:
        """In the assignment transaction: lease the free nodes this pass may use, and hand the pass only
        the nodes this dispatcher holds."""
        wanted = any(j.state in _TAKING and j.deps_met for j in self.state.jobs.values())
        self.others = self.db.leased_by_others()
        if wanted:
            free = [n for n in self.state.farm if n not in self.others and n not in self.held]
            self.held |= set(self.db.acquire(free, self.ttl))
        self._farm = self.state.farm
        self.state.farm = {n: f for n, f in self._farm.items() if n in self.held}

    def after_assign(self) -> None:
        """Give back the leased nodes the pass left idle (a node still being checked stays leased)."""
        if self._farm is not None:
            self.state.farm, self._farm = self._farm, None
        idle = [n for n in sorted(self.held) if not self.state.busy_on(n) and n not in self.nodes.to_check
                and n not in self.nodes.checks]
        self.held -= set(self.db.release(idle))

    def leave(self) -> None:
        try:
            self.db.leave()
        except StoreError as exc:
            log.warning("could not give up the node leases (they expire by themselves): %s", exc.message)

    # --- the shared view --------------------------------------------------------------------------------

    def refresh(self, now: float) -> None:
        """In the assignment transaction, under the farm's write lock: every loaded job's state and the
        frames changed since the last look (other dispatchers change them), and what every dispatcher
        holds for fair share."""
        self.db.lock()
        jobs = self.state.jobs
        heads = self.db.heads(list(jobs))
        for job in list(jobs.values()):
            head = heads.get(job.id)
            if head is None:  # a wrangler removed it (only finished jobs can be): nothing left to do
                for task in self.state.tasks_of(job.id):
                    self.state.kill(task, StopCause.USER, "the job was removed", now)
                del jobs[job.id]
                continue
            state, job.priority, error = head
            if state is not job.state:
                self._follow(job, state, error, now)
        self._seen, changes = self.db.changed_frames(list(jobs), self._seen)
        for change in changes:
            frames = jobs[change.job_id].frames if change.job_id in jobs else []
            rec = frames[change.idx] if change.idx < len(frames) else None
            if rec is not None and not rec.owners:  # a frame this dispatcher renders: its record is newer
                rec.state, rec.node, rec.attempts = change.state, change.node, change.attempts
        self.fair = self.db.fair_inputs()

    def refresh_job(self, job: JobRun, now: float) -> None:
        """One job as the store has it, read whole under the farm's write lock (before ending it)."""
        self.db.lock()
        head = self.state.store.job(job.id)
        job.priority = head.priority
        if head.state is not job.state:
            self._follow(job, head.state, head.error, now)
        states = self.db.frame_states(job.id)
        for rec, (state, node, attempts) in zip(job.frames, states):
            if rec.owners:
                continue  # this dispatcher renders it: its own record is the newer one
            rec.state, rec.node, rec.attempts = state, node, attempts

    def _follow(self, job: JobRun, state: JobState, error: Optional[str], now: float) -> None:
        """Another dispatcher moved the job (a command it applied, or the job's end): follow it."""
        job.state = state
        job.error = error
        if state.finished:
            for task in self.state.tasks_of(job.id):
                self.state.kill(task, StopCause.USER, f"the job is {state.value}", now)

    def order(self, jobs: Sequence[JobRun], given: dict[str, int]) -> list[JobRun]:
        """``jobs`` in the order the next free node should be offered them: priority, then the account
        holding the fewest nodes for its weight after taking one more (``given``: nodes handed out in this
        pass, by account), then age."""
        fair = self.fair

        def key(job: JobRun) -> tuple[int, float, float, str]:
            account = fair.accounts.get(job.id, "")
            held = fair.usage.get(account, 0.0) + given.get(account, 0)
            return (-job.priority, (held + 1.0) / fair.weights.get(account, 1.0), job.created, job.id)

        return sorted(jobs, key=key)

    def account(self, job: JobRun) -> str:
        return self.fair.accounts.get(job.id, "")

    # --- pre-emption (only when a wrangler turned it on) ---------------------------------------------

    def preempt(self, now: float) -> None:
        """In the assignment transaction, after the pass: when an account with waiting work holds fewer
        nodes for its weight than another would after giving one up, stop the youngest chunk of the most
        favoured account on this dispatcher's nodes (one at a time; its frames go back to the queue, no
        attempt counted). The freed node then goes to the account below its share, by fair order."""
        tasks = self.state.tasks.values()
        if not self.fair.preempt or any(t.kill_cause is StopCause.PREEMPTED for t in tasks):
            return  # one at a time: the stopped chunk's node is handed out first
        if any(n in self.state.farm and not self.state.busy_on(n) for n in self.held):
            return  # a node of ours is free: nothing needs taking
        wanting = self._wanting()
        if not wanting:
            return
        held, weights = self.fair.usage, self.fair.weights
        best: Optional[tuple[float, float, Task]] = None
        for task in self.state.tasks.values():
            job = self.state.jobs.get(task.job_id)
            if job is None or task.phase is not TaskPhase.RUNNING or task.kill_reason or task.backup_of:
                continue
            giver = self.account(job)
            after = (held.get(giver, 0.0) - 1.0) / weights.get(giver, 1.0)
            if not any(account != giver and priority >= job.priority
                       and (held.get(account, 0.0) + 1.0) / weights.get(account, 1.0) <= after
                       for account, priority in wanting.items()):
                continue
            key = (after, task.started, task)
            if best is None or key[:2] > best[:2]:
                best = key
        if best is not None:
            task = best[2]
            job = self.state.jobs[task.job_id]
            reason = f"its node goes to a user below their fair share ({self.account(job)} holds more)"
            job.event("preempted", f"chunk {task.chunk_id} on {task.node} stopped: {reason}", now,
                      node=task.node)
            self.state.kill(task, StopCause.PREEMPTED, reason, now)

    def _wanting(self) -> dict[str, int]:
        """Accounts with frames waiting for a node, and the highest priority they wait at."""
        found: dict[str, int] = {}
        for job in self.state.jobs.values():
            if job.state in _TAKING and job.deps_met and job.waiting():
                account = self.account(job)
                found[account] = max(found.get(account, job.priority), job.priority)
        return found
