"""The real scheduling policy driven by the discrete-event simulator: makespans in simulated time."""

from __future__ import annotations

import math
from typing import Optional

import pytest

from farmhand.engine.scheduler import Decision, DecisionKind, Policy
from farmhand.engine.simulate import Rules, SimNode, ideal_makespan, simulate

SPEEDS = (1.0, 2.0, 4.0, 4.0)


def farm(start: float, prior: str = "cores") -> list[SimNode]:
    """Nodes of speeds 1:2:4:4; their inventory cores match the speeds ("cores"), are all equal
    ("equal"), or earlier jobs measured them 10 % off ("warm")."""
    out = []
    for i, speed in enumerate(SPEEDS):
        cores = int(speed) if prior == "cores" else 1
        weight = speed * (1.1 if i % 2 else 0.92) if prior == "warm" else None
        out.append(SimNode(f"render{i + 1:02d}", speed, start, cores, weight))
    return out


def ramp(n: int = 240) -> list[float]:
    """Frames whose cost rises from 0.4 s to 2 s mid-range and falls back (at speed 1)."""
    return [0.4 + 1.6 * (0.5 - 0.5 * math.cos(2 * math.pi * i / n)) for i in range(n)]


def static(chunk: int) -> Rules:
    """A static split: one fixed chunk per node, no tail."""

    def take(*args: object) -> Optional[Decision]:
        waiting = args[2]
        assert isinstance(waiting, int)
        return Decision(DecisionKind.TAKE, frames=min(chunk, waiting)) if waiting else None

    return Rules(next_work=take, worker_tail=None)


@pytest.mark.parametrize("worker", [False, True])
@pytest.mark.parametrize("costs", [[0.4] * 240, [2.0] * 60, ramp(120)])
def test_every_frame_is_rendered_once(costs: list[float], worker: bool) -> None:
    result = simulate(farm(3.0, "equal"), costs, worker=worker, jitter=0.2, seed=3)
    assert sum(result.frames.values()) == len(costs)


@pytest.mark.parametrize("start", [0.3, 3.0])
@pytest.mark.parametrize("spf", [0.4, 2.0])
def test_with_a_right_prior_the_makespan_is_within_5_percent_of_ideal(start: float, spf: float) -> None:
    nodes, costs = farm(start), [spf] * 240
    result = simulate(nodes, costs, jitter=0.1, seed=1)
    assert result.ratio(ideal_makespan(nodes, costs)) <= 1.05, result
    assert result.chunks <= 2 * len(nodes)  # each start paid about once per node


@pytest.mark.parametrize(("start", "spf", "bound"), [(0.3, 0.4, 1.12), (0.3, 2.0, 1.05), (3.0, 2.0, 1.12)])
def test_nodes_of_unknown_speed_are_rebalanced_at_the_tail(start: float, spf: float, bound: float) -> None:
    nodes, costs = farm(start, "equal"), [spf] * 240
    result = simulate(nodes, costs, jitter=0.1, seed=1)
    assert result.ratio(ideal_makespan(nodes, costs)) <= bound, result
    assert result.steals >= 1
    slowest, fastest = result.frames["render01"], result.frames["render03"]
    assert fastest > 3 * slowest


def test_the_start_cost_rule_beats_one_frame_chunks_at_the_tail() -> None:
    nodes, costs = farm(3.0, "warm"), [0.4] * 240
    tiny_tail = Policy(start_factor=0.0, tail_fraction=0.1, first_share=0.3)
    aware = simulate(nodes, costs, jitter=0.1, seed=2)
    blind = simulate(nodes, costs, tiny_tail, jitter=0.1, seed=2)
    assert aware.chunks < blind.chunks
    assert aware.makespan < 0.9 * blind.makespan


def test_dynamic_beats_a_static_split_by_far() -> None:
    nodes, costs = farm(0.3, "equal"), [2.0] * 240
    dynamic = simulate(nodes, costs, jitter=0.1, seed=1)
    fixed = simulate(nodes, costs, rules=static(60), jitter=0.1, seed=1)
    assert dynamic.makespan * 2 < fixed.makespan
    assert fixed.steals == 0 and fixed.chunks == 4


def test_idle_workers_back_up_a_slow_workers_last_frame() -> None:
    nodes = [SimNode("slow", 0.1, 2.0, weight=0.1), SimNode("fast", 2.0, 2.0, weight=2.0)]
    costs = [1.0] * 21
    with_tail = simulate(nodes, costs, worker=True)
    without = simulate(nodes, costs, worker=True, rules=Rules(worker_tail=None))
    assert with_tail.backups + with_tail.steals >= 1
    assert with_tail.makespan < without.makespan - 2.0


def test_workers_pay_the_start_once() -> None:
    nodes, costs = farm(10.0), [0.5] * 96
    result = simulate(nodes, costs, worker=True, jitter=0.1, seed=4)
    assert result.chunks == len(nodes)
    assert result.ratio(ideal_makespan(nodes, costs)) <= 1.08


def test_a_fixed_chunk_is_kept_and_the_result_is_deterministic() -> None:
    nodes, costs = farm(0.3, "equal"), [0.4] * 40
    one = simulate(nodes, costs, fixed=5, jitter=0.3, seed=9)
    assert one == simulate(nodes, costs, fixed=5, jitter=0.3, seed=9)
    assert one.chunks >= 40 // 5


def test_a_policy_that_leaves_frames_unrendered_is_reported() -> None:
    idle = Rules(next_work=lambda *args: None)
    with pytest.raises(RuntimeError, match="left waiting frames"):
        simulate(farm(0.3), [1.0] * 4, rules=idle)
    with pytest.raises(ValueError, match="needs nodes and frames"):
        simulate([], [1.0])
