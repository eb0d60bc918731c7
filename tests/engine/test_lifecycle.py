"""Requeueing a frame spec, removing and archiving finished jobs (with their logs and previews)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import pytest

from farmhand import paths
from farmhand.engine import lifecycle, previews
from farmhand.engine.store import lifecycle as records
from farmhand.errors import NotFound
from farmhand.jobs import CommandOp, FrameState, JobState

from .fake_farm import NodeBehaviour
from .rig import Rig


def _answer(rig: Rig, command_id: int) -> str:
    rig.now += 0.1
    rig.dispatcher.step(rig.now)
    answer = rig.store.command_result(command_id)
    assert answer is not None
    return answer


def _requeue(rig: Rig, job: str, frames: list[float]) -> str:
    return _answer(rig, rig.store.add_command(job, CommandOp.REQUEUE_FRAMES, {"frames": frames}))


def test_requeue_frames_of_a_done_job_renders_only_those_again(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(), "b": NodeBehaviour()})
    job = rig.submit("1-20")
    rig.drive(rig.finished(job))
    rendered = len(rig.fake.rendered)
    assert _requeue(rig, job, [5, 6, 7, 12]) == "ok"
    snap = rig.snap(job)
    assert snap.state is JobState.RUNNING
    assert [f.frame for f in snap.frames if f.state is not FrameState.DONE] == [5, 6, 7, 12]
    assert [e.message for e in snap.events if e.kind == "requeued"] == ["4 frames (5…12) queued again"]
    rig.drive(rig.finished(job))
    assert rig.snap(job).state is JobState.DONE
    assert sorted(f for _, f in rig.fake.rendered[rendered:]) == [5, 6, 7, 12]


def test_requeue_frames_refuses_unknown_and_busy_frames_changing_nothing(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=5.0)})
    job = rig.submit("1-10", chunk=10)
    rig.drive(lambda: rig.snap(job).summary.frames_done >= 2)
    before = [(f.frame, f.state) for f in rig.snap(job).frames]
    assert _requeue(rig, job, [1, 99, 100]) == f"job {job} has no frame 99, 100"
    answer = _requeue(rig, job, [1, 7])
    assert answer == "frame 7 is being rendered now; requeue it when it has finished"
    assert _requeue(rig, job, []) == "no frames given"
    assert [(f.frame, f.state) for f in rig.snap(job).frames] == before


def _finished_job_with_files(rig: Rig) -> str:
    job = rig.submit("1-4")
    rig.drive(rig.finished(job))
    (previews.job_dir(job)).mkdir(parents=True, exist_ok=True)
    (previews.job_dir(job) / "1.jpg").write_bytes(b"jpeg")
    assert (paths.logs_dir() / f"job-{job}").is_dir()
    return job


def test_remove_takes_the_job_its_logs_and_previews(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour()})
    job = _finished_job_with_files(rig)
    other = rig.submit("1-2")
    assert lifecycle.remove(rig.store, job) is JobState.DONE
    with pytest.raises(NotFound):
        rig.store.job(job)
    assert not (paths.logs_dir() / f"job-{job}").exists() and not previews.job_dir(job).exists()
    for table in ("frames", "chunks", "progress", "events", "commands"):
        left = rig.store.db.execute(f"SELECT COUNT(*) FROM {table} WHERE job = ?", (int(job),)).fetchone()
        assert left[0] == 0, table
    assert rig.store.job(other).state is JobState.QUEUED  # other jobs untouched
    rig.drive(rig.finished(other))  # and the dispatcher carries on


def test_an_unfinished_job_is_not_removed(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=5.0)})
    job = rig.submit("1-10")
    rig.drive(lambda: rig.snap(job).summary.frames_done >= 1)
    with pytest.raises(records.JobBusy, match="is running; cancel it first"):
        lifecycle.remove(rig.store, job)
    rig.client.cancel(job)
    rig.now += 0.1
    rig.dispatcher.step(rig.now)
    if records.open_chunks_of(rig.store, job):  # cancelled, its chunk still being stopped
        with pytest.raises(records.JobBusy, match="chunks being stopped"):
            lifecycle.remove(rig.store, job)
    rig.drive(lambda: not records.open_chunks_of(rig.store, job))
    assert lifecycle.remove(rig.store, job) is JobState.CANCELLED


def test_archive_keeps_everything_outside_the_store(rig_for: Callable[..., Rig], tmp_path: Path) -> None:
    rig = rig_for({"a": NodeBehaviour()})
    job = _finished_job_with_files(rig)
    dest = lifecycle.archive(rig.store, job, tmp_path / "archive")
    assert dest == tmp_path / "archive" / f"job-{job}"
    data = json.loads((dest / "job.json").read_text())
    assert data["id"] == job and data["state"] == "done"
    assert [f["frame"] for f in data["frames"]] == [1, 2, 3, 4]
    assert data["chunks"] and any(e["kind"] == "done" for e in data["events"])
    assert data["spec"]["frames"] == "1-4"
    assert (dest / "previews" / "1.jpg").read_bytes() == b"jpeg"
    assert list((dest / "logs").glob("*.log"))
    with pytest.raises(NotFound):
        rig.store.job(job)


def test_finished_jobs_older_than(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour()})
    old, new = rig.submit("1-2"), rig.submit("1-2")
    rig.drive(lambda: rig.finished(old)() and rig.finished(new)())
    running = rig.submit("1-50")
    now = time.time()
    rig.store.update_job(old, now=now - 7200)  # last changed two hours ago
    assert records.finished_jobs(rig.store, before=now - 3600) == [old]
    assert records.finished_jobs(rig.store, before=now + 60) == [old, new]
    assert running not in records.finished_jobs(rig.store, before=now + 60)
