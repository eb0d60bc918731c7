"""What the scheduler knows about a node on a job: measured speed and start cost, and the priors that
stand in for them before the job has measured anything.

A node's *prior* is its speed relative to the farm as earlier jobs measured it (``weight``), else its
inventory cores; :class:`Estimates` turns a team's measurements and priors into a seconds-per-frame and
a start-cost estimate for each of its nodes, once per decision. :func:`work_left` reads a chunk in flight.
Pure arithmetic, shared by :mod:`farmhand.engine.scheduler` and the dispatcher's assigner.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class NodeSpeed:
    """What the scheduler knows about one node for one job."""

    node: str
    cores: int = 1
    seconds_per_frame: Optional[float] = None  # measured on this job; None before its first frame
    startup_seconds: Optional[float] = None  # measured start cost of its chunks; None before one started
    weight: Optional[float] = None  # speed relative to the farm, from earlier jobs; None: never measured


def update_average(previous: Optional[float], sample: float, smoothing: float) -> float:
    """Exponentially weighted average; the first sample is taken as is."""
    if previous is None or previous <= 0:
        return sample
    return (1.0 - smoothing) * previous + smoothing * sample


class Estimates:
    """What a team's measurements say about each of its nodes, computed once per decision.

    A node's *prior* is how fast it is expected to be before the job measures it, in one unit for the
    team: its remembered weight, else its cores converted by the team's weight per core.
    """

    def __init__(self, team: Sequence[NodeSpeed]) -> None:
        known = [n.weight / max(n.cores, 1) for n in team if n.weight]
        self.per_core = sum(known) / len(known) if known else 1.0
        measured = [n for n in team if n.seconds_per_frame]
        # frames/second per unit of prior of the measured nodes, their median (one odd measurement does
        # not move it); None: nothing measured yet
        self.rate: Optional[float] = statistics.median(
            1.0 / (n.seconds_per_frame or 1.0) / self.prior(n) for n in measured
        ) if measured else None
        starts = [n.startup_seconds for n in team if n.startup_seconds is not None]
        self.start_median = statistics.median(starts) if starts else 0.0

    def prior(self, node: NodeSpeed) -> float:
        return node.weight or max(node.cores, 1) * self.per_core

    def spf(self, node: NodeSpeed) -> Optional[float]:
        """Its own measurement, else the measured nodes' speed scaled by priors."""
        if node.seconds_per_frame:
            return node.seconds_per_frame
        return None if self.rate is None else 1.0 / (self.rate * self.prior(node))

    def start(self, node: NodeSpeed) -> float:
        """Its own measured start cost, else the team's median, else 0 (nothing known yet)."""
        return node.startup_seconds if node.startup_seconds is not None else self.start_median


def with_node(speed: NodeSpeed, others: Sequence[NodeSpeed]) -> list[NodeSpeed]:
    """``others`` with ``speed`` among them (a team always includes the node asking)."""
    return list(others) if any(o.node == speed.node for o in others) else [*others, speed]


def estimate_spf(speed: NodeSpeed, others: Sequence[NodeSpeed]) -> Optional[float]:
    """Seconds/frame of ``speed.node``: measured, else the measured nodes' speed scaled by priors."""
    return Estimates(with_node(speed, others)).spf(speed)


def estimate_start(speed: NodeSpeed, others: Sequence[NodeSpeed]) -> float:
    """The start cost of a chunk on ``speed.node`` (see :meth:`Estimates.start`)."""
    return Estimates(with_node(speed, others)).start(speed)


def relative_speed(speed: NodeSpeed, others: Sequence[NodeSpeed]) -> float:
    """Frames per second (or, with no measurement anywhere, the prior as a stand-in weight)."""
    known = Estimates(with_node(speed, others))
    spf = known.spf(speed)
    return known.prior(speed) if spf is None or spf <= 0 else 1.0 / spf


def work_left(
    spf: float, startup: Optional[float], started: float, current_started: Optional[float], now: float
) -> tuple[float, float]:
    """A chunk in flight as :class:`RunningWork` counts it: (seconds left, seconds per frame).

    With a frame in progress, the rest of that frame; a frame already running past the estimate shows the
    node (or the frame) is slower than thought: it is expected to need a quarter of its time again, and the
    node's frames to take as long. With no frame in progress, the rest of its start (a chunk still loading
    its scene has no frame in progress: counting one made equal free nodes take a fresh chunk's frames
    from each other).
    """
    if current_started is not None:
        elapsed = max(now - current_started, 0.0)
        left = max(spf - elapsed, 0.25 * elapsed)
        return left, max(spf, elapsed + left)
    return max((startup or 0.0) - (now - started), 0.0), spf
