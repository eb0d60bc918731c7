"""A discrete-event simulator of a farm, driving the real scheduling policy.

Nodes have a speed (a frame of cost ``w`` takes ``w / speed`` seconds) and a start cost (seconds from a
chunk's launch to its first frame: connect, renderer start, scene load). The simulator plays what the
dispatcher does with the decisions of :mod:`farmhand.engine.scheduler`: free nodes ask for work after
every event (the dispatcher wakes on node output), chunks render their frames in order, a re-split
stops the old process when it reaches a frame that was taken, a backup copy races the original and the
loser is killed, persistent workers load once and are fed frames. Speeds and start costs are measured
the way the dispatcher measures them, so the policy sees estimates, not the truth.

It exists to test the policy (unit tests assert on makespans here, in simulated time, never on the
wall clock) and to compare policies over a grid of farms (``bench/bench_schedule.py``). A policy is
a :class:`Rules`: the free-node decision, how many frames a loaded worker holds, and what an idle worker
does at the tail (the real ones by default).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable, Optional

from farmhand.engine import scheduler
from farmhand.engine.scheduler import Decision, DecisionKind, NodeSpeed, Policy, RunningWork

Decide = Callable[
    [NodeSpeed, Sequence[NodeSpeed], int, Sequence[RunningWork], Policy, Optional[int]], Optional[Decision]
]
Holding = Callable[
    [NodeSpeed, Sequence[NodeSpeed], int, RunningWork, Sequence[RunningWork], Policy], int
]
Tail = Callable[[NodeSpeed, Sequence[NodeSpeed], Sequence[RunningWork], Policy], Optional[Decision]]
WAITING, RENDERING, DONE = 0, 1, 2
_HORIZON = 1e6  # simulated seconds after which a run that cannot finish is stopped


@dataclass(frozen=True)
class SimNode:
    """A simulated render node. ``cores`` is what its inventory reports and ``weight`` its speed as earlier
    jobs measured it (None: a farm with no history): the policy's priors."""

    name: str
    speed: float = 1.0
    start: float = 0.0
    cores: int = 1
    weight: Optional[float] = None


@dataclass(frozen=True)
class Rules:
    """The policy under test, as three functions with the signatures of the scheduler's own.

    Attributes:
        next_work: what a free node does for the job (a worker job: any TAKE starts a session).
        worker_holding: frames a loaded worker should hold.
        worker_tail: what an idle loaded worker does when nothing waits (None: it quits).
    """

    next_work: Decide = scheduler.next_work
    worker_holding: Holding = scheduler.worker_holding
    worker_tail: Optional[Tail] = scheduler.tail_action


@dataclass(frozen=True)
class SimResult:
    makespan: float  # from submit to the end of the last process
    frames: dict[str, int]  # frames each node rendered first (copies that lost a race not counted)
    chunks: int  # processes started (chunks, backups, worker sessions)
    steals: int
    backups: int

    def ratio(self, ideal: float) -> float:
        return self.makespan / ideal


def ideal_makespan(nodes: Sequence[SimNode], costs: Sequence[float]) -> float:
    """Σwork / Σspeed plus one start (the cheapest): no schedule on these nodes can beat it."""
    return sum(costs) / sum(n.speed for n in nodes) + min(n.start for n in nodes)


@dataclass
class _Task:
    chunk_id: int
    node: SimNode
    order: list[int]  # frames in render order (a worker: frames sent, in order)
    started: float
    persistent: bool = False
    backup_of: Optional[int] = None
    loaded: bool = False  # first frame reached (chunk) or scene loaded (worker)
    pos: int = -1  # index in ``order`` of the frame in progress or last finished
    current: Optional[int] = None
    current_started: Optional[float] = None
    current_end: float = 0.0
    stolen: set[int] = field(default_factory=set)
    done: set[int] = field(default_factory=set)
    end_at: Optional[float] = None  # killed or quitting: when the node is free again

    def pending(self) -> list[int]:
        return [i for i in self.order[self.pos + 1:] if i not in self.stolen]

    def next_time(self, now: float) -> float:
        if self.end_at is not None:
            return self.end_at
        if not self.loaded:
            return self.started + self.node.start
        if self.current is not None:
            return self.current_end
        return now if self.order[self.pos + 1:] else float("inf")  # a fed worker starts at once


