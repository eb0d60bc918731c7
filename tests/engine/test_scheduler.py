"""The pure scheduling policy: priors, chunk sizes with start costs, the tail, workers, job order."""

from __future__ import annotations

import pytest

from farmhand.engine.scheduler import (
    Decision,
    DecisionKind,
    NodeSpeed,
    Policy,
    RunningWork,
    chunk_size,
    estimate_spf,
    estimate_start,
    eta_seconds,
    job_order,
    next_work,
    tail_action,
    update_average,
    work_left,
    worker_holding,
)

POLICY = Policy(target_chunk_seconds=60, first_chunk_frames=2, tail_fraction=0.5)


def test_first_chunks_share_the_waiting_frames_by_cores() -> None:
    nodes = [NodeSpeed("a", 8), NodeSpeed("b", 16), NodeSpeed("c", 8)]
    assert chunk_size(nodes[0], nodes, 240, POLICY) == 60
    assert chunk_size(nodes[1], nodes, 240, POLICY) == 120
    # a node already running its first chunk is not counted in the share of the free ones
    busy = [RunningWork(1, "b", 120, 0.0, 1.0, False)]
    assert chunk_size(nodes[0], nodes, 120, POLICY, running=busy) == 60
    assert chunk_size(nodes[0], nodes, 240, Policy(first_share=0.25)) == 15


def test_more_free_nodes_than_frames_take_one_frame_each() -> None:
    nodes = [NodeSpeed(f"n{i}", 8) for i in range(50)]
    running = [RunningWork(i, f"n{i}", 1, 0.0, 1.0, False) for i in range(10)]
    assert chunk_size(nodes[10], nodes, 40, POLICY, running=running) == 1
    assert chunk_size(nodes[10], nodes, 400, POLICY, running=running) == 10


def test_every_node_of_a_large_farm_gets_a_first_chunk() -> None:
    # 200 nodes remembered within a few percent of each other share 3000 frames one after the other
    nodes = [NodeSpeed(f"n{i:03d}", 8, weight=1.0 + (i % 7) / 100) for i in range(200)]
    waiting, running = 3000, []
    for i, node in enumerate(nodes):
        size = chunk_size(node, nodes, waiting, POLICY, running=running)
        assert size >= 14, (i, size)
        waiting -= size
        running.append(RunningWork(i, node.node, size, 0.0, 1.0, False))
    assert waiting == 0


def test_a_remembered_speed_replaces_cores_as_the_prior() -> None:
    nodes = [NodeSpeed("slow", 16, weight=0.5), NodeSpeed("fast", 4, weight=2.0), NodeSpeed("new", 8)]
    # "new" has no history: its 8 cores count as 8 × the team's weight per core (0.5/16 and 2/4 → 0.266)
    expected = 100 * 2.0 / (0.5 + 2.0 + 8 * 0.265625)
    assert chunk_size(nodes[1], nodes, 100, POLICY) == pytest.approx(expected, abs=1)
    assert chunk_size(nodes[0], nodes, 100, POLICY) < chunk_size(nodes[1], nodes, 100, POLICY)


def test_unmeasured_speed_and_start_come_from_the_measured_nodes() -> None:
    measured = NodeSpeed("a", 8, 2.0, startup_seconds=4.0)
    new = NodeSpeed("b", 16)
    assert estimate_spf(new, [measured, new]) == pytest.approx(1.0)
    assert estimate_spf(NodeSpeed("c", 8), [NodeSpeed("c", 8)]) is None
    assert estimate_start(new, [measured, new]) == 4.0
    assert estimate_start(new, [new]) == 0.0


def test_measured_speed_caps_a_chunk_at_the_target_duration() -> None:
    nodes = [NodeSpeed("a", 8, 2.0, 0.0), NodeSpeed("b", 8, 2.0, 0.0)]
    assert chunk_size(nodes[0], nodes, 1000, POLICY) == 30  # 60 s / 2 s


def test_a_long_start_raises_the_target_duration() -> None:
    nodes = [NodeSpeed("a", 8, 1.0, 20.0), NodeSpeed("b", 8, 1.0, 20.0)]
    assert chunk_size(nodes[0], nodes, 1000, POLICY) == 120  # 2 × start_factor × 20 s of 1 s frames


