"""A job sent from Houdini ends: one line in Houdini's status bar (a warning if it did not finish well),
posted to the main thread from the watcher's thread, never a dialog."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Optional

import hdefereval

from farmhand.client import Client
from farmhand.houdini import notify
from farmhand.jobs import JobSpec, JobState, JobSummary


def _summary(job_id: str, state: JobState, error: Optional[str] = None, failed: int = 0) -> JobSummary:
    return JobSummary(id=job_id, title="shot010_v012.hip /out/mantra1", preset="hrender", state=state,
                      priority=50, created=0.0, frames_total=240, frames_done=240 - failed,
                      frames_failed=failed, frames_rendering=0, error=error)


def test_each_ending_is_one_status_line_from_the_main_thread(hou_session: Any) -> None:
    states = {"7": JobState.RUNNING, "8": JobState.RUNNING}
    errors = {"8": "3 frames failed; first: out of memory: Killed"}
    watcher = notify.EndWatcher(lambda ids: {i: _summary(i, states[i], errors.get(i), 3 if i == "8" else 0)
                                             for i in ids}, autostart=False)
    watcher.watch(["7", "8"])
    seen: list[Any] = []
    worker = threading.Thread(target=lambda: seen.extend(watcher.check()))
    worker.start()
    worker.join()
    assert seen == [] and hou_session.UI_LOG.status == []
    states.update({"7": JobState.DONE, "8": JobState.FAILED})
    worker = threading.Thread(target=lambda: seen.extend(watcher.check()))
    worker.start()
    worker.join()
    hdefereval.process_events(timeout=2)  # what the watcher posted runs on Houdini's main thread
    assert hou_session.UI_LOG.status == [
        "Farmhand: job 7 shot010_v012.hip /out/mantra1 done (240/240 frames)",
        "Farmhand: job 8 shot010_v012.hip /out/mantra1 failed (237/240 frames, 3 failed): 3 frames failed; "
        "first: out of memory: Killed",
    ]
    assert hou_session.UI_LOG.messages == []  # no dialog
    assert watcher.watching == set()


def test_jobs_that_are_gone_or_in_no_store_are_dropped(hou_session: Any, tmp_path: Path) -> None:
    watcher = notify.EndWatcher(autostart=False)
    watcher.watch(["41"])  # no job store in this home: none is created to look
    assert watcher.check() == [] and watcher.watching == set()
    client = Client(autostart=False)
    job = client.submit(JobSpec(preset="demo", frames="1-2", output=str(tmp_path / "f.$F4.png")))
    watcher.watch([job, "999"])
    watcher.check()
    assert watcher.watching == {job}
    client.store.update_job(job, state=JobState.CANCELLED)
    assert [s.id for s in watcher.check()] == [job]
    hdefereval.process_events(timeout=2)
    assert hou_session.UI_LOG.status == [f"Farmhand: job {job} demo cancelled (0/2 frames)"]
    client.close()
