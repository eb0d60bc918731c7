"""Crash-only dispatcher: a fault injected into each stage of the real step stays where it happened.

Each test makes one piece of work raise (a command's handler, the parsing of one output line, one output
check, one job's assignment or progress rows) and checks that it is recorded against that command,
chunk, frame or job, that a traceback is logged, and that every other job still finishes. A command
whose application kills the dispatcher is never applied again after the restart.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import pytest

from farmhand.engine import commands as commands_module
from farmhand.engine.assign import Assigner
from farmhand.engine.dispatcher import Dispatcher
from farmhand.engine.publish import Publisher
from farmhand.engine.store.tables import ABANDONED
from farmhand.jobs import ChunkState, CommandOp, FrameState, JobState
from farmhand.presets.progress import LineParser

from .fake_farm import NodeBehaviour
from .rig import Rig, assert_all_done


def _two_jobs(rig: Rig) -> tuple[str, str]:
    first = rig.submit("1-6", output=str(rig.out / "a.$F4.png"))
    return first, rig.submit("1-6", output=str(rig.out / "b.$F4.png"))


def _internal(rig: Rig, job: str) -> list[str]:
    return [e.message for e in rig.snap(job).events if e.kind == "internal_error"]


def test_a_command_that_raises_is_answered_and_the_farm_goes_on(
    rig_for: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0)})
    job = rig.submit("1-4")

    def broken(self: Any, job: Any, arg: Any, now: float) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(commands_module.Commands, "_pause", broken)
    rig.dispatcher = rig.make()  # handlers are bound when the dispatcher is built
    cid = rig.client.pause(job)
    with caplog.at_level(logging.ERROR):
        rig.drive(rig.finished(job))
    answer = rig.client.command_result(cid)
    assert answer is not None
    assert answer.startswith("internal error while applying the command 'pause': KeyError")
    assert any(r.exc_info for r in caplog.records if "KeyError" in r.getMessage())
    assert_all_done(rig, job)


def test_a_command_that_kills_the_dispatcher_is_not_applied_again(
    rig_for: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 22-digit priority used to overflow SQLite inside the step, so every restart died again. Any
    command that takes the process down (simulated: an exception no guard catches) is answered by the
    next start instead of being replayed."""
    rig = rig_for({"a": NodeBehaviour(spf=1.0)})
    job = rig.submit("1-3")
    calls = []

    def fatal(self: Any, job: Any, arg: Any, now: float) -> None:
        calls.append(arg)
        raise SystemExit("the process died while applying it")

    monkeypatch.setattr(commands_module.Commands, "_priority", fatal)
    rig.dispatcher = rig.make()
    cid = rig.client.set_priority(job, 70)
    with pytest.raises(SystemExit):
        rig.dispatcher.step(rig.now)
    assert calls == [{"priority": 70}] and rig.client.command_result(cid) is None
    rig.dispatcher = rig.make()  # the restart
    rig.drive(rig.finished(job))
    assert calls == [{"priority": 70}]
    assert rig.client.command_result(cid) == ABANDONED
    assert_all_done(rig, job)


def test_out_of_range_command_arguments_are_refused_by_the_dispatcher(rig_for: Callable[..., Rig]) -> None:
    """A command row written by another program (or an older client) is checked again before use."""
    rig = rig_for({"a": NodeBehaviour(spf=1.0)})
    job = rig.submit("1-3")
    bad = [
        (CommandOp.PRIORITY, {"priority": 10**22}),
        (CommandOp.PRIORITY, {"priority": "high"}),
        (CommandOp.PRIORITY, {}),
        (CommandOp.REQUEUE_FRAME, {"frame": 1e300}),
        (CommandOp.REQUEUE_FRAME, {"frame": [1]}),
    ]
    ids = [rig.store.add_command(job, op, arg) for op, arg in bad]
    rig.drive(rig.finished(job))
    answers = [rig.client.command_result(i) or "" for i in ids]
    assert all("\n" not in a for a in answers)
    assert [("out of range" in a, "is not a frame number" in a) for a in answers] == [(True, False)] * 3 + [
        (False, True)] * 2
    assert rig.snap(job).summary.priority == 50
    assert_all_done(rig, job)


