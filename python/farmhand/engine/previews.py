"""Frame previews kept beside the job store, and the readable-image check of output verification.

Each verified frame whose output is an image visible on this machine gets a small JPEG (see
:mod:`farmhand.engine.images`) in ``FARMHAND_HOME/previews/job-<n>/<frame>.jpg`` — never on the share.
``latest.json`` in the same folder names the last one made, so a client finds the last finished frame
with one small read. :class:`Previews` makes them on a low-priority thread of the dispatcher's own,
from the frames the store says are done: the step and the render nodes never wait for a preview.

Verification asks :func:`readable` (on the dispatcher's helper pool) whether each output of a frame
is a whole image, for jobs that check images (:func:`wants_check`: ``JobSpec.check_images``, by
default the preset's ``outputs_images``); a truncated EXR then fails verification and is rendered
again. The check reads every pixel, so the preview of such a frame is made from what it read.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from farmhand import paths
from farmhand.engine import images
from farmhand.engine.store.database import job_num
from farmhand.frames import Frame, format_frame, frame_or_none, normalise

log = logging.getLogger(__name__)

#: How much nicer than the dispatcher the preview thread runs (Linux; elsewhere it runs as is).
NICENESS = 10
LATEST = "latest.json"


@dataclass(frozen=True)
class Preview:
    """A frame's preview image on this machine."""

    job_id: str
    frame: Frame
    path: Path


@dataclass(frozen=True)
class ImageCheck:
    """The answer of :meth:`Previews.check_images`: one flag per output, and why the first bad one is bad."""

    answers: list[bool]
    why: Optional[str] = None


def previews_dir() -> Path:
    return paths.home() / "previews"


def job_dir(job_id: str) -> Path:
    return previews_dir() / f"job-{job_num(job_id)}"


def preview_path(job_id: str, frame: Frame) -> Path:
    """Where frame ``frame``'s preview is (or would be) kept: ``previews/job-7/1001.jpg``."""
    return job_dir(job_id) / f"{format_frame(normalise(frame))}.jpg"