def test_chunks_shrink_towards_the_end_while_each_still_outweighs_its_start() -> None:
    fast, slow = NodeSpeed("fast", 8, 1.0, 0.5), NodeSpeed("slow", 8, 4.0, 0.5)
    nodes = [fast, slow]
    # 40 frames: fast's balanced share is 32; half of it, since 16 frames of 1 s outweigh a 0.5 s start
    assert chunk_size(fast, nodes, 40, POLICY) == 16
    assert chunk_size(slow, nodes, 40, POLICY) == 4


def test_a_share_too_small_to_split_is_taken_whole() -> None:
    # 10 s start, 1 s frames: chunks render at least 30 s, so a 40-frame share is one chunk
    nodes = [NodeSpeed("a", 8, 1.0, 10.0), NodeSpeed("b", 8, 1.0, 10.0)]
    assert chunk_size(nodes[0], nodes, 80, POLICY) == 40
    cheap = [NodeSpeed("a", 8, 1.0, 0.1), NodeSpeed("b", 8, 1.0, 0.1)]
    assert chunk_size(cheap[0], cheap, 80, POLICY) == 20


def test_a_slow_node_with_a_long_start_leaves_the_last_frames_to_faster_ones() -> None:
    fast = NodeSpeed("fast", 8, 1.0, 1.0)
    slow = NodeSpeed("slow", 8, 4.0, 10.0)
    busy = [RunningWork(1, "fast", 0, 0.5, 1.0, True)]  # fast ends its frame in 0.5 s
    assert chunk_size(slow, [fast, slow], 3, POLICY, running=busy) == 0
    assert next_work(slow, [fast, slow], 3, busy, POLICY) is None
    # ... but takes them when nobody else could finish sooner
    alone = [RunningWork(1, "fast", 40, 0.5, 1.0, True)]
    assert chunk_size(slow, [fast, slow], 3, POLICY, running=alone) == 3


def test_the_earliest_finisher_takes_the_last_frame() -> None:
    nodes = [NodeSpeed(n, 8, 1.0, 1.0) for n in "abcd"]
    assert chunk_size(nodes[0], nodes, 1, POLICY) == 1


def test_fixed_chunk_is_honoured() -> None:
    n = NodeSpeed("a", 8, 1.0)
    assert chunk_size(n, [n], 100, POLICY, fixed=10) == 10
    assert chunk_size(n, [n], 3, POLICY, fixed=10) == 3
    assert next_work(n, [n], 3, [], POLICY, fixed=10) == Decision(DecisionKind.TAKE, frames=3)


def test_steal_takes_pending_frames_so_both_end_together_start_included() -> None:
    free = NodeSpeed("free", 8, 1.0, 2.0)
    slow = RunningWork(1, "slow", pending=10, current_left=2.0, seconds_per_frame=4.0, in_progress=True)
    team = [free, NodeSpeed("slow", 8, 4.0, 2.0)]
    action = tail_action(free, team, [slow], POLICY)
    # slow ends in 2 + 4 × (10 - k) s, free in 2 + k s: k = 8 ends both at 10 s instead of 42 s
    assert action == Decision(DecisionKind.STEAL, frames=8, chunk_id=1)


def test_steal_picks_the_chunk_holding_the_most_beyond_its_share() -> None:
    free = NodeSpeed("free", 8, 1.0, 1.0)
    team = [free, NodeSpeed("x", 8, 1.0, 1.0), NodeSpeed("y", 8, 2.0, 1.0)]
    works = [RunningWork(1, "x", 6, 0.5, 1.0, True), RunningWork(2, "y", 6, 0.5, 2.0, True)]
    action = tail_action(free, team, works, POLICY)
    assert action is not None and action.kind is DecisionKind.STEAL and action.chunk_id == 2


def test_no_steal_when_the_start_eats_the_gain() -> None:
    free = NodeSpeed("free", 8, 1.0, 6.0)
    busy = RunningWork(1, "busy", pending=3, current_left=0.5, seconds_per_frame=2.0, in_progress=True)
    assert tail_action(free, [free, NodeSpeed("busy", 8, 2.0, 6.0)], [busy], POLICY) is None
    cheap = NodeSpeed("free", 8, 1.0, 0.1)
    assert tail_action(cheap, [cheap, NodeSpeed("busy", 8, 2.0, 0.1)], [busy], POLICY) is not None


