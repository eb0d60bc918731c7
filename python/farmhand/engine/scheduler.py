"""How the dispatcher splits work: dynamic pull, chunks sized by speed and start cost, balanced finish
times, tail re-split and backup copies.

The policy, in the order the dispatcher applies it each step:

1. **Jobs by priority, then age.** A free node serves the highest-priority job (oldest first among
   equals) that it may render (selected, not blocklisted, a matching Houdini build when the preset needs
   one) and that has work it should take.
2. **Dynamic pull, no static split.** Nothing is assigned in advance: a node asks for work when it is
   free, so a fast node simply comes back more often. A slow or dying node only ever holds one chunk.
3. **Speed and start cost per node.** A node's seconds per frame is its own measurement on the job (an
   exponentially weighted average), else the measured nodes' speed scaled by the node's *prior*: its
   speed relative to the farm as the last finished jobs measured it, or its cores when no job has
   measured it. Its *start cost* is
   what a chunk costs before its first frame renders — connect, renderer start, scene load — measured on
   each chunk of the job (the other nodes' median until it has one).
4. **The first chunks share the frames by prior.** Before anything is measured, each free node takes
   ``first_share`` of its share by prior of the waiting frames (at least ``first_chunk_frames``). A start
   is paid once per chunk, so probing with tiny chunks would cost every node a second start; a node that
   turns out slow has the frames it has not reached re-split at the tail instead.
5. **Expected finish times are balanced** (:mod:`farmhand.engine.balance`): every node of the job is seen
   with the time its current work ends, the frames it holds, its speed and its start cost, and the
   frames left are shared so that all would finish at the same time. A free node's share is what it can
   render by then *after paying its start*: a slow node, or one with a long start, gets nothing when
   faster nodes finish the last frames sooner — it stays free (for other jobs) instead of becoming the
   straggler.
6. **The start-cost rule.** A chunk is never so small that its start outweighs what a smaller chunk
   saves at the end: a node's share is split into more than one chunk only while each chunk still
   renders for ``start_factor`` times the node's start cost; otherwise it takes its whole share at once.
   Above that, chunks take ``tail_fraction`` of the share (guided self-scheduling: they shrink towards
   the end so estimates can still be corrected) and at most ``target_chunk_seconds`` (raised to
   ``2 × start_factor`` starts, so a long scene load never dominates a chunk).
7. **Tail: re-split, then backup.** A free node with nothing waiting takes part of the chunk that holds
   the most frames beyond its balanced share (``steal``): the frames it has not started move to a new
   chunk, the old process stops when it reaches them. Nothing is re-split before the job's first frame
   is measured. The number taken ends both nodes together, the
   thief's start cost included, and the move must save ``steal_min_gain`` seconds. If only frames in
   progress remain, a node expected to need more than ``backup_factor`` × (start + one frame) of the free
   node gets a *backup* copy: first finisher wins, the other is cancelled.
8. **Persistent workers** (a loaded ``hython`` fed frames on stdin) pay their start once. Each holds up
   to two frames (one while frames are slow), and no more than its balanced share, so the last frames
   go to whichever worker finishes them first. An idle worker at the tail re-splits a frame another
   worker holds but has not started, or backs up its frame in progress, with no start cost.

Everything here is pure: numbers in, decisions out. The dispatcher (and the simulator in
:mod:`farmhand.engine.simulate`) feed it measured speeds and act on the decisions.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from farmhand.engine.balance import Member, first_frame_at, shares
from farmhand.engine.estimates import (
    Estimates,
    NodeSpeed,
    estimate_spf,
    estimate_start,
    relative_speed,
    update_average,
    with_node,
    work_left,
)

__all__ = [
    "WORKER_DEPTH", "WORKER_SLOW_FRAME", "Decision", "DecisionKind", "Estimates", "NodeSpeed", "Policy",
    "RunningWork", "chunk_size", "estimate_spf", "estimate_start", "eta_seconds", "job_order", "next_work",
    "relative_speed", "tail_action", "update_average", "work_left", "worker_holding",
]

WORKER_DEPTH = 2  # frames a persistent worker holds, so it never waits for the next one
WORKER_SLOW_FRAME = 2.0  # seconds: frames this slow gain nothing from being sent ahead


@dataclass(frozen=True)
class Policy:
    """Scheduling knobs (the defaults suit hrender chunks of a few minutes).

    Attributes:
        target_chunk_seconds: the longest a chunk aims to render once a node's speed is known.
        first_chunk_frames: the least a node's first chunk of a job takes (for a node of median core
            count; more cores → proportionally more).
        max_chunk_frames: upper bound for any chunk.
        tail_fraction: a chunk takes at most this fraction of the node's balanced share of what is left
            (unless the start-cost rule says to take the whole share).
        smoothing: weight of the newest frame time in a node's seconds/frame average.
        backup_factor: start a backup copy only if the busy node needs this many times longer than the
            free node would for the frame, its start included.
        steal_min_gain: seconds a re-split must save before it is worth stopping a process for.
        start_factor: a chunk renders for at least this many times its node's start cost, unless the
            node's whole share is smaller (then it takes the share).
        first_share: the fraction of its share by prior a node's first chunk takes before any speed of
            the job is known.
    """

    target_chunk_seconds: float = 180.0
    first_chunk_frames: int = 2
    max_chunk_frames: int = 1000
    tail_fraction: float = 0.5
    smoothing: float = 0.3
    backup_factor: float = 1.5
    steal_min_gain: float = 0.25
    start_factor: float = 3.0
    first_share: float = 1.0


@dataclass(frozen=True)
class RunningWork:
    """A chunk (or worker) in flight, as the balance and the tail see it."""

    chunk_id: int
    node: str
    pending: int  # frames it holds and has not started (can be taken away)
    current_left: float  # seconds until the frame in progress ends, or until its first frame starts
    seconds_per_frame: float  # the busy node's estimate
    in_progress: bool  # a frame is rendering right now
    backed_up: bool = False  # it already has a backup copy (or is one)
    persistent: bool = False  # a loaded worker: more frames cost it no new start


class DecisionKind(str, enum.Enum):
    TAKE = "take"  # start a chunk of ``frames`` waiting frames (a worker: start a session)
    STEAL = "steal"  # take the last ``frames`` pending frames of chunk ``chunk_id``
    BACKUP = "backup"  # render a copy of the frame in progress of chunk ``chunk_id``


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind
    frames: int = 0
    chunk_id: Optional[int] = None


# --- the balance --------------------------------------------------------------------------------------


def _members(
    me: NodeSpeed, known: Estimates, team: Sequence[NodeSpeed], running: Sequence[RunningWork],
    fallback: float,
) -> tuple[list[Member], list[Optional[int]]]:
    """Balance members: ``me`` (free) first, then the other free team nodes, then every running chunk.
    The second list gives each member's chunk id (None for a free node)."""
    busy = {w.node for w in running}
    free = [me, *(n for n in team if n.node not in busy and n.node != me.node)]
    members: list[Member] = []
    chunks: list[Optional[int]] = []
    for n in free:
        members.append(Member(0.0, 0.0, known.spf(n) or fallback, known.start(n)))
        chunks.append(None)
    by_name = {n.node: n for n in team}
    for w in running:
        node = by_name.get(w.node, NodeSpeed(w.node))
        start = 0.0 if w.persistent else known.start(node)
        members.append(Member(w.current_left, float(w.pending), max(w.seconds_per_frame, 1e-6), start))
        chunks.append(w.chunk_id)
    return members, chunks


