"""The store's typed writes: named columns only, KEEP leaves a column, None writes NULL, states checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from farmhand.engine.store import KEEP, Store
from farmhand.jobs import ChunkState, FrameState, JobSpec, JobState


@pytest.fixture
def store(farmhand_home: Path) -> Store:
    return Store()


def _job(store: Store) -> str:
    spec = JobSpec(preset="demo", frames="1-3")
    return store.insert_job(spec, [1, 2, 3], ["/o/1", "/o/2", "/o/3"], now=5.0)


def test_update_job_changes_only_the_columns_given(store: Store) -> None:
    job = _job(store)
    store.update_job(job, state=JobState.FAILED, error="boom", now=7.0)
    store.update_job(job, priority=80, now=8.0)
    head = store.job(f"#{job}")
    assert (head.id, head.state, head.error, head.priority) == (job, JobState.FAILED, "boom", 80)
    assert store.summary(job).updated == 8.0
    store.update_job(job, state=JobState.RUNNING, error="", eta=None)
    assert store.summary(job).error == "" and store.summary(job).eta_seconds is None


def test_update_frames_keep_leaves_columns_and_none_clears_them(store: Store) -> None:
    job = _job(store)
    store.update_frames(
        job, [0, 2], state=FrameState.FAILED, attempts=2, error_kind="crash", error_message="x"
    )
    store.update_frames(job, [0], state=FrameState.WAITING, error_kind=None, error_message=KEEP)
    rows = store.frames(job)
    assert (rows[0].state, rows[0].attempts, rows[0].error_kind, rows[0].error_message) == (
        FrameState.WAITING, 2, None, "x")
    assert (rows[1].state, rows[1].attempts) == (FrameState.WAITING, 0)
    assert (rows[2].state, rows[2].error_kind, rows[2].output) == (FrameState.FAILED, "crash", "/o/3")


def test_a_state_is_its_enum_or_the_stored_spelling_and_nothing_else(store: Store) -> None:
    job = _job(store)
    store.update_job(job, state="waiting")  # type: ignore[arg-type] # the spelling older callers pass
    assert store.job(job).state is JobState.WAITING
    with pytest.raises(ValueError, match="sleeping"):
        store.update_job(job, state="sleeping")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gone"):
        store.update_frames(job, [0], state="gone")  # type: ignore[arg-type]


def test_an_update_that_changes_nothing_writes_nothing(store: Store) -> None:
    job = _job(store)
    version = store.version()
    store.update_frames(job, [0, 1])
    store.update_frames(job, [], state=FrameState.DONE)
    store.update_chunk(1)
    assert store.version() == version


def test_open_chunks_are_typed_records(store: Store) -> None:
    job = _job(store)
    first = store.insert_chunk(job, "a", [0, 1], 10.0)
    second = store.insert_chunk(job, "b", [2], 11.0, backup_of=first)
    store.update_chunk(first, state=ChunkState.RUNNING, pgid=4242)
    store.update_chunk(second, state=ChunkState.DONE, ended=12.0, exit_code=0)
    (chunk,) = store.open_chunks()
    assert (chunk.id, chunk.job_id, chunk.node, chunk.frames) == (first, job, "a", (0, 1))
    assert (chunk.state, chunk.pgid, chunk.started) == (ChunkState.RUNNING, 4242, 10.0)
    assert not chunk.persistent
