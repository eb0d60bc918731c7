"""How the dispatcher splits work: dynamic pull, adaptive chunk sizes, tail re-split and backup tasks.

The policy, in the order the dispatcher applies it each step:

1. **Jobs by priority, then age.** A free node serves the highest-priority job (oldest first among
   equals) that still has waiting frames and for which the node is eligible (selected, not blocklisted,
   has a matching Houdini build when the preset needs one).
2. **Dynamic pull, no static split.** Nothing is assigned in advance: a node asks for work when it is
   free, so a fast node simply comes back more often. A slow or dying node only ever holds one chunk.
3. **Speed estimate per node.** Until a node has rendered a frame of the job, its speed is estimated
   from the job's measured frames (mean seconds/frame scaled by cores relative to the nodes that
   measured it), and with no measurement at all from its cores alone. Once it has rendered frames, its
   own seconds/frame (an exponentially weighted average of per-frame times) replaces the estimate.
4. **Chunk size targets a duration.** ``target_chunk_seconds / seconds_per_frame`` frames, so each
   chunk amortises the per-chunk start cost (SSH channel, renderer start, scene load) the same way on
   fast and slow nodes. The very first chunk of a job is small (``first_chunk_frames`` scaled by cores)
   because nothing is known yet.
5. **Shrink towards the end (guided self-scheduling).** A chunk never takes more than
   ``tail_fraction`` of the node's fair share of the frames still waiting (share = node speed / total
   speed of the eligible nodes). Early on that is the duration target; near the end chunks shrink to a
   frame or two, so all nodes finish close together.
6. **Tail: re-split, then backup.** When a node is free and no frame is waiting, it looks at running
   chunks of other nodes. If one still has frames it has not started and the free node would finish a
   part of them sooner, the free node *takes* that part (``steal``): the frames move to a new chunk and
   the old process is stopped when it reaches them (frames it already finished stay done). If the only
   remaining work is frames already in progress on a node expected to need longer than the free node
   would for the whole frame (``backup_factor``), the free node renders a *backup* copy: whichever
   finishes first wins and the other is cancelled.

Everything here is pure: numbers in, decisions out. The dispatcher feeds it measured speeds and acts.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Policy:
    """Scheduling knobs (the defaults suit hrender chunks of a few minutes).

    Attributes:
        target_chunk_seconds: the duration a chunk aims for once a node's speed is known.
        first_chunk_frames: frames in a node's first chunk of a job with no measurement yet (for a node
            of median core count; more cores → proportionally more frames).
        max_chunk_frames: upper bound for any chunk.
        tail_fraction: a chunk takes at most this fraction of the node's fair share of waiting frames.
        smoothing: weight of the newest frame time in a node's seconds/frame average.
        backup_factor: start a backup copy only if the busy node needs this many times longer than the
            free node would for the frame.
        steal_min_gain: seconds a re-split must save before it is worth stopping a process for.
    """

    target_chunk_seconds: float = 180.0
    first_chunk_frames: int = 2
    max_chunk_frames: int = 1000
    tail_fraction: float = 0.5
    smoothing: float = 0.3
    backup_factor: float = 1.5
    steal_min_gain: float = 1.0


@dataclass(frozen=True)
class NodeSpeed:
    """What the scheduler knows about one node for one job."""

    node: str
    cores: int = 1
    seconds_per_frame: Optional[float] = None  # measured on this job; None before its first frame
    startup_seconds: float = 0.0  # measured cost of starting a chunk (connect + load)


def update_average(previous: Optional[float], sample: float, smoothing: float) -> float:
    """Exponentially weighted average; the first sample is taken as is."""
    if previous is None or previous <= 0:
        return sample
    return (1.0 - smoothing) * previous + smoothing * sample


def estimate_spf(speed: NodeSpeed, others: Sequence[NodeSpeed]) -> Optional[float]:
    """Seconds/frame of ``speed.node``: its own measurement, else the measured nodes' mean scaled by cores."""
    if speed.seconds_per_frame:
        return speed.seconds_per_frame
    measured = [o for o in others if o.seconds_per_frame]
    if not measured:
        return None
    # frames/second per core of the measured nodes, times this node's cores.
    rate_per_core = sum(1.0 / (o.seconds_per_frame or 1.0) / max(o.cores, 1) for o in measured) / len(
        measured
    )
    return 1.0 / (rate_per_core * max(speed.cores, 1))