def _earliest(members: Sequence[Member], mine: int) -> bool:
    """Member ``mine`` would finish one more frame no later than any other member."""
    best = min(first_frame_at(m) for m in members)
    return first_frame_at(members[mine]) <= best + 1e-9


# --- chunk sizes --------------------------------------------------------------------------------------


def chunk_size(
    speed: NodeSpeed,
    eligible: Sequence[NodeSpeed],
    waiting: int,
    policy: Policy,
    fixed: Optional[int] = None,
    running: Sequence[RunningWork] = (),
) -> int:
    """How many waiting frames free node ``speed.node`` takes now; 0 when the others finish them sooner.

    Args:
        speed: the node asking for work.
        eligible: the job's team: nodes that are free for it or running it (including ``speed``).
        waiting: frames of the job not yet handed out.
        fixed: the job's fixed chunk size (``--chunk N``), honoured exactly as the user asked.
        running: the job's chunks in flight on other nodes.
    """
    if waiting <= 0:
        return 0
    if fixed:
        return max(1, min(fixed, waiting))
    team = with_node(speed, eligible)
    known = Estimates(team)
    spf = known.spf(speed)
    if spf is None:
        return _first_chunk(speed, known, team, waiting, running, policy)
    members, _ = _members(speed, known, team, running, spf)
    _, caps = shares(members, waiting + sum(w.pending for w in running))
    share = int(caps[0] + 0.5)
    if share == 0:
        if not _earliest(members, 0):
            return 0
        share = 1
    return _sized(share, spf, known.start(speed), waiting, policy)


