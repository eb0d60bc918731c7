"""Balanced finish times: the level at which a team of nodes finishes a number of frames."""

from __future__ import annotations

import pytest

from farmhand.engine.balance import Member, capacity, first_frame_at, level, shares


def test_equal_free_nodes_share_equally() -> None:
    team = [Member(0, 0, 1.0, 0), Member(0, 0, 1.0, 0)]
    assert level(team, 10) == pytest.approx(5.0)
    assert shares(team, 10)[1] == pytest.approx([5.0, 5.0])


def test_a_start_cost_delays_a_free_node_and_shrinks_its_share() -> None:
    fast_start, slow_start = Member(0, 0, 1.0, 0.0), Member(0, 0, 1.0, 4.0)
    at, caps = shares([fast_start, slow_start], 10)
    assert at == pytest.approx(7.0)  # 7 frames on one, 3 after a 4 s start on the other
    assert caps == pytest.approx([7.0, 3.0])
    assert capacity(slow_start, 4.0) == 0.0


def test_a_busy_node_renders_what_it_holds_then_pays_a_start_for_more() -> None:
    busy = Member(ready_at=1.0, own=3, spf=1.0, start=2.0)
    assert capacity(busy, 0.5) == 0.0
    assert capacity(busy, 3.0) == pytest.approx(2.0)
    assert capacity(busy, 5.0) == pytest.approx(3.0)  # own frames done at 4, then the start until 6
    assert capacity(busy, 8.0) == pytest.approx(5.0)
    assert first_frame_at(busy) == pytest.approx(7.0)


def test_a_loaded_worker_needs_no_start_between_its_frames() -> None:
    worker = Member(ready_at=0.5, own=2, spf=1.0, start=0.0)
    assert capacity(worker, 4.5) == pytest.approx(4.0)


@pytest.mark.parametrize("frames", [1, 7, 33.5, 240])
def test_the_level_is_where_the_capacities_add_up(frames: float) -> None:
    team = [Member(0, 0, 0.4, 3.0), Member(2.0, 10, 0.2, 3.0), Member(0.1, 0, 0.1, 0.3),
            Member(5.0, 1, 1.0, 0)]
    at, caps = shares(team, frames)
    assert sum(caps) == pytest.approx(frames)
    assert level(team, frames + 1) > at


def test_nothing_to_share_is_done_now_and_bad_members_are_refused() -> None:
    assert level([Member(0, 0, 1.0, 0)], 0) == 0.0
    assert level([], 5) == 0.0
    with pytest.raises(ValueError, match="seconds per frame must be positive"):
        Member(0, 0, 0.0, 0)
    with pytest.raises(ValueError, match="must not be negative"):
        Member(0, -1, 1.0, 0)
