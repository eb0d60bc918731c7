"""A job snapshot recorded from a real run (``record_live_snapshot.py``: 4 lab nodes, the real dispatcher,
the demo renderer with frame 1013 dying out of memory) replayed through the backend's translation and the
panel, so the UI is checked against what the store really says, not only against hand-made records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from farmhand.jobs import (
    Event,
    FrameRow,
    FrameState,
    JobSnapshot,
    JobSpec,
    JobState,
    JobSummary,
    NodeActivity,
    NodeRow,
)
from farmhand.ui.view.convert import job_detail
from farmhand.ui.view.records import FarmSnapshot, FrameStatus

from .conftest import wait_snapshot
from .fake_backend import FakeBackend

pytestmark = pytest.mark.ui

RECORDING = Path(__file__).resolve().parents[1] / "data" / "ui" / "live_job_snapshot.json"


def load() -> JobSnapshot:
    data: dict[str, Any] = json.loads(RECORDING.read_text())
    summary = dict(data["summary"], state=JobState(data["summary"]["state"]))
    return JobSnapshot(
        summary=JobSummary(**summary),
        spec=JobSpec.from_dict(data["spec"]),
        nodes=tuple(NodeRow(**dict(n, state=NodeActivity(n["state"]))) for n in data["nodes"]),
        frames=tuple(FrameRow(**dict(f, state=FrameState(f["state"]))) for f in data["frames"]),
        events=tuple(Event(**e) for e in data["events"]),
        version=data["version"],
    )


def test_the_recorded_job_in_the_panels_words() -> None:
    detail = job_detail(load())
    job = detail.job
    assert (job.name, job.status, job.frames_done, job.frames_total, job.submitter, job.who) == (
        "shot010_beauty", JobState.RUNNING, 60, 240, "anna@ws-anna", "anna@ws-anna")
    nodes = {n.host: n for n in detail.nodes}
    assert nodes["render01"].state == "blocked"
    assert nodes["render01"].error == "blocklisted for this job after 2 failures: out of memory: Killed"
    assert (nodes["render02"].current_frame, nodes["render02"].frame_percent) == (1055.0, 40.0)
    assert nodes["render02"].share == pytest.approx(16 / 26)
    counts = {s: sum(f.status is s for f in detail.frames) for s in FrameStatus}
    # The store had 21 frames "rendering" (whole chunks); three are on a node right now.
    assert counts[FrameStatus.RENDERING] == 3
    assert counts[FrameStatus.ASSIGNED] == 18
    assert counts[FrameStatus.DONE] == 60
    assert (counts[FrameStatus.RETRYING], counts[FrameStatus.WAITING]) == (26, 133)
    assert job.frames_rendering == 3
    rendering = sorted(f.frame for f in detail.frames if f.status is FrameStatus.RENDERING)
    assert rendering == [1055.0, 1081.0, 1104.0]
    first_failure = next(f for f in detail.frames if f.error)
    assert (first_failure.frame, first_failure.error) == (1013.0, "render01: out of memory: Killed")


def test_the_recorded_job_on_screen(qtbot, make_panel) -> None:
    detail = job_detail(load())
    backend = FakeBackend(FarmSnapshot(jobs=(detail.job,), detail=detail))
    panel = make_panel(backend)
    wait_snapshot(qtbot, panel)
    tab = panel.jobs_tab
    qtbot.waitUntil(lambda: len(tab.grid.frames()) == 240, timeout=3000)
    assert tab.job_nodes.rowCount() == 4
    assert "retrying&nbsp;26" in tab.legend.text() and "assigned&nbsp;18" in tab.legend.text()
    assert "60/240 frames (25%)" in tab.summary.text() and "3 rendering now" in tab.summary.text()