def test_a_line_that_breaks_the_parser_fails_its_chunk_not_the_dispatcher(
    rig_for: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = LineParser.feed

    def feed(self: LineParser, stream: str, line: Any) -> Any:
        if "Fra:3 " in str(line):
            raise OverflowError("a number too large")
        return real(self, stream, line)

    monkeypatch.setattr(LineParser, "feed", feed)
    rig = rig_for({"a": NodeBehaviour(spf=1.0), "b": NodeBehaviour(spf=1.0)},
                  retry=_retry(max_attempts=2))
    job, other = rig.submit("1-4", chunk=4), rig.submit("10-13", chunk=4, output=str(rig.out / "o.$F4.png"))
    rig.drive(lambda: rig.snap(job).state.finished and rig.snap(other).state.finished)
    snap = rig.snap(job)
    # Frame 3 breaks the parser on every node: it fails after its attempts; the others are rendered.
    assert snap.state is JobState.FAILED
    states = {r.frame: (r.state, r.attempts) for r in snap.frames}
    assert states[3] == (FrameState.FAILED, 2) and all(states[f][0] is FrameState.DONE for f in (1, 2, 4))
    failed = rig.store.db.execute("SELECT message FROM chunks WHERE state = ?", (ChunkState.FAILED.value,))
    assert all("internal error while reading its output: OverflowError" in m for (m,) in failed)
    assert _internal(rig, job)
    assert_all_done(rig, other)
    assert not rig.fake.live()


def test_an_output_check_that_raises_fails_only_its_frame(
    rig_for: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    from farmhand.engine.verify import Verifier

    real = Verifier._written
    broken = [1]

    def written(self: Verifier, check: Any, now: float) -> bool:
        if check.idx in broken:
            broken.clear()  # once
            raise ValueError("embedded null byte")
        return real(self, check, now)

    monkeypatch.setattr(Verifier, "_written", written)
    rig = rig_for({"a": NodeBehaviour(spf=1.0)})
    job = rig.submit("1-3")
    rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    assert [r.attempts for r in snap.frames] == [0, 1, 0]
    assert any("checking a frame's outputs: ValueError" in m for m in _internal(rig, job))


@pytest.mark.parametrize("stage", ["assign", "publish"])
def test_a_job_that_breaks_a_stage_fails_alone(
    rig_for: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0), "b": NodeBehaviour(spf=1.0)})
    bad, good = _two_jobs(rig)
    if stage == "assign":
        real_start = Assigner.start_chunk

        def start_chunk(self: Assigner, job: Any, *args: Any, **kw: Any) -> Any:
            if job.id == bad:
                raise ZeroDivisionError("chunk size")
            return real_start(self, job, *args, **kw)

        monkeypatch.setattr(Assigner, "start_chunk", start_chunk)
        where = "assigning its work"
    else:
        real_publish = Publisher.publish_job

        def publish_job(self: Publisher, job: Any, now: float) -> None:
            if job.id == bad and job.count(FrameState.DONE) >= 2:
                raise AttributeError("eta")
            real_publish(self, job, now)

        monkeypatch.setattr(Publisher, "publish_job", publish_job)
        where = "publishing its progress"
    rig.drive(lambda: rig.snap(bad).state.finished and rig.snap(good).state.finished)
    snap = rig.snap(bad)
    assert snap.state is JobState.FAILED and snap.summary.error is not None
    assert snap.summary.error.startswith(f"internal error while {where}: ")
    assert not any(r.state is FrameState.RENDERING for r in snap.frames)
    assert_all_done(rig, good)
    assert not rig.fake.live()
    # 'retry' brings it back with a fresh copy from the store (the fault is gone now)
    monkeypatch.undo()
    rig.client.retry(bad)
    rig.drive(rig.finished(bad))
    assert rig.snap(bad).state is JobState.DONE


def test_the_run_loop_survives_any_step_error(
    rig_for: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error outside every guard makes the dispatcher start again from the store, and go on."""
    from farmhand.engine import dispatcher as dispatcher_module

    monkeypatch.setattr(dispatcher_module, "STEP_SECONDS", 0.0)
    monkeypatch.setattr(dispatcher_module, "MIN_STEP_SECONDS", 0.0)
    monkeypatch.setattr(dispatcher_module, "MAX_RESTART_PAUSE", 0.0)
    rig = rig_for({"a": NodeBehaviour(spf=1.0)})
    job = rig.submit("1-4")
    d: Dispatcher = rig.dispatcher
    real_step = d.step
    errors = [3]

    def step() -> None:
        rig.now += 0.1
        rig.fake.advance(rig.now)
        if rig.snap(job).summary.frames_done >= 2 and errors[0]:
            errors[0] -= 1
            raise RuntimeError("not contained anywhere")
        real_step(rig.now)
        if rig.snap(job).state.finished:
            d.stop_requested.set()

    monkeypatch.setattr(d, "step", step)
    d.run()
    assert errors == [0]
    assert_all_done(rig, job)


def _retry(**kw: Any) -> Any:
    from farmhand.jobs import Retry

    return Retry(stall_floor=5.0, licence_backoff=2.0, unreachable_backoff=2.0, **kw)
