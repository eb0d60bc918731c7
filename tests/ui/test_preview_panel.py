"""Previews in the Jobs tab (the last finished frame, a clicked frame, the grid's hover) and the notice
when a job ends, offscreen, over the fake backend and over the real job store."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from farmhand.client import Client
from farmhand.engine import images, previews
from farmhand.jobs import FrameState, JobSpec, JobState
from farmhand.ui.client_backend import ClientBackend
from farmhand.ui.qt import QtCore, QtGui
from farmhand.ui.view.records import FramePreview, FrameStatus
from farmhand.ui.view.summaries import frame_tooltip

from . import farm_data
from .fake_backend import FakeBackend
from .test_client_backend import ListedNodes

pytestmark = pytest.mark.ui


def _jpeg(path: Path, colour: str) -> str:
    image = QtGui.QImage(200, 112, QtGui.QImage.Format.Format_RGB32)
    image.fill(QtGui.QColor(colour))
    path.parent.mkdir(parents=True, exist_ok=True)
    assert image.save(str(path), "JPG")
    return str(path)


def _with_previews(tmp_path: Path):
    """The fake farm's snapshot with previews of frames 1001 (green) and 1099 (red, the last one)."""
    snap = farm_data.snapshot()
    detail = snap.detail
    assert detail is not None
    paths = {1001.0: _jpeg(tmp_path / "1001.jpg", "#20c040"), 1099.0: _jpeg(tmp_path / "1099.jpg", "#e02020")}
    frames = tuple(replace(f, preview=paths.get(f.frame, "")) for f in detail.frames)
    detail = replace(detail, frames=frames, preview=FramePreview(1099.0, paths[1099.0]))
    return replace(snap, detail=detail), paths


def _centre_colour(label) -> QtGui.QColor:
    image = label.pixmap().toImage()
    return image.pixelColor(image.width() // 2, image.height() // 2)


def test_last_finished_frame_then_the_clicked_one(qtbot, make_panel, tmp_path: Path) -> None:
    snap, paths = _with_previews(tmp_path)
    panel = make_panel(FakeBackend(snap))
    pane = panel.jobs_tab.preview
    qtbot.waitUntil(lambda: pane.shown_path == paths[1099.0], timeout=5000)
    assert pane.caption.text() == "frame 1099 · last finished"
    assert _centre_colour(pane.picture).red() > 180
    grid = panel.jobs_tab.grid
    qtbot.mouseClick(grid.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=grid.cell_rect(0).center())
    assert pane.shown_path == paths[1001.0] and pane.caption.text() == "frame 1001"
    assert _centre_colour(pane.picture).green() > 150
    qtbot.mouseClick(grid.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=grid.cell_rect(150).center())
    assert pane.shown_path == "" and pane.caption.text() == "frame 1151: waiting, no preview yet"
    panel.jobs_tab.select_job(None)
    assert pane.caption.text() == "No job selected."


def test_hover_shows_the_frames_preview_and_escaped_words(tmp_path: Path) -> None:
    path = _jpeg(tmp_path / "a <b> & 'c'.jpg", "#ffffff")
    frame = replace(farm_data.frames()[0], preview=path, host="<img src=x>")
    text = frame_tooltip(frame)
    assert text.startswith('<img src="file://') and "a%20%3Cb%3E%20%26%20%27c%27.jpg\"" in text
    assert "&lt;img src=x&gt;" in text and "<img src=x>" not in text
    assert frame_tooltip(replace(frame, preview="")).startswith("<p ")


def test_a_job_ending_is_said_once_in_the_status_line(qtbot, make_panel) -> None:
    backend = FakeBackend(farm_data.snapshot())
    panel = make_panel(backend)
    ended: list[tuple[str, str, str]] = []
    panel.jobEnded.connect(lambda *args: ended.append(args))
    qtbot.waitUntil(lambda: panel.last_snapshot is not None, timeout=5000)
    snap = backend.current
    done = replace(snap.jobs[0], status=JobState.DONE, frames_done=240, frames_failed=0, message="")
    backend.current = replace(snap, jobs=(done, *snap.jobs[1:]))
    qtbot.waitUntil(lambda: bool(ended), timeout=5000)
    assert ended == [("j1", "shot010_beauty", "done")]
    assert panel.status.text() == "job j1 shot010_beauty done: 240/240 frames"
    panel.poller.poll_now()
    qtbot.wait(300)
    assert len(ended) == 1  # j2 was done before the panel opened: never announced


@pytest.mark.skipif(not images.available(), reason="OpenImageIO is part of the test extra")
def test_real_store_previews_reach_the_panel(qtbot, make_panel, farmhand_home: Path, tmp_path: Path) -> None:
    client = Client(autostart=False)
    out = tmp_path / "out"
    sources = {f: _jpeg(out / f"f.{f:04d}.jpg", colour) for f, colour in ((1, "#3050f0"), (2, "#f0c030"))}
    job = client.submit(JobSpec(preset="demo", frames="1-3", output=str(out / "f.$F4.jpg")))
    client.store.update_frames(job, [0, 1], state=FrameState.DONE)
    for frame, source in sources.items():
        assert previews.make(job, frame, source) is not None
    backend = ClientBackend(nodes=ListedNodes(["render01"]))
    detail = backend.snapshot(job).detail
    assert detail is not None and detail.preview == FramePreview(2.0, str(previews.preview_path(job, 2)))
    assert [bool(f.preview) for f in detail.frames] == [True, True, False]
    assert [f.status for f in detail.frames][:2] == [FrameStatus.DONE, FrameStatus.DONE]
    panel = make_panel(backend)
    panel.jobs_tab.select_job(job)
    pane = panel.jobs_tab.preview
    qtbot.waitUntil(lambda: pane.shown_path == str(previews.preview_path(job, 2)), timeout=5000)
    shutil.rmtree(previews.job_dir(job))
    client.close()


def test_requeue_on_a_cancelled_job_asks_what_the_cli_asks(qtbot, make_panel) -> None:
    snap = farm_data.snapshot()
    assert snap.detail is not None
    cancelled = replace(snap.jobs[0], status=JobState.CANCELLED)
    detail = replace(snap.detail, job=cancelled)
    backend = FakeBackend(replace(snap, jobs=(cancelled, *snap.jobs[1:]), detail=detail))
    panel = make_panel(backend)
    tab = panel.jobs_tab
    qtbot.waitUntil(lambda: tab.jobs.rowCount() == 3, timeout=5000)
    tab.select_job("j1")  # a reopened panel follows unfinished jobs; the cancelled one is chosen here
    qtbot.waitUntil(lambda: tab.grid.frames() != (), timeout=5000)
    asked: list[str] = []
    answer = [False]
    tab.confirm = lambda title, question: asked.append(question) or answer[0]
    tab.requeue_frame(1001.0)
    waiting = sum(f.status in (FrameStatus.WAITING, FrameStatus.RETRYING) for f in detail.frames)
    assert asked == [f"shot010_beauty is cancelled: requeueing a frame makes it run again, and its {waiting} "
                     "other unfinished frames render too. Requeue frame 1001 anyway?"]
    qtbot.wait(200)
    assert backend.called("requeue_frame") == []
    answer[0] = True
    tab.requeue_frame(1001.0)
    qtbot.waitUntil(lambda: backend.called("requeue_frame") == [("j1", 1001.0)], timeout=5000)
