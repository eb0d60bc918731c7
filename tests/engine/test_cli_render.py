"""The text ``farmhand status`` draws from a snapshot (bars, node states, failures)."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import cast

import pytest

from farmhand.cli.jobs import _follow, output_warning, render_status
from farmhand.client import Client
from farmhand.jobs import (
    FrameRow,
    FrameState,
    JobSnapshot,
    JobSpec,
    JobState,
    JobSummary,
    NodeActivity,
    NodeRow,
)


def test_status_text_shows_nodes_progress_and_failures() -> None:
    summary = JobSummary(
        id="7",
        title="shot010 /out/mantra1",
        preset="hrender",
        state=JobState.RUNNING,
        priority=50,
        created=0.0,
        frames_total=10,
        frames_done=4,
        frames_failed=1,
        frames_rendering=2,
        eta_seconds=75.0,
    )
    snap = JobSnapshot(
        summary=summary,
        spec=JobSpec(preset="hrender", frames="1-10"),
        nodes=(
            NodeRow("render01", NodeActivity.RENDERING, 5, 40.0, 3, 12.5, 20.0, 4, 2),
            NodeRow("render02", NodeActivity.BLOCKED, message="blocklisted for this job after 2 failures"),
        ),
        frames=(FrameRow(3, FrameState.FAILED, "render02", 4, None, "crash", "render02: SIGSEGV"),),
    )
    text = render_status(snap, width=100)
    lines = text.splitlines()
    assert lines[0] == "job 7 shot010 /out/mantra1: running  4/10 done, 1 failed, 2 assigned, ETA 1m15s"
    assert "40.0%" in text and "frame 5" in text and "12.5s/frame" in text
    assert "render02       blocked" in text and "blocklisted" in text
    assert "frame 3 failed (4 attempts): crash: render02: SIGSEGV" in text


def test_live_status_lines_never_wrap_in_a_narrow_terminal() -> None:
    """``status --follow`` moves the cursor up by the number of lines it drew: a line wider than the
    terminal wraps and the redraw piles copies of the header down the screen."""
    summary = JobSummary(
        id="12", title="shot010_lighting_v012 /out/karma_beauty", preset="husk", state=JobState.RUNNING,
        priority=50, created=0.0, frames_total=240, frames_done=100, frames_failed=1,
        frames_rendering=6, eta_seconds=3725.0, error=None,
    )
    snap = JobSnapshot(
        summary=summary,
        spec=JobSpec(preset="husk", frames="1-240"),
        nodes=(
            NodeRow("render-gpu-workstation-17", NodeActivity.RENDERING, 1001, 42.0, 55, 123.4, 4000.0, 4, 2),
            NodeRow("render02", NodeActivity.BUSY, message="busy: rendering for another dispatcher"),
        ),
        frames=(FrameRow(3, FrameState.RETRYING, "render02", 1, None, "crash", "render02: SIGSEGV " * 8),),
    )
    for width in (20, 49, 79, 100, 159):
        lines = render_status(snap, width=width, clip=True).splitlines()
        assert max(len(line) for line in lines) <= width, (width, lines)
        assert len(lines) == 5
    wide = render_status(snap, width=159, clip=True)
    assert "render-gpu-workstation-17" in wide and "42.0%" in wide and "busy: rendering for another" in wide
    # a plain (not live) status shows a failure's message whole
    assert render_status(snap, width=79).count("SIGSEGV") == 8


class _DyingDispatcherClient:
    """Stands in for Client: the job runs for three reads, the dispatcher is found dead in between."""

    autostart = False

    def __init__(self, snap: JobSnapshot) -> None:
        self.snap, self.reads, self.started = snap, 0, 0

    def watch(self, job_id: str, since: int, timeout: float) -> JobSnapshot:
        self.reads += 1
        if self.reads < 3:
            return self.snap
        done = dataclasses.replace(self.snap.summary, state=JobState.DONE)
        return dataclasses.replace(self.snap, summary=done)

    def dispatcher(self) -> SimpleNamespace:
        return SimpleNamespace(running=False)

    def ensure_dispatcher(self) -> None:
        self.started += 1


def test_status_follow_restarts_a_dead_dispatcher() -> None:
    """``farmhand status JOB --follow`` must not sit forever on a job whose dispatcher died."""
    summary = JobSummary(id="3", title="t", preset="demo", state=JobState.RUNNING, priority=50, created=0.0,
                         frames_total=2, frames_done=1, frames_failed=0, frames_rendering=1, eta_seconds=1.0)
    client = _DyingDispatcherClient(JobSnapshot(summary=summary, spec=JobSpec(preset="demo", frames="1-2")))
    snap = _follow(cast(Client, client), "3", quiet=True, keep_alive=True)
    assert snap.state is JobState.DONE and client.started == 2


def test_ctrl_c_while_following_says_the_job_keeps_rendering(capsys: pytest.CaptureFixture[str]) -> None:
    class Interrupted(_DyingDispatcherClient):
        def watch(self, job_id: str, since: int, timeout: float) -> JobSnapshot:
            raise KeyboardInterrupt

    summary = JobSummary(id="4", title="t", preset="demo", state=JobState.RUNNING, priority=50, created=0.0,
                         frames_total=2, frames_done=1, frames_failed=0, frames_rendering=1, eta_seconds=1.0)
    client = Interrupted(JobSnapshot(summary=summary, spec=JobSpec(preset="demo", frames="1-2")))
    with pytest.raises(SystemExit) as info:
        _follow(cast(Client, client), "4")
    assert info.value.code == 130
    assert "job 4 keeps rendering" in capsys.readouterr().err
    # farmhand demo owns its dispatcher: the job does not keep rendering, so no such promise
    with pytest.raises(KeyboardInterrupt):
        _follow(cast(Client, client), "4", detached=False)
    assert "keeps rendering" not in capsys.readouterr().err


def test_submit_warns_when_the_output_has_no_frame_number() -> None:
    def spec(output: str, frames: str = "1-24", single: bool = False) -> JobSpec:
        return JobSpec(preset="demo", frames=frames, output=output, single_node=single)

    warning = output_warning(spec("/share/out/beauty.exr"))
    assert warning and "all 24 frames write that one file" in warning
    assert output_warning(spec("/share/out/beauty.$F4.exr")) is None
    assert output_warning(spec("/share/out/beauty.####.exr")) is None
    assert output_warning(spec("/share/out/cache.abc", single=True)) is None
    assert output_warning(spec("/share/out/still.exr", frames="12")) is None


def test_following_a_failed_job_waits_for_its_last_chunks_to_stop() -> None:
    """The job turns failed while its other chunks are still being killed: --wait/--follow return the
    settled snapshot (no frame 'rendering' in a finished job), not the first one that says failed."""
    base = JobSummary(id="5", title="t", preset="demo", state=JobState.FAILED, priority=50, created=0.0,
                      frames_total=3, frames_done=0, frames_failed=0, frames_rendering=1, eta_seconds=None)
    spec = JobSpec(preset="demo", frames="1-3")
    reads = [JobSnapshot(summary=base, spec=spec, version=1), JobSnapshot(summary=base, spec=spec, version=2),
             JobSnapshot(summary=dataclasses.replace(base, frames_rendering=0), spec=spec, version=3)]

    class Settling(_DyingDispatcherClient):
        def watch(self, job_id: str, since: int, timeout: float) -> JobSnapshot:
            return reads.pop(0)

        def dispatcher(self) -> SimpleNamespace:
            return SimpleNamespace(running=True)

    snap = _follow(cast(Client, Settling(reads[0])), "5", quiet=True)
    assert snap.version == 3 and snap.summary.frames_rendering == 0