def find(job_id: str, frame: Optional[Frame] = None) -> Optional[Preview]:
    """The preview of ``frame``, or of the last frame that got one; None when there is none yet."""
    if frame is not None:
        path = preview_path(job_id, frame)
        return Preview(str(job_num(job_id)), normalise(frame), path) if path.is_file() else None
    try:
        data = json.loads((job_dir(job_id) / LATEST).read_text(encoding="utf-8"))
        latest = normalise(float(data["frame"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return find(job_id, latest)


def listing(job_id: str) -> dict[Frame, Path]:
    """Every preview of the job, by frame."""
    found: dict[Frame, Path] = {}
    try:
        entries = list(os.scandir(job_dir(job_id)))
    except OSError:
        return found
    for entry in entries:
        name = entry.name
        if name.endswith(".jpg") and not name.startswith("."):
            frame = frame_or_none(_number(name[:-4]))
            if frame is not None:
                found[frame] = Path(entry.path)
    return found


def _number(text: str) -> Optional[float]:
    try:
        return float(text)
    except ValueError:
        return None


def make(job_id: str, frame: Frame, output: str, parts: Optional[list[Any]] = None) -> Optional[Preview]:
    """Make frame ``frame``'s preview from its ``output`` now and record it as the job's latest.

    Returns None (and logs why) when the output is not an image, not on this machine, or unreadable, or
    when OpenImageIO is missing.
    """
    if not images.is_image(output) or not images.available():
        return None
    if parts is None and not os.path.isfile(output):
        log.debug("no preview of job %s frame %s: %s is not visible here", job_id, frame, output)
        return None
    dest = preview_path(job_id, frame)
    try:
        images.make_preview(output, dest, parts=parts)
    except images.ImageError as exc:
        log.info("no preview of job %s frame %s: %s", job_id, format_frame(frame), exc)
        return None
    _write_latest(job_id, frame)
    return Preview(str(job_num(job_id)), normalise(frame), dest)


def _write_latest(job_id: str, frame: Frame) -> None:
    folder = job_dir(job_id)
    partial = folder / f".{LATEST}.{os.getpid()}.{threading.get_ident()}"
    partial.write_text(json.dumps({"frame": frame}), encoding="utf-8")
    os.replace(partial, folder / LATEST)


def _lower_priority() -> None:
    """Runs first on the preview thread: on Linux a thread's nice value is its own."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
    except (AttributeError, OSError):
        pass


Submit = Callable[..., "Future[Any]"]


def readable(job_id: str, frame: Frame, outputs: Sequence[str], preview: bool = True) -> ImageCheck:
    """Read every image among ``outputs`` whole (on a helper thread: it reads every pixel). The first
    readable one gives the frame's preview from what was read, unless ``preview`` is off."""
    answers: list[bool] = []
    why: Optional[str] = None
    for path in outputs:
        if not images.is_image(path):
            answers.append(True)
            continue
        try:
            parts = images.check_image(path)
        except images.ImageError as exc:
            answers.append(False)
            why = why or f"{exc}: rendered again"
            continue
        answers.append(True)
        if preview:
            preview = make(job_id, frame, path, parts) is None
    return ImageCheck(answers, why)


def wants_check(check_images: Optional[bool], preset_images: bool, outputs: Sequence[str]) -> bool:
    """Whether a frame's outputs are read as images: the job's choice, else the preset's, and only when
    an output is an image and OpenImageIO is there to read it."""
    wanted = preset_images if check_images is None else check_images
    return wanted and any(images.is_image(p) for p in outputs) and images.available()


class Previews:
    """Makes the previews of verified frames for the dispatcher, never on its step thread.

    :meth:`request` (from the step, at most every :attr:`interval` seconds) hands a sweep to the preview
    thread: it reads the done frames of the given jobs from the store (its own connection) and makes the
    previews that are missing, oldest frame first. Nothing here can reach the step: a failure is logged.

    Args:
        submit: where sweeps run (default: one low-priority thread of its own; tests run them inline).
        store: the store a sweep reads (default: a connection of the sweeping thread's own).
    """

    def __init__(self, submit: Optional[Submit] = None, store: Optional[Callable[[], Any]] = None,
                 interval: float = 1.0) -> None:
        self._pool: Optional[ThreadPoolExecutor] = None
        if submit is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="farmhand-preview",
                                            initializer=_lower_priority)
            submit = self._pool.submit
        self._submit = submit
        self._store = store
        self._local = threading.local()
        self.interval = interval
        self._sweep: Optional[Future[Any]] = None
        self._at = -1e18
        self._made: dict[str, set[Frame]] = {}  # frames whose preview exists, by job (sweep thread only)
        self.enabled = images.available()

    def request(self, job_ids: Sequence[str], now: float) -> None:
        """Sweep ``job_ids`` for new previews, unless one sweep still runs or the last was too recent."""
        if not self.enabled or not job_ids or now - self._at < self.interval:
            return
        if self._sweep is not None and not self._sweep.done():
            return
        self._at = now
        self._sweep = self._submit(self._sweep_quietly, list(job_ids))

    def _sweep_quietly(self, job_ids: list[str]) -> int:
        try:
            return self.sweep(job_ids)
        except Exception:  # a preview is only a picture: never a reason for the dispatcher to stop
            log.exception("preview sweep failed")
            return 0

    def _reader(self) -> Any:
        if self._store is not None:
            return self._store()
        store = getattr(self._local, "store", None)
        if store is None:
            from farmhand.engine.store.backend import open_store

            # This thread's own reading connection to the store the dispatcher serves (SQLite or the farm
            # database of FARMHAND_STORE).
            store = self._local.store = open_store(readonly=True)
        return store

    def sweep(self, job_ids: Sequence[str]) -> int:
        """Make the missing previews of the jobs' done frames; return how many were made."""
        from farmhand.errors import NotFound
        from farmhand.jobs import FrameState

        store, made = self._reader(), 0
        for job_id in job_ids:
            try:
                rows = store.frames(job_id)
            except NotFound:
                self._made.pop(job_id, None)
                continue
            have = self._made.setdefault(job_id, set())
            for row in rows:
                if row.state is not FrameState.DONE or not row.output or row.frame in have:
                    continue
                have.add(row.frame)
                if not preview_path(job_id, row.frame).is_file() and make(job_id, row.frame, row.output):
                    made += 1
        return made

    def close(self, wait: bool = False) -> None:
        """Stop sweeping: a sweep not yet started is dropped, and the preview thread closes its store
        connection (on a farm database, a server session) once the sweep under way, if any, ends.

        Args:
            wait: return only once the preview thread has ended (its connection closed).
        """
        if self._pool is not None:
            if self._sweep is not None:
                self._sweep.cancel()
            self._pool.submit(self._close_reader)
            self._pool.shutdown(wait=wait)
            self._pool = None

    def _close_reader(self) -> None:
        store = getattr(self._local, "store", None)
        self._local.store = None
        if store is not None:
            store.close()
