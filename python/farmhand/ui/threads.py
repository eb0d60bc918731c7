"""Background work for the panel: the snapshot poller and one-off tasks.

Nothing that may block (SQLite, SSH, log files) runs on the UI thread. Worker threads hand results back
through a Qt signal, which Qt queues into the UI thread's event loop because the receiving QObject lives
there. The poller keeps only the newest snapshot: if the UI falls behind, older snapshots are dropped, not
queued, so a slow repaint can never build a backlog; and it never polls faster than ``MAX_RATE_HZ``.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Optional

from farmhand.errors import FarmhandError
from farmhand.ui.qt import QtCore, Signal
from farmhand.ui.view.backend import FarmBackend
from farmhand.ui.view.records import FarmSnapshot

log = logging.getLogger(__name__)

MAX_RATE_HZ = 10.0
#: Blocking tasks (SSH probes, log reads, commands) running at once; more wait for a free slot.
MAX_TASKS = 16


def describe_exception(exc: BaseException) -> str:
    """One line for the status bar: a Farmhand message as is, anything else with its type."""
    if isinstance(exc, FarmhandError):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


class Poller(QtCore.QObject):
    """Reads :meth:`FarmBackend.snapshot` in a daemon thread and emits :attr:`updated` on the UI thread."""

    #: A :class:`FarmSnapshot`; emitted on the thread that owns the poller (the UI thread).
    updated = Signal(object)
    _ready = Signal()

    def __init__(self, backend: FarmBackend, interval: float = 1.0,
                 parent: Optional[QtCore.QObject] = None) -> None:
        super().__init__(parent)
        self._backend = backend
        self.interval = max(interval, 1.0 / MAX_RATE_HZ)
        self._job_id: Optional[str] = None
        self._lock = threading.Lock()
        self._latest: Optional[FarmSnapshot] = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self.polls = 0
        self._ready.connect(self._deliver)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive() and not self._stop.is_set():
            return
        # Each thread has its own stop flag: a thread still finishing a slow read after stop() never
        # comes back to life when the poller is started again.
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(self._stop,), name="farmhand-ui-poller",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 0.5) -> None:
        """Stop polling (jobs are not affected: they belong to the dispatcher process).

        Waits at most ``timeout`` for a read in progress; the thread then ends on its own.
        """
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def halt(self) -> None:
        """Tell the thread to end, touching no Qt object (safe while the poller is being destroyed)."""
        self._stop.set()
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def set_job(self, job_id: Optional[str]) -> None:
        """Follow ``job_id``'s detail from now on, and poll at once."""
        with self._lock:
            self._job_id = job_id
        self.poll_now()

    def poll_now(self) -> None:
        self._wake.set()

    def _run(self, stop: threading.Event) -> None:
        min_gap = 1.0 / MAX_RATE_HZ
        last = 0.0
        while not stop.is_set():
            # Requests arriving faster than MAX_RATE_HZ are merged into one poll.
            gap = time.monotonic() - last
            if gap < min_gap:
                stop.wait(min_gap - gap)
                if stop.is_set():
                    break
            self._wake.clear()
            last = time.monotonic()
            with self._lock:
                job_id = self._job_id
            try:
                snapshot = self._backend.snapshot(job_id)
            except Exception as exc:  # a poll must never kill the thread; shown in words
                log.debug("snapshot failed", exc_info=True)
                snapshot = FarmSnapshot(error=describe_exception(exc))
            self.polls += 1
            if stop.is_set():
                break
            with self._lock:
                pending = self._latest is not None
                self._latest = snapshot
            if not pending:
                try:
                    self._ready.emit()
                except RuntimeError:
                    # The panel was deleted without being closed (a destroyed pane tab): end quietly.
                    break
            self._wake.wait(self.interval)

    def _deliver(self) -> None:
        with self._lock:
            snapshot, self._latest = self._latest, None
        if snapshot is not None:
            self.updated.emit(snapshot)


class TaskRunner(QtCore.QObject):
    """Runs blocking calls in threads and calls back on the UI thread with the result or the error."""

    _finished = Signal(object)
    #: Emitted (on the UI thread) with a one-line message whenever a task failed.
    failed = Signal(str)

    def __init__(self, parent: Optional[QtCore.QObject] = None, max_running: int = MAX_TASKS) -> None:
        super().__init__(parent)
        self._finished.connect(self._call_back)
        self._threads: set[threading.Thread] = set()
        # Probing 100 selected nodes must not open 100 SSH sessions at once: the rest wait their turn.
        self._slots = threading.BoundedSemaphore(max_running)

    def run(self, work: Callable[[], Any], done: Optional[Callable[[Any], None]] = None,
            error: Optional[Callable[[str], None]] = None, name: str = "task") -> threading.Thread:
        def target() -> None:
            try:
                with self._slots:
                    payload: tuple[Any, ...]
                    try:
                        payload = (done, None, work(), False)
                    except Exception as exc:  # reported to the user in words, never swallowed
                        log.debug("%s failed", name, exc_info=True)
                        payload = (None, error, describe_exception(exc), True)
                self._finished.emit(payload)
            except RuntimeError:
                log.debug("%s finished after its panel was deleted", name)
            finally:
                self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=target, name=f"farmhand-ui-{name}", daemon=True)
        self._threads.add(thread)
        thread.start()
        return thread

    @property
    def busy(self) -> int:
        return len(self._threads)

    def _call_back(self, payload: Any) -> None:
        done, error, value, is_error = payload
        if is_error:
            self.failed.emit(str(value))
            if error is not None:
                error(str(value))
        elif done is not None:
            done(value)