def relative_speed(speed: NodeSpeed, others: Sequence[NodeSpeed]) -> float:
    """Frames per second (or, with no measurement anywhere, cores as a stand-in weight)."""
    spf = estimate_spf(speed, others)
    if spf is None or spf <= 0:
        return float(max(speed.cores, 1))
    return 1.0 / spf


def chunk_size(
    speed: NodeSpeed, eligible: Sequence[NodeSpeed], waiting: int, policy: Policy, fixed: Optional[int] = None
) -> int:
    """How many waiting frames ``speed.node`` takes now (at least 1, at most ``waiting``).

    Args:
        speed: the node asking for work.
        eligible: every node that may render this job (including ``speed``), for fair shares.
        waiting: frames of the job not yet handed out.
        fixed: the job's fixed chunk size (``--chunk N``), honoured exactly as the user asked.
    """
    if waiting <= 0:
        return 0
    if fixed:
        return max(1, min(fixed, waiting))
    nodes = list(eligible) or [speed]
    spf = estimate_spf(speed, nodes)
    if spf is None:
        median_cores = sorted(max(n.cores, 1) for n in nodes)[len(nodes) // 2]
        size = max(1, round(policy.first_chunk_frames * max(speed.cores, 1) / median_cores))
    else:
        size = max(1, int(policy.target_chunk_seconds / max(spf, 1e-6)))
    total_speed = sum(relative_speed(n, nodes) for n in nodes)
    share = relative_speed(speed, nodes) / total_speed if total_speed > 0 else 1.0
    tail_cap = max(1, math.ceil(waiting * share * policy.tail_fraction))
    return max(1, min(size, tail_cap, policy.max_chunk_frames, waiting))


@dataclass(frozen=True)
class RunningWork:
    """A chunk in flight, as the tail logic sees it."""

    chunk_id: int
    node: str
    pending: int  # frames of the chunk not started yet (can be taken away)
    current_left: float  # estimated seconds left on the frame in progress (0 if none)
    seconds_per_frame: float  # the busy node's estimate
    in_progress: bool  # a frame is rendering right now
    backed_up: bool = False  # it already has a backup copy (or is one)


class TailKind(str, enum.Enum):
    STEAL = "steal"  # take the last ``frames`` pending frames of the chunk
    BACKUP = "backup"  # render a copy of the chunk's frame in progress


@dataclass(frozen=True)
class TailAction:
    kind: TailKind
    chunk_id: int
    frames: int = 0


def tail_action(
    free_spf: Optional[float], free_startup: float, running: Sequence[RunningWork], policy: Policy
) -> Optional[TailAction]:
    """What a free node should do when no frame is waiting: steal pending frames, back up, or nothing.

    The chunk whose node is expected to finish last is the one worth helping.
    """
    if not running:
        return None
    free = free_spf if free_spf and free_spf > 0 else None

    def finish(w: RunningWork) -> float:
        return w.current_left + w.pending * w.seconds_per_frame

    victim = max(running, key=finish)
    if victim.pending >= 1:
        mine = free if free is not None else victim.seconds_per_frame
        # Take k frames so both end at about the same time: the victim keeps (pending-k) after its
        # current frame; the free node pays its start cost then k frames.
        best_k, best_end = 0, finish(victim)
        for k in range(1, victim.pending + 1):
            end = max(
                victim.current_left + (victim.pending - k) * victim.seconds_per_frame, free_startup + k * mine
            )
            if end < best_end:
                best_k, best_end = k, end
        if best_k and finish(victim) - best_end >= policy.steal_min_gain:
            return TailAction(TailKind.STEAL, victim.chunk_id, best_k)
    candidates = [w for w in running if w.in_progress and not w.backed_up and w.pending == 0]
    if not candidates:
        return None
    victim = max(candidates, key=finish)
    mine = free if free is not None else victim.seconds_per_frame
    if victim.current_left > policy.backup_factor * (free_startup + mine):
        return TailAction(TailKind.BACKUP, victim.chunk_id)
    return None


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