def test_equal_nodes_leave_a_chunk_that_is_still_starting_alone() -> None:
    nodes = [NodeSpeed(n, 4, 10.0, 3.0) for n in "abc"]
    left, spf = work_left(10.0, 3.0, 100.0, None, 101.0)
    assert (left, spf) == (pytest.approx(2.0), 10.0)
    starting = RunningWork(7, "b", pending=1, current_left=left, seconds_per_frame=spf, in_progress=False)
    assert tail_action(nodes[0], nodes, [starting], POLICY) is None


def test_a_frame_running_past_its_estimate_makes_the_node_look_slower() -> None:
    assert work_left(4.0, None, 0.0, 10.0, 11.0) == (3.0, 4.0)
    left, spf = work_left(0.5, None, 0.0, 10.0, 22.0)  # 12 s into a frame estimated at 0.5 s
    assert (left, spf) == (pytest.approx(3.0), pytest.approx(15.0))


def test_backup_only_when_the_busy_node_is_much_slower_start_included() -> None:
    me = NodeSpeed("me", 8, 2.0, 1.0)
    team = [me, NodeSpeed("slow", 8, 40.0, 1.0)]
    slow = RunningWork(1, "slow", pending=0, current_left=30.0, seconds_per_frame=40.0, in_progress=True)
    assert tail_action(me, team, [slow], POLICY) == Decision(DecisionKind.BACKUP, chunk_id=1)
    almost = RunningWork(1, "slow", pending=0, current_left=4.0, seconds_per_frame=40.0, in_progress=True)
    assert tail_action(me, team, [almost], POLICY) is None  # 4 s < 1.5 × (1 s start + 2 s)
    backed = RunningWork(1, "slow", 0, 30.0, 40.0, True, backed_up=True)
    assert tail_action(me, team, [backed], POLICY) is None
    assert tail_action(me, team, [], POLICY) is None


def test_a_worker_holds_two_frames_one_when_they_are_slow_none_when_others_finish_sooner() -> None:
    fast = NodeSpeed("fast", 8, 0.5, 0.0)
    slow = NodeSpeed("slow", 8, 4.0, 0.0)
    team = [fast, slow]
    mine = RunningWork(1, "fast", 0, 0.2, 0.5, True, persistent=True)
    other = RunningWork(2, "slow", 0, 3.0, 4.0, True, persistent=True)
    assert worker_holding(fast, team, 50, mine, [other], POLICY) == 2
    slow_mine = RunningWork(2, "slow", 0, 0.0, 4.0, False, persistent=True)
    fast_busy = RunningWork(1, "fast", 0, 0.2, 0.5, True, persistent=True)
    assert worker_holding(slow, team, 50, slow_mine, [fast_busy], POLICY) == 1
    # one frame left: the fast worker (busy 0.2 s more) ends it at 0.7 s, the idle slow one at 4 s
    assert worker_holding(slow, team, 1, slow_mine, [fast_busy], POLICY) == 0
    assert worker_holding(fast, team, 0, mine, [other], POLICY) == 1  # nothing waiting: as it is


def test_an_idle_worker_takes_a_frame_another_holds_without_a_start() -> None:
    idle = NodeSpeed("idle", 8, 1.0, 0.0)
    team = [idle, NodeSpeed("busy", 8, 3.0, 30.0)]
    holding = RunningWork(1, "busy", pending=1, current_left=2.0, seconds_per_frame=3.0, in_progress=True,
                          persistent=True)
    assert tail_action(idle, team, [holding], POLICY) == Decision(DecisionKind.STEAL, frames=1, chunk_id=1)


def test_job_order_priority_then_age() -> None:
    assert job_order([("1", 50, 10.0), ("2", 90, 20.0), ("3", 50, 5.0)]) == ["2", "3", "1"]


def test_average_and_eta() -> None:
    assert update_average(None, 3.0, 0.3) == 3.0
    assert update_average(2.0, 4.0, 0.5) == 3.0
    assert eta_seconds(10, [1.0, 1.0]) == 5.0
    assert eta_seconds(10, []) is None
    assert eta_seconds(0, []) == 0.0
