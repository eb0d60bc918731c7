"""Commands on their own: each handler's effect on the job and the answer the client reads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from farmhand.engine.commands import Commands
from farmhand.engine.nodewatch import NodeWatch
from farmhand.engine.publish import Publisher
from farmhand.engine.store import Command
from farmhand.jobs import CommandOp, FrameState, JobState

from .fake_farm import NodeBehaviour
from .parts import Bench, engine_state


@pytest.fixture
def bench(farmhand_home: Path) -> Bench:
    return engine_state(farmhand_home, {"a": NodeBehaviour()})


def _commands(bench: Bench) -> tuple[Commands, threading.Event]:
    stop = threading.Event()
    return Commands(bench.state, Publisher(bench.state, NodeWatch(bench.state)), stop), stop


def _send(bench: Bench, commands: Commands, job_id: str, op: CommandOp, **arg: object) -> str:
    return commands.apply(Command(0, job_id, op, dict(arg)), bench.clock.now)


def test_every_job_command_has_a_handler(bench: Bench) -> None:
    commands, _ = _commands(bench)
    assert set(commands.handlers) == set(CommandOp) - {CommandOp.STOP}


def test_cancel_ends_the_job_and_retires_it_when_nothing_runs(bench: Bench) -> None:
    commands, _ = _commands(bench)
    job = bench.add_job()
    assert _send(bench, commands, job.id, CommandOp.CANCEL) == "ok"
    assert job.state is JobState.CANCELLED and job.id not in bench.state.jobs
    assert _send(bench, commands, job.id, CommandOp.CANCEL) == "job is already cancelled"


def test_pause_and_resume_answer_from_the_job_state(bench: Bench) -> None:
    commands, _ = _commands(bench)
    job = bench.add_job()
    assert _send(bench, commands, job.id, CommandOp.RESUME) == "job is queued, not paused; nothing to resume"
    assert _send(bench, commands, job.id, CommandOp.PAUSE) == "ok"
    assert _send(bench, commands, job.id, CommandOp.PAUSE) == "job is paused; nothing to pause"
    assert _send(bench, commands, job.id, CommandOp.RESUME) == "ok"
    assert bench.state.store.job(job.id).state is JobState.RUNNING


def test_retry_requeues_failed_frames_and_reopens_the_job(bench: Bench) -> None:
    commands, _ = _commands(bench)
    job = bench.add_job("1-3")
    rec = job.frames[1]
    rec.attempts = 4
    job.fail_frames([rec], "crash", "a: segfault")
    job.set_state(JobState.FAILED, error="1 frames failed")
    job.stat("a").blocked = True
    assert _send(bench, commands, job.id, CommandOp.RETRY) == "ok"
    row = bench.state.store.frames(job.id)[1]
    assert (row.state, row.attempts, row.error_message) == (FrameState.WAITING, 0, "retried by the user")
    assert job.state is JobState.RUNNING and job.error == "" and not job.stat("a").blocked


def test_priority_and_requeue_frame(bench: Bench) -> None:
    commands, _ = _commands(bench)
    job = bench.add_job("1-3")
    assert _send(bench, commands, job.id, CommandOp.PRIORITY, priority=90) == "ok"
    assert bench.state.store.job(job.id).priority == 90
    assert _send(bench, commands, job.id, CommandOp.REQUEUE_FRAME, frame=7) == f"job {job.id} has no frame 7"
    job.set_done(job.frames[0], "a", 1.0, None)
    assert _send(bench, commands, job.id, CommandOp.REQUEUE_FRAME, frame=1) == "ok"
    assert bench.state.store.frames(job.id)[0].state is FrameState.WAITING


def test_stop_needs_no_job_and_a_job_command_needs_one(bench: Bench) -> None:
    commands, stop = _commands(bench)
    assert commands.apply(Command(0, None, CommandOp.PAUSE, {}), 0.0) == "no job given"
    assert not stop.is_set()
    assert commands.apply(Command(0, None, CommandOp.STOP, {}), 0.0) == "stopping"
    assert stop.is_set()


def test_pending_commands_are_answered_in_the_store(bench: Bench) -> None:
    commands, _ = _commands(bench)
    job = bench.add_job()
    first = bench.client.pause(job.id)
    second = bench.client.pause(job.id)
    commands.apply_pending(bench.clock.now)
    assert bench.client.command_result(first) == "ok"
    assert bench.client.command_result(second) == "job is paused; nothing to pause"
    assert bench.state.store.pending_commands() == []
