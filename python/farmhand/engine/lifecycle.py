"""A job's life around its rendering: what runs when it ends, requeueing frames, removing and archiving.

:class:`Aftercare` is the dispatcher's part for what follows rendering, on threads of its own: it
notices every job ending (done, failed, cancelled) from the events the store keeps, once each and
across restarts, and hands it to the hooks and notifications of :mod:`farmhand.engine.hooks`, whose
results come back as the job's ``hook`` events on a later step; and it has the previews of newly
verified frames made (:mod:`farmhand.engine.previews`).

:func:`requeue_frames` is the ``requeue_frames`` command. :func:`remove` and :func:`archive` take a
finished job out of the store with its logs and previews (archive keeps them all under
``FARMHAND_HOME/archive/job-<n>/``).
"""

from __future__ import annotations

import logging
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Optional

from farmhand import paths
from farmhand.engine import hooks, previews
from farmhand.engine.hooks import HookResult, NotifySettings
from farmhand.engine.jobrun import JobRun
from farmhand.engine.previews import Previews
from farmhand.engine.state import EngineState
from farmhand.engine.store import Store
from farmhand.engine.store import lifecycle as records
from farmhand.engine.store.database import job_num
from farmhand.errors import FarmhandError, NotFound
from farmhand.frames import Frame, format_frame, frame_or_none
from farmhand.jobs import JobSnapshot, JobState

log = logging.getLogger(__name__)

#: Where the last job ending handled is remembered (an event id), so a restart neither repeats nor skips.
SEEN_KEY = "job_ends_seen"
HOOK_THREADS = 4
#: Seconds an ended job is still swept for previews (its last frames were verified as it ended).
LINGER_SECONDS = 5.0


class Aftercare:
    """Hooks and notifications of every job that ended, and previews of verified frames; never on the
    step's thread.

    Args:
        settings: the ``notify`` section of ``dispatcher.json``.
        submit: where hooks and previews run (default: threads of their own; tests run them inline).
    """

    def __init__(self, state: EngineState, settings: Optional[NotifySettings] = None,
                 submit: Optional[Any] = None, *, lock: Optional[Callable[[], None]] = None) -> None:
        self.state = state
        # On a shared farm: takes the farm's write lock, so one dispatcher moves the "ended jobs seen"
        # mark past each ending and runs its hooks (see _endings).
        self.lock = lock
        self.settings = settings or NotifySettings()
        self._pool: Optional[ThreadPoolExecutor] = None
        if submit is None:
            self._pool = ThreadPoolExecutor(max_workers=HOOK_THREADS, thread_name_prefix="farmhand-hook")
            submit = self._pool.submit
        self._submit = submit
        self._seen: Optional[int] = None
        self.running: list[tuple[str, Future[list[HookResult]]]] = []
        self._told_no_desktop = False
        inline = self._pool is None
        self.previews = Previews(submit if inline else None, (lambda: state.store) if inline else None)
        self._lately: dict[str, float] = {}  # jobs that ended: their last frames still get previews

    def step(self, now: float) -> None:
        """Hand new endings to the hooks, write what finished hooks said as events, ask for previews."""
        self._endings()
        self._collect(now)
        self._lately = {j: t for j, t in self._lately.items() if t > now}
        jobs = [*self.state.jobs, *(j for j in self._lately if j not in self.state.jobs)]
        self.previews.request(jobs, now)

    def _endings(self) -> None:
        store = self.state.store
        if self._seen is None:
            # The first start of this home does not notify about jobs that ended before it.
            seen = store.meta(SEEN_KEY)
            self._seen = int(seen) if seen and seen.isdigit() else records.last_event_id(store)
        endings = records.ended_since(store, self._seen)
        if endings and self.lock is not None:
            # On a shared farm the mark is the farm's: read it again under the write lock, so each
            # ending is handled by the one dispatcher that moves the mark past it.
            self.lock()
            seen = store.meta(SEEN_KEY)
            self._seen = max(self._seen, int(seen)) if seen and seen.isdigit() else self._seen
            endings = records.ended_since(store, self._seen)
        for end in endings:
            self._seen = end.event_id
            try:
                head = store.job(end.job_id)
            except NotFound:
                continue
            if head.state is end.state:  # not retried since (a restart reads old endings too)
                self.running.append((end.job_id, self._submit(self._run, job_data(store, end.job_id))))
                self._lately[end.job_id] = end.time + LINGER_SECONDS
        if endings:
            store.set_meta(SEEN_KEY, str(self._seen))

    def _collect(self, now: float) -> None:
        for job_id, future in list(self.running):
            if not future.done():
                continue
            self.running.remove((job_id, future))
            try:
                results = future.result()
            except Exception as exc:  # a hook runner bug must not reach the step
                results = [HookResult("hooks", False, f"failed: {exc}")]
            for result in results:
                log.log(logging.INFO if result.ok else logging.WARNING, "job %s: %s: %s", job_id,
                        result.command, result.message)
                try:
                    store_event(self.state.store, job_id, result, now)
                except NotFound:
                    pass  # removed meanwhile

    def _run(self, job: dict[str, Any]) -> list[HookResult]:
        """Everything that runs for one ending (on a hook thread)."""
        settings, results = self.settings, []
        commands = [c for c in (settings.on_end, job.get("spec", {}).get("on_end")) if c]
        for command in commands:
            results.append(hooks.run_hook(command, job, settings.hook_timeout))
        title, body = words(job)
        if settings.desktop and desktop_session():
            shown = hooks.notify_desktop(title, body)
            if shown.ok or "not found" not in shown.message:
                results.append(shown)
            elif not self._told_no_desktop:
                self._told_no_desktop = True
                log.info("%s", shown.message)
        if settings.apprise:
            results.append(hooks.notify_apprise(settings.apprise, title, body))
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        self.previews.close()


