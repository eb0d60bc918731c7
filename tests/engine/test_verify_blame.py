"""Verification and blame on their own: when a frame counts as done, and what a failure costs whom."""

from __future__ import annotations

from pathlib import Path

import pytest

from farmhand.engine import noderun
from farmhand.engine.blame import Blame
from farmhand.engine.jobrun import JobRun
from farmhand.engine.noderun import StopCause, Task
from farmhand.engine.nodewatch import NodeWatch
from farmhand.engine.settings import Verification
from farmhand.engine.verify import Verifier
from farmhand.jobs import FrameState, JobState, Retry
from farmhand.presets.failures import FailureKind, failure
from farmhand.presets.progress import LineParser

from .fake_farm import NodeBehaviour, png
from .parts import Bench, engine_state


@pytest.fixture
def bench(farmhand_home: Path) -> Bench:
    return engine_state(farmhand_home, {"a": NodeBehaviour(), "b": NodeBehaviour()},
                        retry=Retry(node_failures_to_block=2, agree_to_fail=2, licence_backoff=5.0))


def _task(bench: Bench, job: JobRun, node: str, idxs: list[int]) -> Task:
    """A task rendering ``idxs`` of ``job`` on ``node`` (registered, not started)."""
    recs = [job.frames[i] for i in idxs]
    chunk_id = bench.state.store.insert_chunk(job.id, node, idxs, bench.clock.now)
    task = Task(chunk_id, job.id, node, [(r.idx, r.frame) for r in recs], bench.clock.now,
                LineParser(job.preset, [r.frame for r in recs]))
    job.set_rendering(recs, node, chunk_id)
    bench.state.tasks[chunk_id] = task
    return task


def _verifier(bench: Bench) -> Verifier:
    return Verifier(bench.state, Blame(bench.state, NodeWatch(bench.state)),
                    policy=Verification(quiet_seconds=1.0, grace_seconds=4.0, recheck_seconds=1.0))


def _settle(bench: Bench, verifier: Verifier, job_id: str, seconds: float = 10.0) -> None:
    """Advance simulated time and settle checks until none of the job is left (or ``seconds`` passed)."""
    end = bench.clock.now + seconds
    now = bench.clock.now
    while True:
        verifier.look(now)
        verifier.settle(now)
        if not verifier.pending(job_id) or now >= end:
            return
        now = bench.advance(0.5)


def _write(path: str | None) -> None:
    assert path
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(png("verify test"))


def test_a_frame_with_its_output_is_done(bench: Bench) -> None:
    job = bench.add_job("1-2")
    task = _task(bench, job, "a", [0, 1])
    _write(job.frames[0].output)
    verifier = _verifier(bench)
    verifier.expect(task, job, 0, 2.0, bench.clock.now)
    _settle(bench, verifier, job.id)
    row = bench.state.store.frames(job.id)[0]
    assert (row.state, row.node, row.seconds) == (FrameState.DONE, "a", 2.0)
    assert job.stat("a").frames_done == 1


def test_a_missing_output_is_a_failed_attempt(bench: Bench) -> None:
    job = bench.add_job("1-2")
    task = _task(bench, job, "a", [0, 1])
    bench.out.mkdir(parents=True)
    verifier = _verifier(bench)
    verifier.expect(task, job, 1, None, bench.clock.now)
    _settle(bench, verifier, job.id)  # looked for during the grace window, then on the node
    row = bench.state.store.frames(job.id)[1]
    assert (row.state, row.attempts, row.error_kind) == (FrameState.RETRYING, 1, "output_missing")
    assert row.error_message is not None
    assert row.error_message.startswith(f"a: output missing or empty: {job.frames[1].output} (looked for ")


def test_outputs_this_machine_cannot_see_are_checked_on_the_node(
    bench: Bench, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(noderun, "outputs_visible", lambda paths: False)
    job = bench.add_job("1-2")
    task = _task(bench, job, "a", [0, 1])
    _write(job.frames[0].output)  # the fake node sees the same files
    verifier = _verifier(bench)
    verifier.expect(task, job, 0, None, bench.clock.now)
    assert verifier.pending(job.id) and job.frames[0].state is FrameState.RENDERING
    _settle(bench, verifier, job.id)
    assert not verifier.pending(job.id) and job.frames[0].state is FrameState.DONE
    assert [h for h, argv in bench.fake.runs] == ["a"]


def test_the_first_copy_to_finish_wins_and_stops_the_backup(bench: Bench) -> None:
    job = bench.add_job("1")
    first = _task(bench, job, "a", [0])
    backup = _task(bench, job, "b", [0])
    _write(job.frames[0].output)
    verifier = _verifier(bench)
    verifier.expect(backup, job, 0, 1.0, bench.clock.now)
    _settle(bench, verifier, job.id)
    assert job.frames[0].node == "b"
    assert first.kill_cause is StopCause.BACKUP_RACE
    assert first.kill_reason == "backup race: b finished frame 1 first"
    assert backup.kill_cause is None


def test_licence_failures_back_the_node_off_without_counting(bench: Bench) -> None:
    blame = Blame(bench.state, NodeWatch(bench.state))
    job = bench.add_job("1-2")
    task = _task(bench, job, "a", [0])
    blame.chunk_failed(task, job, [0], failure(FailureKind.LICENCE, "no licence"), 100.0)
    blame.chunk_failed(task, job, [0], failure(FailureKind.LICENCE, "no licence"), 100.0)
    stat = job.stat("a")
    assert (stat.licence_repeats, stat.backoff_until, stat.failures) == (2, 110.0, 0)
    assert job.frames[0].attempts == 0


def test_a_node_that_keeps_crashing_is_blocklisted_for_the_job(bench: Bench) -> None:
    blame = Blame(bench.state, NodeWatch(bench.state))
    job = bench.add_job("1-3")
    for idx in (0, 1):
        blame.chunk_failed(_task(bench, job, "a", [idx]), job, [idx], failure(FailureKind.CRASH, "segv"), 1.0)
    stat = job.stat("a")
    assert stat.blocked and stat.message == "blocklisted for this job after 2 failures: segv"
    assert job.state is not JobState.FAILED  # node "b" may still render it


def test_nodes_that_agree_on_a_deterministic_error_fail_the_job(bench: Bench) -> None:
    blame = Blame(bench.state, NodeWatch(bench.state))
    job = bench.add_job("1-4")
    on_a, on_b, other = (_task(bench, job, n, [i]) for n, i in (("a", 0), ("b", 1), ("b", 2)))
    missing = failure(FailureKind.MISSING_FILE, "Cannot read file")
    blame.chunk_failed(on_a, job, [0], missing, 1.0)
    assert job.state is not JobState.FAILED  # one node is not yet agreement
    blame.chunk_failed(on_b, job, [1], missing, 2.0)
    assert (job.state, job.error) == (JobState.FAILED, "missing_file on 2 node(s): Cannot read file")
    assert other.kill_cause is StopCause.JOB_ENDED
