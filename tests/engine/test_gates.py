"""Gates on their own: dependencies hold, release, fail or cancel a job; the path map follows its file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from farmhand.engine.gates import Gates
from farmhand.engine.jobrun import JobRun
from farmhand.jobs import FrameState, JobSpec, JobState

from .fake_farm import NodeBehaviour
from .parts import Bench, engine_state


@pytest.fixture
def bench(farmhand_home: Path) -> Bench:
    return engine_state(farmhand_home, {"a": NodeBehaviour()})


def _kinds(bench: Bench, job_id: str) -> list[str]:
    return [e.kind for e in bench.state.store.events(job_id)]


def test_a_job_waits_for_its_dependency_then_is_queued(bench: Bench) -> None:
    gates = Gates(bench.state)
    cache = bench.add_job("1-2", output=str(bench.out / "c.$F4.bgeo"))
    render = bench.add_job("1-2", after=(cache.id,))
    gates.dependencies(1.0)
    assert render.state is JobState.WAITING and not render.deps_met
    assert "waiting" in _kinds(bench, render.id)
    gates.dependencies(2.0)
    assert _kinds(bench, render.id).count("waiting") == 1  # said once, not every step
    cache.set_state(JobState.RUNNING)
    cache.set_state(JobState.DONE)
    gates.dependencies(3.0)
    assert render.state is JobState.QUEUED and render.deps_met
    assert "ready" in _kinds(bench, render.id)


def test_a_failed_dependency_fails_the_job_and_its_unstarted_frames(bench: Bench) -> None:
    gates = Gates(bench.state)
    cache = bench.add_job("1-2", output=str(bench.out / "c.$F4.bgeo"))
    render = bench.add_job("1-3", after=(cache.id,))
    cache.set_state(JobState.FAILED, error="scene missing")
    gates.dependencies(1.0)
    assert render.state is JobState.FAILED
    assert render.error == f"job {cache.id} it needs failed: scene missing"
    rows = bench.state.store.frames(render.id)
    assert {(r.state, r.error_kind) for r in rows} == {(FrameState.FAILED, "dependency")}


def test_a_cancelled_or_missing_dependency(bench: Bench) -> None:
    gates = Gates(bench.state)
    cache = bench.add_job("1-2", output=str(bench.out / "c.$F4.bgeo"))
    render = bench.add_job("1-2", after=(cache.id,))
    cache.set_state(JobState.CANCELLED)
    gates.dependencies(1.0)
    assert (render.state, render.error) == (JobState.CANCELLED, f"job {cache.id} it needs was cancelled")
    assert all(f.state is FrameState.WAITING for f in render.frames)  # a retry can still run them
    # The client refuses an unknown job; a store written by an older version may still name one.
    orphan_id = bench.state.store.insert_job(JobSpec(preset="demo", frames="1", after=("99",)), [1], [None])
    orphan = bench.state.jobs[orphan_id] = JobRun.load(bench.state.store, orphan_id)
    gates.dependencies(2.0)
    assert (orphan.state, orphan.error) == (JobState.FAILED, "job 99 it needs does not exist")


def test_the_path_map_is_read_when_its_file_changes_and_a_broken_one_is_kept_out(
    bench: Bench, farmhand_home: Path
) -> None:
    gates = Gates(bench.state)
    farmhand_home.mkdir(parents=True, exist_ok=True)
    pathmap = farmhand_home / "pathmap.json"
    pathmap.write_text(json.dumps({"rules": [{"from": "P:/", "to": "/mnt/proj/"}]}))
    gates.load_pathmap(1.0)
    assert bench.state.node_path("P:/shot/a.hip", "a") == "/mnt/proj/shot/a.hip"
    pathmap.write_text("{not json")
    os.utime(pathmap, (2e9, 2e9))  # a new stamp even within the file system's time resolution
    gates.load_pathmap(2.0)
    assert bench.state.node_path("P:/shot/a.hip", "a") == "/mnt/proj/shot/a.hip"
    messages = [e.message for e in bench.state.store.events() if e.kind == "pathmap"]
    assert messages[0].startswith("path map loaded from")
    assert messages[-1].endswith("keeping the previous path map")


def test_a_fixed_path_map_is_never_read(bench: Bench, farmhand_home: Path) -> None:
    farmhand_home.mkdir(parents=True, exist_ok=True)
    (farmhand_home / "pathmap.json").write_text(json.dumps({"rules": [{"from": "P:/", "to": "/x/"}]}))
    Gates(bench.state, fixed_pathmap=True).load_pathmap(1.0)
    assert bench.state.node_path("P:/a", "a") == "P:/a"