class _Farm:
    """The simulation's state and its dispatcher loop."""

    def __init__(
        self, nodes: Sequence[SimNode], costs: Sequence[float], policy: Policy, rules: Rules,
        worker: bool, fixed: Optional[int], jitter: float, seed: int, kill_delay: float,
    ) -> None:
        self.nodes, self.costs, self.policy, self.rules = list(nodes), list(costs), policy, rules
        self.worker, self.fixed, self.kill_delay = worker, fixed, kill_delay
        self.rng, self.jitter = random.Random(seed), jitter
        self.state = [WAITING] * len(costs)
        self.owners: list[set[int]] = [set() for _ in costs]
        self.spf: dict[str, Optional[float]] = {n.name: None for n in nodes}
        self.startup: dict[str, Optional[float]] = {n.name: None for n in nodes}
        self.tasks: dict[int, _Task] = {}
        self.credit: dict[str, int] = {n.name: 0 for n in nodes}
        self.chunks = self.steals = self.backups = 0
        self.now = 0.0

    # --- what the policy sees -----------------------------------------------------------------------

    def team(self) -> list[NodeSpeed]:
        return [self.speed_of(n) for n in self.nodes]

    def speed_of(self, n: SimNode, startup: Optional[float] = None) -> NodeSpeed:
        start = self.startup[n.name] if startup is None else startup
        return NodeSpeed(n.name, n.cores, self.spf[n.name], start, n.weight)

    def waiting(self) -> list[int]:
        return [i for i, s in enumerate(self.state) if s == WAITING]

    def work(self, task: _Task) -> RunningWork:
        """``task`` as the dispatcher describes a chunk in flight (see ``assign.JobView``)."""
        measured = [s for s in self.spf.values() if s]
        spf = scheduler.Estimates(self.team()).spf(self.speed_of(task.node)) or (
            sum(measured) / len(measured) if measured else 1.0)
        left, spf = scheduler.work_left(spf, self.startup[task.node.name], task.started,
                                   task.current_started, self.now)
        backed = task.backup_of is not None or any(t.backup_of == task.chunk_id for t in self.tasks.values())
        return RunningWork(task.chunk_id, task.node.name, len(task.pending()), left, spf,
                           task.current is not None, backed, task.persistent)

    def running(self, besides: str) -> list[RunningWork]:
        return [self.work(t) for t in self.tasks.values() if t.end_at is None and t.node.name != besides]

    # --- the dispatcher's pass ----------------------------------------------------------------------

    def assign(self) -> None:
        if self.worker:
            self.feed_workers()
        busy = {t.node.name for t in self.tasks.values()}
        for node in sorted(self.nodes, key=lambda n: (-n.cores, n.name)):
            if node.name in busy:
                continue
            waiting = self.waiting()
            if self.worker and not waiting:
                continue  # a new worker would first load the scene: the tail is left to loaded ones
            me = self.speed_of(node)
            decision = self.rules.next_work(me, self.team(), len(waiting), self.running(node.name),
                                            self.policy, self.fixed)
            if decision is not None and self.worker:
                if decision.kind is DecisionKind.TAKE:
                    self.launch(node, [], persistent=True)
            elif decision is not None:
                self.act(node, decision, waiting)

    def act(self, node: SimNode, decision: Decision, waiting: list[int]) -> None:
        if decision.kind is DecisionKind.TAKE:
            self.launch(node, waiting[: decision.frames])
            return
        victim = self.tasks[decision.chunk_id or 0]
        if decision.kind is DecisionKind.STEAL:
            taken = victim.pending()[-decision.frames:]
            victim.stolen.update(taken)
            for i in taken:
                self.owners[i].discard(victim.chunk_id)
            self.steals += 1
            if not victim.pending() and victim.current is None and not victim.persistent:
                self.kill(victim)
            if victim.persistent:
                self.feed(self.worker_of(node), taken)
            else:
                self.launch(node, taken)
        elif victim.current is not None:
            self.backups += 1
            if victim.persistent:
                self.feed(self.worker_of(node), [victim.current])
            else:
                self.launch(node, [victim.current], backup_of=victim.chunk_id)

    def launch(self, node: SimNode, frames: list[int], *, persistent: bool = False,
               backup_of: Optional[int] = None) -> None:
        self.chunks += 1
        task = _Task(self.chunks, node, list(frames), self.now, persistent=persistent, backup_of=backup_of)
        self.tasks[task.chunk_id] = task
        for i in frames:
            self.state[i] = RENDERING
            self.owners[i].add(task.chunk_id)

    def worker_of(self, node: SimNode) -> _Task:
        return next(t for t in self.tasks.values() if t.node.name == node.name)

    def feed(self, task: _Task, frames: list[int]) -> None:
        for i in frames:
            task.order.append(i)
            self.state[i] = RENDERING
            self.owners[i].add(task.chunk_id)

    def feed_workers(self) -> None:
        for task in list(self.tasks.values()):
            if not task.persistent or not task.loaded or task.end_at is not None:
                continue
            name = task.node.name
            me = self.speed_of(task.node, startup=0.0)
            mine = self.work(task)
            want = self.rules.worker_holding(me, self.team(), len(self.waiting()), mine,
                                             self.running(name), self.policy)
            held = len(task.pending()) + (task.current is not None)
            if held < want:
                self.feed(task, self.waiting()[: want - held])
            if task.current is None and not task.pending() and not self.waiting():
                tail = self.rules.worker_tail
                decision = None if tail is None else tail(me, self.team(), self.running(name), self.policy)
                if decision is None:
                    task.end_at = self.now  # told to quit
                else:
                    self.act(task.node, decision, [])

    # --- what happens on the nodes ------------------------------------------------------------------

    def advance(self, task: _Task) -> None:
        """Handle the event of ``task`` due now."""
        if task.end_at is not None:
            self.end(task)
            return
        if not task.loaded:
            task.loaded = True
            if task.persistent:
                self.startup[task.node.name] = self.now - task.started
                return
        elif task.current is not None:
            self.finish_frame(task, task.current)
        self.next_frame(task)

    def next_frame(self, task: _Task) -> None:
        task.current = task.current_started = None
        pending = task.order[task.pos + 1:]
        if not pending:
            if not task.persistent:
                self.end(task)
            return
        task.pos += 1
        idx = task.order[task.pos]
        if idx in task.stolen or (task.persistent and self.state[idx] == DONE):
            self.kill(task)  # it reached a frame that was re-split away
            return
        if task.pos == 0 and not task.persistent:
            self.startup[task.node.name] = self.now - task.started
        factor = 1.0 + self.rng.uniform(-self.jitter, self.jitter) if self.jitter else 1.0
        task.current, task.current_started = idx, self.now
        task.current_end = self.now + self.costs[idx] * factor / task.node.speed

    def finish_frame(self, task: _Task, idx: int) -> None:
        name = task.node.name
        seconds = self.now - (task.current_started or self.now)
        self.spf[name] = scheduler.update_average(self.spf[name], max(seconds, 1e-3), self.policy.smoothing)
        task.done.add(idx)
        self.owners[idx].discard(task.chunk_id)
        if self.state[idx] == DONE:
            return
        self.state[idx] = DONE
        self.credit[name] += 1
        for other in list(self.owners[idx]):
            loser = self.tasks.get(other)
            self.owners[idx].discard(other)
            if loser is not None and all(self.state[i] == DONE for i in loser.order if i not in loser.stolen):
                self.kill(loser)

    def kill(self, task: _Task) -> None:
        if task.end_at is None:
            task.end_at = self.now + self.kill_delay
        task.current = None

    def end(self, task: _Task) -> None:
        """The process is gone: frames it still owned go back to the queue."""
        self.tasks.pop(task.chunk_id, None)
        for i in task.order:
            self.owners[i].discard(task.chunk_id)
            if self.state[i] == RENDERING and not self.owners[i]:
                self.state[i] = WAITING

    # --- the loop -----------------------------------------------------------------------------------

    def run(self, tick: float) -> float:
        self.assign()
        while min(self.state, default=DONE) != DONE or self.tasks:
            if not self.tasks:
                raise RuntimeError("the policy left waiting frames with every node free")
            due = min((t.next_time(self.now) for t in self.tasks.values()), default=float("inf"))
            idle = len(self.tasks) < len(self.nodes)
            self.now = min(due, self.now + tick) if idle else due
            if self.now > _HORIZON:
                raise RuntimeError("simulation did not finish: the policy left frames unrendered")
            for task in sorted(self.tasks.values(), key=lambda t: t.chunk_id):
                while task.chunk_id in self.tasks and task.next_time(self.now) <= self.now + 1e-12:
                    self.advance(task)
            self.assign()
        return self.now


def simulate(
    nodes: Sequence[SimNode],
    costs: Sequence[float],
    policy: Optional[Policy] = None,
    *,
    rules: Optional[Rules] = None,
    worker: bool = False,
    fixed: Optional[int] = None,
    jitter: float = 0.0,
    seed: int = 0,
    tick: float = 0.05,
    kill_delay: float = 0.1,
) -> SimResult:
    """Render one job of frames ``costs`` (seconds at speed 1) on ``nodes`` and report what happened.

    Args:
        rules: the policy (the real one by default).
        worker: persistent workers (load once, frames fed one at a time) instead of chunks.
        fixed: a fixed chunk size, as ``--chunk N``.
        jitter: each frame takes ±this fraction longer or shorter at random (seeded by ``seed``).
        tick: the dispatcher also steps this often while a node is free (backups are timed on it).
        kill_delay: seconds from stopping a process to its node being free.
    """
    if not nodes or not costs:
        raise ValueError("a simulation needs nodes and frames")
    farm = _Farm(nodes, costs, policy or Policy(), rules or Rules(), worker, fixed, jitter, seed, kill_delay)
    makespan = farm.run(tick)
    return SimResult(makespan, dict(farm.credit), farm.chunks, farm.steals, farm.backups)
