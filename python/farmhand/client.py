"""The client API of the dispatcher, for the CLI and the Houdini panel.

A client never opens a network port and never talks to nodes: it reads the SQLite job store directly
through a read-only connection (WAL mode: reads never take the write lock and never wait for the
dispatcher) and sends commands by inserting rows into the store's ``commands`` table, which the
dispatcher applies within one step (~0.1 s); the writing connection that needs is opened at the first
write. Every value a caller gives is range-checked here first (:mod:`farmhand.engine.ranges`),
so nothing out of range is ever stored. Any call that needs the dispatcher (``submit``, the job
commands) starts it, detached, when it is not running.

Typical use::

    client = Client()
    job_id = client.submit(JobSpec(preset="hrender", file="/share/shot.hip", target="/out/mantra1",
                                   frames="1-240"))
    version = 0
    while True:
        snap = client.watch(job_id, version, timeout=1.0)   # returns as soon as anything changed
        version = snap.version
        ...                                                  # draw snap.nodes / snap.frames
        if snap.state.finished:
            break

Every method may block briefly on SQLite; the panel calls them from a worker thread.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any, Optional

from farmhand import paths
from farmhand.engine import process as dispatcher_process
from farmhand.engine import ranges
from farmhand.engine.previews import Preview
from farmhand.engine.store import Store, read_logs
from farmhand.engine.store.backend import open_store, store_url
from farmhand.engine.store.farm import FarmTables
from farmhand.errors import ConfigError, NotFound, UsageError
from farmhand.frames import Frame, FrameSpec, normalise
from farmhand.jobs import (
    CommandOp,
    DispatcherInfo,
    Event,
    JobSnapshot,
    JobSpec,
    JobState,
    JobSummary,
    LogLine,
)

log = logging.getLogger(__name__)


class Client:
    """Reads jobs from the store and sends commands to the dispatcher of one ``FARMHAND_HOME``.

    Args:
        store: an open store (tests); default: ``paths.jobs_db()`` opened read-only (a writing
            connection is opened at the first write).
        autostart: start the dispatcher when a command needs it and it is not running.
    """

    def __init__(self, store: Optional[Store] = None, *, autostart: bool = True) -> None:
        self.store = store or open_store(readonly=True)
        self.autostart = autostart

    def close(self) -> None:
        self.store.close()

    # --- jobs -----------------------------------------------------------------------------------------

    def submit(self, spec: JobSpec) -> str:
        """Validate ``spec``, queue it and return the new job's id (the dispatcher is started if needed).

        Raises:
            UsageError: the frame spec, preset, chunk policy or paths are invalid (one line naming the fix).
        """
        spec = absolute_paths(spec)
        frames, outputs = prepare(spec)
        spec = self._check_after(spec)
        self._check_farm(spec)
        job_id = self.store.insert_job(spec, frames, outputs)
        log.info("job %s submitted: %d frames", job_id, len(frames))
        self._ensure()
        return job_id

    def _check_after(self, spec: JobSpec) -> JobSpec:
        """Every job in ``spec.after`` must exist; ids are stored in their plain form (``#7`` → ``7``)."""
        ids = []
        for ref in spec.after:
            try:
                ids.append(self.store.job(ref).id)
            except NotFound:
                raise UsageError(
                    f"--after {ref}: there is no job {ref}; list jobs with 'farmhand jobs'"
                ) from None
        return dataclasses.replace(spec, after=tuple(dict.fromkeys(ids)))

    def _check_farm(self, spec: JobSpec) -> None:
        """Some trusted, enabled node (of ``spec.nodes``) is in every group the job and its preset ask
        for, and every limit the job names exists."""
        from farmhand.nodes.registry import NodeState, Registry
        from farmhand.nodes.tags import node_tags, unmatched
        from farmhand.presets import load_preset

        groups = tuple(dict.fromkeys((*spec.groups, *load_preset(spec.preset).groups)))
        if groups:
            registry = Registry()
            manual = registry.manual_tags()
            sets = [node_tags(n.inventory, manual.get(n.name, ())) for n in registry.list(
                enabled=True, state=NodeState.TRUSTED) if not spec.nodes or n.name in spec.nodes]
            why = unmatched(groups, sets)
            if why:
                raise UsageError(why)
        for name in spec.limits:
            self.farm.limit(name)  # NotFound names the command that creates it

    @property
    def farm(self) -> FarmTables:
        """The farm's limits, power rules, node power states and job holds (``engine/store/farm.py``)."""
        return FarmTables(self.store)

    def _held(self, summaries: list[JobSummary]) -> list[JobSummary]:
        holds = self.farm.holds()
        return [dataclasses.replace(s, hold=holds[s.id]) if s.id in holds else s for s in summaries]

    def jobs(self, *, all_users: bool = False) -> list[JobSummary]:
        """The jobs in the store, oldest first (``hold`` says what holds a job back: limits, waking).

        On a shared farm database (``FARMHAND_STORE``) only this login's jobs unless ``all_users``; a
        SQLite store holds only this user's jobs anyway.
        """
        found = self._held(self.store.summaries())
        owners = self.owners()
        if all_users or not owners:
            return found
        login = getattr(self.store, "login", None)
        me = login() if callable(login) else None
        return [j for j in found if owners.get(j.id) == me]

    # --- fair share on a farm database (engine/pg/shares.py) ------------------------------------------

    def shares(self) -> list[Any]:
        """The fair-share weights a wrangler set (``kind``, ``name``, ``weight``); everyone else has 1.

        Raises:
            UsageError: this is not a farm database (one artist's SQLite store has no one to share with).
        """
        return list(self._team_store("shares")())

    def set_share(self, kind: str, name: str, weight: float) -> Any:
        """Give a user (``kind="user"``) or a project a fair-share weight (a wrangler's right)."""
        return self._team_store("set_share")(kind, name, weight)

    def remove_share(self, kind: str, name: str) -> bool:
        """Back to weight 1; False when it had no weight of its own."""
        return bool(self._team_store("remove_share")(kind, name))

    def preempting(self) -> bool:
        """Whether dispatchers may stop running chunks to give nodes to users below their share."""
        return bool(self._team_store("preempting")())

    def set_preempting(self, on: bool) -> None:
        """Allow (or stop) pre-emption for fair share (a wrangler's right)."""
        self._team_store("set_preempting")(on)

    def _team_store(self, method: str) -> Any:
        found = getattr(self.store, method, None)
        if not callable(found):
            raise UsageError("fair-share weights need a farm database: set FARMHAND_STORE (or store.url in "
                             "dispatcher.json) to postgresql://… (docs/team.md)")
        return found

    def owners(self) -> dict[str, str]:
        """Each job's owner on a shared farm database, by job id; empty for a SQLite store (all yours)."""
        owners = getattr(self.store, "owners", None)
        return dict(owners()) if callable(owners) else {}

    def login(self) -> Optional[str]:
        """The login this client reads a shared farm database as (the owner of the jobs it submits);
        None for a SQLite store, where every job is the user's own."""
        login = getattr(self.store, "login", None)
        return str(login()) if callable(login) else None

    def leases(self) -> list[tuple[str, str, float]]:
        """Which dispatcher leases each node of a shared farm database: ``(node, dispatcher id, seconds
        until the lease expires)``, negative once it expired and no dispatcher took the node over yet;
        empty for a SQLite store (one dispatcher, no leases)."""
        leases = getattr(self.store, "leases", None)
        if not callable(leases):
            return []
        return [(str(node), str(dispatcher), float(left)) for node, dispatcher, left in leases()]

    def job(self, job_id: str, *, events: int = 50) -> JobSnapshot:
        """One job: its summary, spec, per-node progress, every frame and the latest ``events`` events."""
        store = self.store
        with store.read():
            summary = self._held([store.summary(job_id)])[0]
            return JobSnapshot(
                summary=summary,
                spec=store.spec(job_id),
                nodes=tuple(store.progress(job_id)),
                frames=tuple(store.frames(job_id)),
                events=tuple(store.events(job_id, limit=events)),
                version=store.version(),
            )

    def version(self) -> int:
        """The store's change counter: it grows whenever the dispatcher commits anything."""
        return self.store.version()

    def watch(self, job_id: str, since: int = 0, *, timeout: float = 1.0, poll: float = 0.05) -> JobSnapshot:
        """Wait until the store changed after version ``since`` (or ``timeout`` passed) and return the job.

        Polling one integer every ``poll`` seconds keeps progress latency well under the 0.5 s budget.
        """
        deadline = time.monotonic() + timeout
        while self.store.version() <= since and time.monotonic() < deadline:
            time.sleep(poll)
        return self.job(job_id)

    def wait(self, job_id: str, timeout: Optional[float] = None) -> JobSnapshot:
        """Block until the job is done, failed or cancelled (or ``timeout``) and return its last snapshot."""
        deadline = None if timeout is None else time.monotonic() + timeout
        version = 0
        while True:
            snap = self.watch(job_id, version, timeout=1.0)
            version = snap.version
            if snap.state.finished or (deadline is not None and time.monotonic() > deadline):
                return snap
            if self.autostart and not dispatcher_process.running():
                self._ensure()

    def events(self, job_id: Optional[str] = None, since: int = 0, limit: int = 200) -> list[Event]:
        """Dispatcher decisions (assignments, failures, retries, stalls ...), oldest first."""
        if job_id is not None:
            self.store.job(job_id)
        return self.store.events(job_id, since=since, limit=limit)

    def logs(self, job_id: str, node: Optional[str] = None, frame: Optional[Frame] = None) -> list[LogLine]:
        """Renderer output of a job: all of it, one node's, or the lines written while ``frame`` rendered."""
        self.store.job(job_id)
        return read_logs(job_id, node, None if frame is None else normalise(frame))

    # --- commands -------------------------------------------------------------------------------------

    def cancel(self, job_id: str) -> int:
        """Cancel the job: running chunks are killed on their nodes (TERM, then KILL)."""
        return self._command(job_id, CommandOp.CANCEL)

    def pause(self, job_id: str) -> int:
        """Stop handing out new chunks; running chunks finish."""
        return self._command(job_id, CommandOp.PAUSE)

    def resume(self, job_id: str) -> int:
        return self._command(job_id, CommandOp.RESUME)

    def retry(self, job_id: str) -> int:
        """Put failed frames back in the queue (and a failed or cancelled job back to running)."""
        return self._command(job_id, CommandOp.RETRY)

    def set_priority(self, job_id: str, priority: int) -> int:
        """Higher runs first; jobs of equal priority run oldest first."""
        return self._command(job_id, CommandOp.PRIORITY, {"priority": ranges.priority(priority)})

    def requeue_frame(self, job_id: str, frame: Frame) -> int:
        """Render one frame again (even a done one), e.g. after the artist deleted a bad image."""
        frame = ranges.frame(frame)
        if not any(row.frame == frame for row in self.store.frames(job_id)):
            raise NotFound(f"job {job_id} has no frame {frame}; see 'farmhand status {job_id}'")
        return self._command(job_id, CommandOp.REQUEUE_FRAME, {"frame": frame})

    def command_result(self, command_id: int, timeout: float = 0.0) -> Optional[str]:
        """The dispatcher's answer to a command, waiting up to ``timeout`` seconds; None if not handled."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.store.command_result(command_id)
            if result is not None or time.monotonic() >= deadline:
                return result
            time.sleep(0.05)

    def _command(self, job_id: Optional[str], op: CommandOp, arg: Optional[dict[str, Any]] = None) -> int:
        command_id = self.store.add_command(job_id, op, arg)
        self._ensure()
        return command_id

    # --- the dispatcher process -----------------------------------------------------------------------

    def dispatcher(self) -> DispatcherInfo:
        """Whether this FARMHAND_HOME's dispatcher runs, its pid and its last heartbeat."""
        return dispatcher_process.info(self.store)

    def ensure_dispatcher(self) -> DispatcherInfo:
        """Start the dispatcher (detached) unless it is already running."""
        dispatcher_process.ensure_running()
        return self.dispatcher()

    def stop_dispatcher(self, timeout: float = 10.0) -> bool:
        """Ask the dispatcher to exit after its current step; True once it is gone."""
        pid = dispatcher_process.pid()
        if pid is None or not dispatcher_process.running():
            return True
        # On a farm database several dispatchers read the commands: name this machine's.
        shared = callable(getattr(self.store, "leases", None))
        self.store.add_command(None, CommandOp.STOP,
                               {"dispatcher": dispatcher_process.dispatcher_id(pid)} if shared else None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not dispatcher_process.running():
                return True
            time.sleep(0.05)
        return False

    def _ensure(self) -> None:
        if self.autostart:
            dispatcher_process.ensure_running()


    # --- job lifecycle: previews, requeueing frames, removing and archiving (engine/lifecycle.py) -----

    def preview(self, job_id: str, frame: Optional[Frame] = None, *, make: bool = True) -> Optional[Preview]:
        """The preview of ``frame``, or of the job's last finished frame; made here from the output when
        the dispatcher has not made it yet (and ``make``). None when there is none (no OpenImageIO, the
        frame not done, its output not an image or not visible here)."""
        from farmhand.engine import previews
        from farmhand.jobs import FrameState

        self.store.job(job_id)
        found = previews.find(job_id, None if frame is None else normalise(frame))
        if found is not None or not make:
            return found
        rows = [r for r in self.store.frames(job_id) if r.state is FrameState.DONE and r.output]
        if frame is not None:
            rows = [r for r in rows if r.frame == normalise(frame)]
        for row in reversed(rows[-3:]):  # the last done frames: one may not be an image yet
            made = previews.make(job_id, row.frame, row.output or "")
            if made is not None:
                return made
        return None

    @staticmethod
    def check_on_end(command: str) -> str:
        """A job's ``on_end`` hook, checked at submit (an unclosed quote is one line here, not a failed
        hook later); returns it."""
        from farmhand.engine.hooks import check_command
        from farmhand.errors import ConfigError

        try:
            check_command(command, "--on-end")
        except ConfigError as exc:
            raise UsageError(exc.message) from None
        return command

    @staticmethod
    def reads_images(path: Optional[str] = None) -> bool:
        """Previews can be made here (OpenImageIO is installed) and, given ``path``, it names an image."""
        from farmhand.engine import images

        return images.available() and (path is None or images.is_image(path))

    def previews(self, job_id: str) -> dict[Frame, Path]:
        """Every preview made for the job so far, by frame (one directory listing)."""
        from farmhand.engine import previews

        return previews.listing(job_id)

    def requeue_frames(self, job_id: str, frames: list[Frame]) -> int:
        """Render these frames of the job again (done ones too); a finished job runs again."""
        known = {row.frame for row in self.store.frames(job_id)}
        missing = [f for f in (normalise(f) for f in frames) if f not in known]
        if missing:
            shown = ", ".join(str(f) for f in missing[:5])
            raise NotFound(f"job {job_id} has no frame {shown}; see 'farmhand status {job_id}'")
        return self._command(job_id, CommandOp.REQUEUE_FRAMES, {"frames": [normalise(f) for f in frames]})

    def remove(self, job_id: str) -> JobState:
        """Delete a finished job with its logs and previews; returns the state it had ended in."""
        from farmhand.engine import lifecycle

        return lifecycle.remove(self.store, job_id)

    def archive(self, job_id: str, folder: Optional[Path] = None) -> Path:
        """Move a finished job out of the store into ``folder/job-<n>/`` (job.json, logs, previews)."""
        from farmhand.engine import lifecycle

        return lifecycle.archive(self.store, job_id, folder)

    def finished_jobs(self, older_than: float = 0.0) -> list[str]:
        """Finished jobs last changed more than ``older_than`` seconds ago, oldest first."""
        from farmhand.engine.store import lifecycle as records

        return records.finished_jobs(self.store, time.time() - older_than)

# --- the dispatcher process, for callers that hold no client (Houdini's submit thread, the demo) ----------


def store_exists() -> bool:
    """Whether there is a job store to read, without making one: a farm database is named
    (``FARMHAND_STORE`` or ``store.url`` in dispatcher.json), or this home's SQLite store exists."""
    try:
        if store_url() is not None:
            return True
    except ConfigError:
        return True  # opening it says what is wrong, in one line
    return paths.jobs_db().exists()


def dispatcher_running() -> bool:
    """True when a dispatcher serves this ``FARMHAND_HOME`` (it holds the home's lock)."""
    return dispatcher_process.running()


def dispatcher_pid() -> Optional[int]:
    """The running dispatcher's process id, or None when none runs."""
    return dispatcher_process.pid()


def ensure_dispatcher() -> None:
    """Start this home's dispatcher, detached, unless it runs; return once it does.

    Raises:
        FarmhandError: it did not start (the message names its log), or ``dispatcher.json`` is invalid.
    """
    dispatcher_process.ensure_running()


def dispatcher_python() -> str:
    """The Python interpreter a dispatcher is started with (``FARMHAND_PYTHON``, else a real Python)."""
    return dispatcher_process.python_for_dispatcher()


def prepare(spec: JobSpec) -> tuple[list[Frame], list[Optional[str]]]:
    """Check a job spec at the edge and return its frames and the expected output of each frame."""
    from farmhand.frames import expand_output
    from farmhand.presets import load_preset

    frames = FrameSpec.parse(spec.frames)
    ranges.priority(spec.priority)
    for edge in (frames.first, frames.last):
        ranges.frame(edge)
    preset = load_preset(spec.preset)
    if spec.skip_existing and not spec.output:
        raise UsageError("--skip-existing needs --output PATTERN to know which files to look for")
    if spec.preset == "command" and not spec.command:
        raise UsageError("the command preset needs --command 'TEMPLATE' (e.g. 'render {file} {start} {end}')")
    if preset.needs_command and spec.command:
        preset = preset.with_command(spec.command)
    preset.check_job(
        list(frames), file=spec.file, target=spec.target, output=spec.output, params=dict(spec.params)
    )
    if spec.file and "\n" in spec.file:
        raise UsageError("the scene path contains a newline; rename the file")
    outputs: list[Optional[str]] = [expand_output(spec.output, f) if spec.output else None for f in frames]
    return list(frames), outputs


def absolute_path(path: Optional[str]) -> Optional[str]:
    """``path`` made absolute as the submitter sees it; a relative path means nothing on a node.

    Left alone: absolute POSIX paths, Windows drive and UNC paths, ``$VAR``/``~`` paths (expanded by
    the renderer on the node) and URLs.
    """
    if (
        not path
        or path.startswith(("/", "$", "~", "\\\\"))
        or "://" in path
        or (len(path) > 1 and path[1] == ":")
    ):
        return path
    return os.path.abspath(path)


def absolute_paths(spec: JobSpec) -> JobSpec:
    """The spec with its scene and output paths absolute (see :func:`absolute_path`)."""
    return dataclasses.replace(spec, file=absolute_path(spec.file), output=absolute_path(spec.output))


def default_submitter() -> str:
    return f"{os.environ.get('USER', 'user')}@{os.uname().nodename if hasattr(os, 'uname') else 'host'}"


__all__ = [
    "Client",
    "absolute_path",
    "absolute_paths",
    "default_submitter",
    "dispatcher_pid",
    "dispatcher_python",
    "dispatcher_running",
    "ensure_dispatcher",
    "prepare",
]
