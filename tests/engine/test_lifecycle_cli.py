"""`farmhand preview|requeue|rm|archive` and `status --json`'s preview, through main() against a dispatcher
stepped by hand in a background thread (simulated farm, real store and files)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import pytest

from farmhand import cli
from farmhand.engine import previews
from farmhand.jobs import FrameState, JobState

from .fake_farm import NodeBehaviour
from .rig import Rig


@contextmanager
def _dispatcher_running(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The rig's dispatcher steps on its own while the CLI runs (the CLI starts none of its own)."""
    monkeypatch.setattr("farmhand.engine.process.ensure_running", lambda: None)
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            rig.now += 0.05
            rig.fake.advance(rig.now)
            rig.dispatcher.step(rig.now)
            time.sleep(0.01)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_requeue_takes_a_frame_spec(rig_for: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    rig = rig_for({"a": NodeBehaviour()})
    job = rig.submit("1-30")
    rig.drive(rig.finished(job))
    with _dispatcher_running(rig, monkeypatch):
        code, out, err = _run(capsys, "requeue", job, "10-12,20")
    assert (code, err) == (0, "")
    assert out == f"job {job}: requeue frames 10-12,20 done\n"
    again = [f.frame for f in rig.snap(job).frames if f.state is not FrameState.DONE or f.attempts]
    assert set(again) <= {10, 11, 12, 20}
    code, out, err = _run(capsys, "requeue", job, "29-33")
    assert code == 2 and err.startswith(f"farmhand: job {job} has no frame 31, 32, 33; its frames are 1-30")


def test_requeue_on_a_cancelled_job_says_what_it_would_do_and_needs_yes(
        rig_for: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=5.0)})
    job = rig.submit("1-20", chunk=2)
    rig.drive(lambda: rig.snap(job).summary.frames_done >= 4)
    rig.client.cancel(job)
    rig.drive(lambda: not rig.snap(job).summary.frames_rendering)
    done = [f.frame for f in rig.snap(job).frames if f.state is FrameState.DONE]
    unfinished = 20 - len(done)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    code, out, err = _run(capsys, "requeue", job, "1-2")
    assert code == 1 and out == ""
    assert err == (f"farmhand: job {job} is cancelled: requeueing frames 1-2 makes it run again, and its "
                   f"{unfinished} other unfinished frames (frames {done[-1] + 1}-20) render too. Nothing was "
                   "requeued; add --yes to requeue anyway.\n")
    assert rig.snap(job).state is JobState.CANCELLED and not rig.store.pending_commands()
    with _dispatcher_running(rig, monkeypatch):
        code, out, err = _run(capsys, "requeue", job, "1-2", "--yes")
    assert (code, out) == (0, f"job {job}: requeue frames 1-2 done\n")
    assert rig.snap(job).state is JobState.RUNNING


def test_preview_of_the_last_finished_frame_and_of_one_frame(
        rig_for: Callable[..., Rig], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rig = rig_for({"a": NodeBehaviour()})
    job = rig.submit("1-5")
    rig.drive(rig.finished(job))
    # The sweep made the previews as frames were verified; the last one made is the latest.
    latest = previews.find(job)
    assert latest is not None
    code, out, _ = _run(capsys, "preview", job)
    assert (code, out) == (0, f"{latest.path}\n")
    code, out, _ = _run(capsys, "preview", job, "3", "--out", str(tmp_path / "f3.jpg"), "--json")
    assert code == 0 and json.loads(out) == {"id": job, "frame": 3, "path": str(tmp_path / "f3.jpg")}
    assert (tmp_path / "f3.jpg").read_bytes() == previews.preview_path(job, 3).read_bytes()
    code, out, _ = _run(capsys, "status", job, "--json")
    assert json.loads(out)["preview"] == {"frame": latest.frame, "path": str(latest.path)}


def test_preview_made_on_demand_and_missing_ones_explained(
        rig_for: Callable[..., Rig], capsys: pytest.CaptureFixture[str]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=3.0)})
    job = rig.submit("1-5", chunk=5)
    code, _, err = _run(capsys, "preview", job)
    assert (code, err) == (1, f"farmhand: job {job} has no finished frame yet\n")
    rig.drive(lambda: rig.snap(job).summary.frames_done >= 1)
    for path in previews.job_dir(job).glob("*"):
        path.unlink()  # as if the dispatcher had not got to it yet
    code, out, _ = _run(capsys, "preview", job, "1")
    assert code == 0 and out.strip() == str(previews.preview_path(job, 1))
    code, _, err = _run(capsys, "preview", job, "4")
    assert (code, err) == (1, f"farmhand: job {job} frame 4 has no preview: it is rendering\n")
    code, _, err = _run(capsys, "preview", job, "1", "--out", "x.png")
    assert code == 2 and "previews are JPEG images" in err


def test_rm_and_archive_finished_jobs(rig_for: Callable[..., Rig], capsys: pytest.CaptureFixture[str],
                                      tmp_path: Path) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=0.5)})
    done, running = rig.submit("1-3"), rig.submit("1-200")
    rig.drive(rig.finished(done))
    code, out, err = _run(capsys, "rm", done, running)
    assert code == 1
    assert out == f"job {done} (done) removed with its logs and previews\n"
    assert err == f"farmhand: job {running} is running; cancel it first ('farmhand cancel {running}')\n"
    code, out, _ = _run(capsys, "rm", "--older-than", "1h")
    assert (code, out) == (0, "no finished job is older than 3600 seconds; nothing to rm\n")
    rig.client.cancel(running)
    rig.drive(lambda: not rig.snap(running).summary.frames_rendering)
    rig.drive(lambda: not rig.store.open_chunks())
    code, out, _ = _run(capsys, "archive", running, "--to", str(tmp_path / "old"), "--json")
    where = tmp_path / "old" / f"job-{running}"
    assert code == 0 and json.loads(out) == [{"id": running, "archived": str(where)}]
    assert json.loads((where / "job.json").read_text())["state"] == "cancelled"
    code, _, err = _run(capsys, "rm")
    assert code == 2 and "name the jobs to rm" in err
    code, _, err = _run(capsys, "archive", "--older-than", "soon")
    assert code == 2 and "is not an age" in err


def test_submit_on_end_is_checked_at_submit(farmhand_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "submit", "--preset", "demo", "--frames", "1-2",
                          "--on-end", "notify 'unclosed")
    assert code == 2 and out == ""
    assert err == "farmhand: --on-end: No closing quotation in \"notify 'unclosed\"\n"
