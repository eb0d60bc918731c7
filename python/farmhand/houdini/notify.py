"""A job sent from this Houdini session ended: say so in Houdini's status bar, never in a dialog.

:func:`watch` (called by :mod:`farmhand.houdini.sending` once jobs are queued) follows those jobs from a
daemon thread that reads the job store every few seconds, touching no ``hou``; when one is done, failed
or cancelled, one line goes to ``hou.ui.setStatusMessage`` on the main thread — a warning for a failed
or cancelled job — and the artist keeps working: nothing takes the focus. The Farmhand panel, when it
is open, says the same in its own status line (:attr:`farmhand.ui.panel.FarmhandPanel.jobEnded`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any, Callable, Optional

from farmhand.houdini.mainthread import post_to_main
from farmhand.jobs import JobState, JobSummary

log = logging.getLogger(__name__)

#: Seconds between two reads of the job store.
POLL_SECONDS = 3.0


def ended_words(summary: JobSummary) -> str:
    """The status bar's line: ``Farmhand: job 7 shot010 /out/mantra1 done (240/240 frames)``."""
    text = (f"Farmhand: job {summary.id} {summary.title} {summary.state.value} "
            f"({summary.frames_done}/{summary.frames_total} frames")
    if summary.frames_failed:
        text += f", {summary.frames_failed} failed"
    text += ")"
    if summary.error and summary.state is not JobState.DONE:
        text += f": {summary.error}"
    return " ".join(text.split())[:300]


def show(summary: JobSummary) -> None:
    """On the main thread: the ending in the status bar (a warning unless the job is done)."""
    import hou  # here, not at import: sending (which imports this module) runs where hou may be missing

    severity = hou.severityType.Message if summary.state is JobState.DONE else hou.severityType.Warning
    if hou.isUIAvailable():
        hou.ui.setStatusMessage(ended_words(summary), severity=severity)
    else:
        log.info("%s", ended_words(summary))


class EndWatcher:
    """Follows job ids until each has ended; ``read`` returns their summaries, None for a job that is gone
    (off the main thread)."""

    def __init__(self, read: Optional[Callable[[list[str]], dict[str, Optional[JobSummary]]]] = None,
                 poll: float = POLL_SECONDS, autostart: bool = True) -> None:
        self._read = read or _read_store
        self.poll = poll
        self.autostart = autostart  # off: nothing runs until check() is called (tests)
        self._ids: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def watch(self, job_ids: Iterable[str]) -> None:
        with self._lock:
            self._ids.update(str(j) for j in job_ids)
            if self.autostart and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._run, name="farmhand-job-ends", daemon=True)
                self._thread.start()
        self._wake.set()

    @property
    def watching(self) -> set[str]:
        with self._lock:
            return set(self._ids)

    def check(self) -> list[JobSummary]:
        """One look: the watched jobs that ended are posted to the main thread and no longer watched."""
        ids = sorted(self.watching)
        if not ids:
            return []
        try:
            found = self._read(ids)
        except Exception as exc:  # the store being replaced, a broken home: try again later
            log.debug("could not read the job store: %s", exc)
            return []
        ended = [s for s in found.values() if s is not None and s.state.finished]
        with self._lock:
            self._ids.difference_update(s.id for s in ended)
            self._ids.difference_update(j for j, s in found.items() if s is None)
        for summary in ended:
            try:
                post_to_main(show, summary)
            except Exception as exc:  # a notice must never take the watcher down
                log.debug("could not show the end of job %s: %s", summary.id, exc)
        return ended

    def _run(self) -> None:
        while True:
            self.check()
            with self._lock:
                if not self._ids:
                    self._thread = None
                    return
            self._wake.wait(self.poll)
            self._wake.clear()


def _read_store(ids: list[str]) -> dict[str, Optional[JobSummary]]:
    from farmhand.client import Client, store_exists
    from farmhand.errors import NotFound

    if not store_exists():
        return dict.fromkeys(ids)  # never create a job store in FARMHAND_HOME just to look into it
    client = Client(autostart=False)
    try:
        found: dict[str, Optional[JobSummary]] = {}
        for job_id in ids:
            try:
                found[job_id] = client.store.summary(job_id)
            except NotFound:
                found[job_id] = None  # removed meanwhile: nothing to announce
        return found
    finally:
        client.close()


_WATCHER = EndWatcher()


def watch(job_ids: Iterable[str]) -> None:
    """Say in the status bar when each of these jobs ends (the call returns at once)."""
    _WATCHER.watch(job_ids)


def watcher() -> Any:
    """This session's watcher (tests)."""
    return _WATCHER
