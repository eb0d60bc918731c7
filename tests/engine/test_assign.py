"""The assigner on its own: which free node gets which frames, and when a node gets none."""

from __future__ import annotations

from pathlib import Path

import pytest

from farmhand.engine.assign import Assigner
from farmhand.engine.jobrun import JobRun
from farmhand.engine.nodewatch import NodeWatch
from farmhand.jobs import ChunkPolicy, FrameState, JobSpec, JobState

from .fake_farm import NodeBehaviour
from .parts import Bench, engine_state


@pytest.fixture
def bench(farmhand_home: Path) -> Bench:
    return engine_state(farmhand_home, {"a": NodeBehaviour(), "b": NodeBehaviour()})


def _chunks(bench: Bench) -> dict[str, list[float]]:
    return {t.node: [t.frame_of[i] for i in t.frames] for t in bench.state.tasks.values()}


def test_each_free_node_takes_the_next_run_of_frames(bench: Bench) -> None:
    job = bench.add_job("1-10", chunk=ChunkPolicy.fixed(3))
    Assigner(bench.state, NodeWatch(bench.state)).assign(bench.clock.now)
    assert _chunks(bench) == {"a": [1, 2, 3], "b": [4, 5, 6]}
    assert [f.state for f in job.frames[:7]] == [FrameState.RENDERING] * 6 + [FrameState.WAITING]
    assert job.state is JobState.RUNNING
    assert [p.host for p in bench.fake.procs] == ["a", "b"]
    assert len(bench.state.store.open_chunks()) == 2


def test_a_node_with_a_task_or_backed_off_gets_nothing(bench: Bench) -> None:
    nodes = NodeWatch(bench.state)
    assigner = Assigner(bench.state, nodes)
    bench.add_job("1-20", chunk=ChunkPolicy.fixed(2))
    nodes.back_off("b", bench.clock.now + 5, "connection refused")
    assigner.assign(bench.clock.now)
    assigner.assign(bench.clock.now)
    assert _chunks(bench) == {"a": [1, 2]}


def test_a_single_node_job_runs_whole_on_one_node(bench: Bench) -> None:
    bench.add_job("1-6", single_node=True)
    Assigner(bench.state, NodeWatch(bench.state)).assign(bench.clock.now)
    assert list(_chunks(bench).values()) == [[1, 2, 3, 4, 5, 6]]


def test_paused_jobs_get_nothing_and_priority_goes_first(bench: Bench) -> None:
    paused = bench.add_job("1-4", chunk=ChunkPolicy.fixed(2), output=str(bench.out / "p.$F4.png"))
    paused.set_state(JobState.PAUSED)
    low = bench.add_job("1-4", chunk=ChunkPolicy.fixed(4), output=str(bench.out / "l.$F4.png"))
    high = bench.add_job("1-2", chunk=ChunkPolicy.fixed(2), priority=90, output=str(bench.out / "h.$F4.png"))
    Assigner(bench.state, NodeWatch(bench.state)).assign(bench.clock.now)
    jobs = {t.node: t.job_id for t in bench.state.tasks.values()}
    assert jobs == {"a": high.id, "b": low.id}


def test_a_command_the_preset_cannot_build_fails_the_job(bench: Bench) -> None:
    # The client refuses this spec at submit; a store written by another version may still hold one.
    spec = JobSpec(preset="command", frames="1-2", command="render {file} {start} {end}")
    job_id = bench.state.store.insert_job(spec, [1, 2], [None, None])
    job = bench.state.jobs[job_id] = JobRun.load(bench.state.store, job_id)
    Assigner(bench.state, NodeWatch(bench.state)).assign(bench.clock.now)
    assert (job.state, job.error) == (JobState.FAILED, "preset command needs a scene file (--file)")
    assert not bench.state.tasks
