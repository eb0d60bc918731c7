"""Handing a submit's jobs to the dispatcher, and making sure a dispatcher runs them. No ``hou`` here:
this may run in a background thread.

:func:`send` queues every job first (the chain survives Houdini closing at once), then asks the sink to
start the dispatcher. A dispatcher that cannot start is an error of its own,
:class:`DispatcherNotStarted`, which names the queued jobs: a submit never reads "submitted" while
nothing will render.

The dispatcher Houdini starts runs under the Python this Houdini embeds (:func:`dispatcher_python`):
``PYTHONPATH`` inside Houdini holds packages built for that Python (the installer's ``deps`` folder,
studio packages), and the dispatcher inherits it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Optional

from farmhand.errors import FarmhandError, JobError, UsageError
from farmhand.houdini import notify
from farmhand.jobs import JobSpec

log = logging.getLogger(__name__)


class DispatcherNotStarted(JobError):
    """The jobs are queued, but no dispatcher runs to render them."""

    def __init__(self, job_ids: Sequence[str], reason: str) -> None:
        self.job_ids = list(job_ids)
        self.reason = reason
        jobs = f"job {job_ids[0]} waits" if len(job_ids) == 1 else f"jobs {', '.join(job_ids)} wait"
        super().__init__(f"the dispatcher could not start: {reason} - {jobs} in the queue and render once "
                         "it runs ('farmhand dispatcher' in a terminal shows why it stops)")


class JobSink:
    """What :func:`send` needs from the dispatcher's client (tests pass a recording fake)."""

    def submit(self, spec: JobSpec) -> str:
        """Queue ``spec``; return its job id."""
        raise NotImplementedError

    def start(self) -> None:
        """Make sure a dispatcher runs the queued jobs (raise :class:`FarmhandError` when none can)."""


class ClientSink(JobSink):
    """The real dispatcher, through :mod:`farmhand.client`.

    A job-store connection belongs to one thread, so each thread using the sink gets its own client.
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def _client(self) -> Any:
        from farmhand.client import Client

        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = Client(autostart=False)
        return client

    def submit(self, spec: JobSpec) -> str:
        job_id: str = self._client().submit(spec)
        return job_id

    def start(self) -> None:
        from farmhand.client import ensure_dispatcher

        use_houdinis_python()
        try:
            ensure_dispatcher()
        except OSError as exc:  # the interpreter could not be run at all
            python = os.environ.get("FARMHAND_PYTHON", "its Python")
            raise FarmhandError(f"cannot run {python}: {exc.strerror or exc}") from exc


def houdini_python(prefix: str, version: tuple[int, int], windows: bool) -> Optional[str]:
    """The standalone interpreter of the Python a Houdini embeds, from that Python's ``sys.base_exec_prefix``
    (Linux ``$HFS/python/bin/python3.11``, Windows ``$HFS/python311/python.exe``); None if it is not there."""
    base = Path(prefix)
    candidate = base / "python.exe" if windows else base / "bin" / f"python{version[0]}.{version[1]}"
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def _interpreter() -> tuple[str, str, tuple[int, int], bool]:
    """This process: its executable, its Python's base prefix and version, and whether it is Windows."""
    return sys.executable, sys.base_exec_prefix, (sys.version_info[0], sys.version_info[1]), os.name == "nt"


def use_houdinis_python() -> Optional[str]:
    """Start the dispatcher under the Python this Houdini embeds, unless ``FARMHAND_PYTHON`` names one.

    Sets ``FARMHAND_PYTHON`` (read only by the dispatcher launcher) and returns it; None outside Houdini
    or when the embedded Python has no standalone interpreter (then the launcher picks one itself).
    """
    chosen = os.environ.get("FARMHAND_PYTHON")
    executable, prefix, version, windows = _interpreter()
    # In Houdini the executable is Houdini or hython, not a Python.
    if chosen or Path(executable).name.lower().startswith("python"):
        return chosen or None
    found = houdini_python(prefix, version, windows)
    if found is None:
        log.warning("no standalone interpreter for Houdini's Python under %s; the dispatcher uses another "
                    "Python, which may not load packages built for Houdini's", prefix)
        return None
    os.environ["FARMHAND_PYTHON"] = found
    return found


@dataclass
class Sent:
    """The jobs of one submit, in render order (caches first)."""

    job_ids: list[str]
    pending: list[JobSpec]  # not queued yet (filled in place while a background submit runs)
    thread: Optional[threading.Thread] = None  # the background submit (Houdini never waits on it)
    error: Optional[str] = None


def send(specs: Sequence[JobSpec], sink: JobSink,
         on_update: Optional[Callable[[Sent], None]] = None, sent: Optional[Sent] = None) -> Sent:
    """Queue ``specs`` at once, in order, each one ``after`` the one before it; then start the dispatcher.

    The dispatcher holds each job until the previous one is done, and fails or cancels it when the
    previous one fails or is cancelled (the render would read missing cache files). Everything is in
    the job store before the dispatcher is started, so the chain completes even if Houdini is closed
    right away. ``sent`` (filled in place) lets a caller watch progress. No ``hou`` is touched.

    Raises:
        DispatcherNotStarted: every job is queued, but no dispatcher could be started.
    """
    if not specs:
        raise UsageError("nothing to submit")
    sent = sent if sent is not None else Sent([], [])
    sent.job_ids[:] = []
    sent.pending[:] = list(specs)
    previous: Optional[str] = None
    while sent.pending:
        spec = sent.pending[0]
        if previous is not None:
            spec = replace(spec, after=(*spec.after, previous))
        previous = sink.submit(spec)
        sent.pending.pop(0)
        sent.job_ids.append(previous)
        if on_update is not None:
            on_update(sent)
    try:
        sink.start()
    except FarmhandError as exc:
        raise DispatcherNotStarted(sent.job_ids, exc.message) from exc
    notify.watch(sent.job_ids)  # the status bar says when each one ends (no dialog)
    return sent
