"""The pure scheduling policy: speeds, chunk sizes, tail decisions, job order."""

from __future__ import annotations

import pytest

from farmhand.engine.scheduler import (
    NodeSpeed,
    Policy,
    RunningWork,
    chunk_size,
    estimate_spf,
    eta_seconds,
    job_order,
    tail_action,
    update_average,
)

POLICY = Policy(target_chunk_seconds=60, first_chunk_frames=2, tail_fraction=0.5)


def test_unmeasured_nodes_start_small_scaled_by_cores() -> None:
    nodes = [NodeSpeed("a", 8), NodeSpeed("b", 16), NodeSpeed("c", 8)]
    assert chunk_size(nodes[0], nodes, 240, POLICY) == 2
    assert chunk_size(nodes[1], nodes, 240, POLICY) == 4


def test_measured_speed_targets_the_chunk_duration() -> None:
    nodes = [NodeSpeed("a", 8, 2.0), NodeSpeed("b", 8, 2.0)]
    assert chunk_size(nodes[0], nodes, 1000, POLICY) == 30  # 60 s / 2 s


def test_chunks_shrink_towards_the_end_by_fair_share() -> None:
    fast, slow = NodeSpeed("fast", 8, 1.0), NodeSpeed("slow", 8, 4.0)
    nodes = [fast, slow]
    # fast has 4/5 of the speed: at most half of its share of 20 waiting frames = 8
    assert chunk_size(fast, nodes, 20, POLICY) == 8
    assert chunk_size(slow, nodes, 20, POLICY) == 2
    assert chunk_size(slow, nodes, 1, POLICY) == 1


def test_fixed_chunk_is_honoured() -> None:
    n = NodeSpeed("a", 8, 1.0)
    assert chunk_size(n, [n], 100, POLICY, fixed=10) == 10
    assert chunk_size(n, [n], 3, POLICY, fixed=10) == 3


def test_unmeasured_node_speed_comes_from_measured_nodes_per_core() -> None:
    measured = NodeSpeed("a", 8, 2.0)
    new = NodeSpeed("b", 16)
    assert estimate_spf(new, [measured, new]) == pytest.approx(1.0)
    assert estimate_spf(NodeSpeed("c", 8), [NodeSpeed("c", 8)]) is None


def test_steal_takes_pending_frames_from_the_slowest_chunk() -> None:
    slow = RunningWork(1, "slow", pending=6, current_left=2.0, seconds_per_frame=4.0, in_progress=True)
    action = tail_action(1.0, 0.5, [slow], POLICY)
    assert action is not None and action.kind == "steal" and action.chunk_id == 1
    assert 3 <= action.frames <= 6


def test_backup_only_when_the_busy_node_is_much_slower() -> None:
    slow = RunningWork(1, "slow", pending=0, current_left=30.0, seconds_per_frame=40.0, in_progress=True)
    assert tail_action(2.0, 1.0, [slow], POLICY) == tail_action(2.0, 1.0, [slow], POLICY)
    action = tail_action(2.0, 1.0, [slow], POLICY)
    assert action is not None and action.kind == "backup"
    almost = RunningWork(1, "slow", pending=0, current_left=2.0, seconds_per_frame=40.0, in_progress=True)
    assert tail_action(2.0, 1.0, [almost], POLICY) is None
    backed = RunningWork(1, "slow", 0, 30.0, 40.0, True, backed_up=True)
    assert tail_action(2.0, 1.0, [backed], POLICY) is None


def test_job_order_priority_then_age() -> None:
    assert job_order([("1", 50, 10.0), ("2", 90, 20.0), ("3", 50, 5.0)]) == ["2", "3", "1"]


def test_average_and_eta() -> None:
    assert update_average(None, 3.0, 0.3) == 3.0
    assert update_average(2.0, 4.0, 0.5) == 3.0
    assert eta_seconds(10, [1.0, 1.0]) == 5.0
    assert eta_seconds(10, []) is None
    assert eta_seconds(0, []) == 0.0