def desktop_session() -> bool:
    """A desktop to notify: a display or a session bus (a dispatcher started from a desktop inherits
    them; one on a headless server has none)."""
    return os.name == "nt" or any(os.environ.get(k) for k in
                                  ("DISPLAY", "WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")) \
        or os.uname().sysname == "Darwin"


def store_event(store: Store, job_id: str, result: HookResult, now: float) -> None:
    store.job(job_id)
    store.add_event(job_id, "hook", f"{result.command}: {result.message}", now=now)


def job_data(store: Store, job_id: str) -> dict[str, Any]:
    """The job as a hook reads it on stdin: ``farmhand status --json``'s form, with its last preview."""
    with store.read():
        snap = JobSnapshot(summary=store.summary(job_id), spec=store.spec(job_id),
                           nodes=tuple(store.progress(job_id)), frames=tuple(store.frames(job_id)))
    data = snap.to_dict()
    found = previews.find(job_id)
    data["preview"] = None if found is None else {"frame": found.frame, "path": str(found.path)}
    return data


def words(job: dict[str, Any]) -> tuple[str, str]:
    """A notification's title and body for a job's JSON."""
    summary = job.get("summary", {})
    title = f"Farmhand: job {job.get('id')} {job.get('state')}"
    done, total = summary.get("frames_done", 0), summary.get("frames_total", 0)
    body = f"{summary.get('title', '')}: {done}/{total} frames"
    if summary.get("frames_failed"):
        body += f", {summary['frames_failed']} failed"
    if summary.get("error"):
        body += f" ({summary['error']})"
    return title, body[:300]


# --- requeueing frames (the requeue_frames command) --------------------------------------------------


def requeue_frames(job: JobRun, arg: dict[str, Any], now: float) -> Optional[str]:
    """Queue the frames ``arg["frames"]`` of ``job`` again (done ones too); a finished job runs again.

    Refused, with nothing changed, when a frame is not the job's or a running chunk holds it.
    """
    wanted = [frame_or_none(f) for f in arg.get("frames") or ()]
    if not wanted or any(f is None for f in wanted):
        return "no frames given"
    frames: list[Frame] = [f for f in wanted if f is not None]
    missing = [f for f in frames if f not in job.by_frame]
    if missing:
        return f"job {job.id} has no frame {', '.join(format_frame(f) for f in missing[:5])}"
    recs = [job.by_frame[f] for f in dict.fromkeys(frames)]
    busy = [r for r in recs if r.owners]  # in a running chunk: rendering, or about to be
    if busy:
        return (f"frame {', '.join(format_frame(r.frame) for r in busy[:5])} is being rendered now; "
                "requeue it when it has finished")
    for rec in recs:
        job.requeue(rec, "requeued by the user")
    if job.state.finished:
        job.set_state(JobState.RUNNING, now=now)
    first, last = format_frame(recs[0].frame), format_frame(recs[-1].frame)
    what = f"frame {first}" if len(recs) == 1 else f"{len(recs)} frames ({first}…{last})"
    job.event("requeued", f"{what} queued again", now, frame=recs[0].frame if len(recs) == 1 else None)
    return None


# --- removing and archiving finished jobs ------------------------------------------------------------


def archive_dir() -> Path:
    return paths.home() / "archive"


def _job_files(job_id: str) -> list[tuple[str, Path]]:
    """The job's folders beside the store: its render logs and its previews."""
    return [("logs", paths.logs_dir() / f"job-{job_num(job_id)}"), ("previews", previews.job_dir(job_id))]


def remove(store: Store, job_id: str) -> JobState:
    """Delete a finished job: its rows, render logs and previews. Returns the state it had ended in.

    Raises:
        NotFound, records.JobBusy: no such job, or it is not finished (nothing is deleted then).
    """
    state = records.remove_job(store, job_id)
    for _, folder in _job_files(job_id):
        shutil.rmtree(folder, ignore_errors=True)
    return state


def archive(store: Store, job_id: str, folder: Optional[Path] = None) -> Path:
    """Move a finished job out of the store into ``folder/job-<n>/`` (default ``FARMHAND_HOME/archive``):
    ``job.json`` (summary, spec, frames, chunks, events), ``logs/`` and ``previews/``. Returns that
    folder.

    Raises:
        NotFound, records.JobBusy: no such job, or it is not finished (nothing is moved then).
        FarmhandError: the archive folder cannot be written.
    """
    head = store.job(job_id)
    if not head.state.finished:
        records.remove_job(store, job_id)  # raises JobBusy with the words for it
    dest = (folder or archive_dir()) / f"job-{job_num(job_id)}"
    try:
        dest.mkdir(parents=True, exist_ok=True, mode=0o700)
        (dest / "job.json").write_text(records.dumps(records.job_record(store, job_id)), encoding="utf-8")
    except OSError as exc:
        raise FarmhandError(f"cannot write the archive {dest}: {exc.strerror or exc}") from None
    try:
        records.remove_job(store, job_id)
    except FarmhandError:
        shutil.rmtree(dest, ignore_errors=True)  # revived meanwhile: it stays a job, not an archive
        raise
    for name, source in _job_files(job_id):
        if source.exists():
            shutil.move(str(source), str(dest / name))
    return dest
