"""Expected finish times balanced across nodes: the "water level" every scheduling decision aims at.

Each node that takes part in a job is a :class:`Member`: when its current work ends (``ready_at``), how
many frames it already holds that it has not started (``own``), its seconds per frame and its start cost
(what one more chunk costs it before its first frame: connect, renderer start, scene load). How many of
the job's frames a member can finish by a time ``T`` is piecewise linear in ``T``: its own frames first,
then a pause of one start, then more frames. :func:`level` finds the earliest ``T`` by which the members
together finish ``frames`` frames — the time at which they would all finish if the work were shared
perfectly — and :func:`capacity` says how many frames each member does by then. A node whose capacity is
below what it holds has too much (its surplus can be re-split); a free node with no capacity should not
start a chunk at all, because the others finish the frames sooner than it could start.

Pure arithmetic over floats, no I/O; the scheduler and the simulator both use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Member:
    """One node as the balance sees it (seconds are relative to now).

    Attributes:
        ready_at: seconds until its current work (the rest of its start or of the frame in progress)
            ends; 0 for a free node.
        own: frames it holds and has not started (they need no new start).
        spf: its seconds per frame (> 0).
        start: what one more chunk costs it before its first frame renders (0 for a loaded worker).
    """

    ready_at: float
    own: float
    spf: float
    start: float

    def __post_init__(self) -> None:
        if not self.spf > 0:
            raise ValueError(f"seconds per frame must be positive, not {self.spf}")
        if self.ready_at < 0 or self.own < 0 or self.start < 0:
            raise ValueError("ready_at, own and start must not be negative")

    @property
    def own_done_at(self) -> float:
        """When it would finish the frames it holds."""
        return self.ready_at + self.own * self.spf


def capacity(member: Member, at: float) -> float:
    """Frames ``member`` can finish by ``at`` (fractional): its own frames, then more after one start."""
    if at <= member.ready_at:
        return 0.0
    mine = (at - member.ready_at) / member.spf
    if mine <= member.own:
        return mine
    more = (at - member.own_done_at - member.start) / member.spf
    return member.own + max(0.0, more)


def level(members: Sequence[Member], frames: float) -> float:
    """The earliest time by which ``members`` together finish ``frames`` frames (their own included).

    Exact: the summed capacity is piecewise linear, so the breakpoints are walked in order (N log N).
    """
    if frames <= 0 or not members:
        return 0.0
    # (time, change of the summed slope in frames per second)
    changes: list[tuple[float, float]] = []
    for m in members:
        rate = 1.0 / m.spf
        changes.append((m.ready_at, rate))
        if m.start > 0:
            changes.append((m.own_done_at, -rate))
            changes.append((m.own_done_at + m.start, rate))
    changes.sort()
    at, done, slope = 0.0, 0.0, 0.0
    for when, change in changes:
        if slope > 0 and done + slope * (when - at) >= frames:
            return at + (frames - done) / slope
        done += slope * (when - at)
        at, slope = when, slope + change
    return at + (frames - done) / slope


def shares(members: Sequence[Member], frames: float) -> tuple[float, list[float]]:
    """The level for ``frames`` frames and each member's capacity at it (same order as ``members``)."""
    at = level(members, frames)
    return at, [capacity(m, at) for m in members]


def first_frame_at(member: Member) -> float:
    """When ``member`` would finish one more frame beyond those it holds (a new start included)."""
    return member.own_done_at + member.start + member.spf