def _first_chunk(
    speed: NodeSpeed, known: Estimates, team: Sequence[NodeSpeed], waiting: int,
    running: Sequence[RunningWork], policy: Policy,
) -> int:
    """Nothing measured yet: ``first_share`` of the node's share by prior among the free nodes."""
    busy = {w.node for w in running}
    free = [n for n in team if n.node not in busy or n.node == speed.node]
    share = waiting * known.prior(speed) / (sum(known.prior(n) for n in free) or 1.0)
    median_cores = sorted(max(n.cores, 1) for n in team)[len(team) // 2]
    # Shares are rounded to the nearest frame, not up: rounding up for every node would leave the last
    # nodes of a large farm nothing. The floor never exceeds the share either (more free nodes than
    # frames: one frame each).
    least = min(max(1, round(policy.first_chunk_frames * max(speed.cores, 1) / median_cores)),
                max(1, round(share)))
    size = max(least, round(min(policy.first_share, 1.0) * share))
    return max(1, min(size, policy.max_chunk_frames, waiting))


def _sized(share: int, spf: float, start: float, waiting: int, policy: Policy) -> int:
    """The chunk out of a node's balanced ``share``: the start-cost rule, the tail fraction, the caps."""
    least = max(1, math.ceil(policy.start_factor * start / spf - 1e-9))
    longest = max(policy.target_chunk_seconds, 2.0 * policy.start_factor * start)
    cap = max(1, int(longest / spf))
    size = max(math.ceil(policy.tail_fraction * share - 1e-9), min(least, share))
    if share - size < least:
        size = share  # what would be left is not worth a start of its own
    return max(1, min(size, cap, policy.max_chunk_frames, waiting))


# --- the tail -----------------------------------------------------------------------------------------


def tail_action(
    speed: NodeSpeed, eligible: Sequence[NodeSpeed], running: Sequence[RunningWork], policy: Policy
) -> Optional[Decision]:
    """What free node ``speed.node`` should do when no frame is waiting: steal, back up, or nothing."""
    if not running:
        return None
    team = with_node(speed, eligible)
    known = Estimates(team)
    if known.rate is None:
        return None  # nothing of the job measured yet: the first split stands, nothing is known better
    fallback = max(running, key=lambda w: w.seconds_per_frame).seconds_per_frame
    spf = known.spf(speed) or fallback
    members, chunks = _members(speed, known, team, running, spf)
    total = sum(w.pending for w in running)
    if total > 0:
        _, caps = shares(members, total)
        action = _steal(members, chunks, caps, running, policy)
        if action is not None:
            return action
    return _backup(members[0], running, policy)


def _steal(
    members: Sequence[Member],
    chunks: Sequence[Optional[int]],
    caps: Sequence[float],
    running: Sequence[RunningWork],
    policy: Policy,
) -> Optional[Decision]:
    """Re-split the chunk holding the most frames beyond its balanced share, if the free node (member
    0) has a share and the move saves ``steal_min_gain``."""
    me = members[0]
    if caps[0] < 0.5:
        return None
    where = {chunk: i for i, chunk in enumerate(chunks) if chunk is not None}
    surplus = [(w.pending - caps[where[w.chunk_id]], w) for w in running if w.pending >= 1]
    if not surplus:
        return None
    excess, victim = max(surplus, key=lambda item: (item[0], -item[1].chunk_id))
    if excess < 0.5:
        return None
    vm = members[where[victim.chunk_id]]
    before = vm.own_done_at

    def end(k: int) -> float:
        return max(vm.ready_at + (victim.pending - k) * vm.spf, me.start + k * me.spf)

    # Both nodes end together at k*; never more than the plan's surplus or the free node's share.
    ideal = (vm.own_done_at - me.start) / (vm.spf + me.spf)
    candidates = {max(1, min(victim.pending, k)) for k in (math.floor(ideal), math.ceil(ideal))}
    best = min(candidates, key=lambda k: (end(k), k))
    k = max(1, min(best, round(excess), max(1, round(caps[0]))))
    if before - end(k) >= policy.steal_min_gain:
        return Decision(DecisionKind.STEAL, frames=k, chunk_id=victim.chunk_id)
    return None


def _backup(me: Member, running: Sequence[RunningWork], policy: Policy) -> Optional[Decision]:
    candidates = [w for w in running if w.in_progress and not w.backed_up and w.pending == 0]
    if not candidates:
        return None
    victim = max(candidates, key=lambda w: (w.current_left, -w.chunk_id))
    if victim.current_left > policy.backup_factor * (me.start + me.spf):
        return Decision(DecisionKind.BACKUP, chunk_id=victim.chunk_id)
    return None


def next_work(
    speed: NodeSpeed,
    eligible: Sequence[NodeSpeed],
    waiting: int,
    running: Sequence[RunningWork],
    policy: Policy,
    fixed: Optional[int] = None,
) -> Optional[Decision]:
    """Everything a free node may do for one job: take waiting frames, else re-split or back up."""
    if waiting > 0:
        size = chunk_size(speed, eligible, waiting, policy, fixed, running)
        return Decision(DecisionKind.TAKE, frames=size) if size else None
    return tail_action(speed, eligible, running, policy)


def worker_holding(
    speed: NodeSpeed,
    eligible: Sequence[NodeSpeed],
    waiting: int,
    mine: RunningWork,
    running: Sequence[RunningWork],
    policy: Policy,
) -> int:
    """How many frames a loaded worker should hold (sent and not finished) now.

    Two, so it never waits for the next frame; one while its frames are slow; and never more than its
    balanced share of what is left, so the last frames go to the worker that finishes them first.

    Args:
        mine: the worker itself (``pending`` = frames sent it has not started).
        running: the job's other workers and chunks in flight.
    """
    held = mine.pending + (1 if mine.in_progress else 0)
    if waiting <= 0:
        return held
    team = with_node(speed, eligible)
    known = Estimates(team)
    spf = known.spf(speed)
    depth = 1 if spf is not None and spf >= WORKER_SLOW_FRAME else WORKER_DEPTH
    if spf is None:
        return depth
    members, _ = _members(speed, known, team, running, spf)
    members[0] = Member(mine.current_left, float(mine.pending), spf, 0.0)
    _, caps = shares(members, waiting + mine.pending + sum(w.pending for w in running))
    want = (1 if mine.in_progress else 0) + int(caps[0] + 0.5)
    if want == 0 and _earliest(members, 0):
        want = 1
    return max(min(depth, want), 0)


def job_order(jobs: Sequence[tuple[str, int, float]]) -> list[str]:
    """Job ids by priority (high first), then age (old first). Items: ``(job_id, priority, created)``."""
    return [j for j, _, _ in sorted(jobs, key=lambda item: (-item[1], item[2], item[0]))]


def eta_seconds(remaining_frames: int, speeds: Sequence[float]) -> Optional[float]:
    """Time to render ``remaining_frames`` at the summed rate (frames/second) of the working nodes."""
    rate = sum(s for s in speeds if s > 0)
    if remaining_frames <= 0:
        return 0.0
    if rate <= 0:
        return None
    return remaining_frames / rate
