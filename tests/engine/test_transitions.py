"""The transition table: the only place that says how a job and a chunk may change state."""

from __future__ import annotations

from pathlib import Path

import pytest

from farmhand.engine.transitions import (
    CHUNK_MOVES,
    JOB_MOVES,
    IllegalTransition,
    can_move_job,
    move_chunk,
    move_job,
)
from farmhand.jobs import ChunkState, JobState

from .fake_farm import NodeBehaviour
from .parts import engine_state


def _reachable(start: JobState) -> set[JobState]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in JOB_MOVES[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_every_state_has_a_row_and_every_job_state_is_reachable_from_queued() -> None:
    assert set(JOB_MOVES) == set(JobState)
    assert set(CHUNK_MOVES) == set(ChunkState)
    assert _reachable(JobState.QUEUED) == set(JobState)


def test_an_ended_job_only_goes_back_to_running() -> None:
    for ended in (JobState.DONE, JobState.FAILED, JobState.CANCELLED):
        assert JOB_MOVES[ended] == {JobState.RUNNING}
        with pytest.raises(IllegalTransition, match=f"a job cannot go from {ended.value} to paused"):
            move_job(ended, JobState.PAUSED)


def test_a_job_never_stays_in_place_and_a_paused_job_neither_finishes_nor_waits() -> None:
    for state in JobState:
        assert not can_move_job(state, state)
    assert not can_move_job(JobState.PAUSED, JobState.DONE)
    assert not can_move_job(JobState.PAUSED, JobState.WAITING)
    assert move_job(JobState.WAITING, JobState.QUEUED) is JobState.QUEUED


def test_a_chunk_ends_once_and_is_never_restarted() -> None:
    assert move_chunk(ChunkState.STARTING, ChunkState.RUNNING) is ChunkState.RUNNING
    assert move_chunk(ChunkState.STARTING, ChunkState.FAILED) is ChunkState.FAILED  # never connected
    for end in (ChunkState.DONE, ChunkState.FAILED, ChunkState.CANCELLED, ChunkState.LOST):
        assert move_chunk(ChunkState.RUNNING, end) is end
        for again in ChunkState:
            with pytest.raises(IllegalTransition, match=f"a chunk cannot go from {end.value}"):
                move_chunk(end, again)
    with pytest.raises(IllegalTransition):
        move_chunk(ChunkState.RUNNING, ChunkState.STARTING)


def test_a_job_run_refuses_an_illegal_move_and_leaves_its_state_and_store_alone(farmhand_home: Path) -> None:
    bench = engine_state(farmhand_home, {"a": NodeBehaviour()})
    job = bench.add_job("1-2")
    job.set_state(JobState.DONE, now=1.0)
    version = bench.state.store.version()
    with pytest.raises(IllegalTransition):
        job.set_state(JobState.PAUSED, now=2.0)
    assert job.state is JobState.DONE
    assert bench.state.store.job(job.id).state is JobState.DONE
    assert bench.state.store.version() == version
