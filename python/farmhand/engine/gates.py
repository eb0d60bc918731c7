"""What the dispatcher checks before a job may run: its ``after`` jobs, and the studio's path map.

A job with ``after`` jobs waits until every one is done; a failed or cancelled one fails or cancels it
(a render must not read a cache that was never written). The path map (``FARMHAND_HOME/pathmap.json``)
is read again whenever the file changes; a half-edited file keeps the previous map.
"""

from __future__ import annotations

import logging
from typing import Optional

from farmhand import pathmap as pathmaps
from farmhand.engine.jobrun import JobRun
from farmhand.engine.noderun import StopCause
from farmhand.engine.state import EngineState
from farmhand.errors import FarmhandError
from farmhand.jobs import FrameState, JobState

log = logging.getLogger(__name__)

_GATED = (JobState.QUEUED, JobState.WAITING, JobState.RUNNING)  # job states whose dependencies matter


class Gates:
    """Holds jobs back until their dependencies are done, and keeps the path map current.

    Args:
        fixed_pathmap: the state's path map is given (tests) and never read from the file.
    """

    def __init__(self, state: EngineState, *, fixed_pathmap: bool = False) -> None:
        self.state = state
        self.fixed_pathmap = fixed_pathmap
        self._pathmap_stamp: Optional[float] = None  # the file's mtime when last read (None: absent)

    # --- dependencies ---------------------------------------------------------------------------------

    def dependencies(self, now: float) -> None:
        """Hold, release, fail or cancel every job whose ``after`` jobs are not all done yet. Read from
        the store on every step until met, so it holds across dispatcher restarts and for dependencies
        retried by hand."""
        for job in list(self.state.jobs.values()):
            self.gate(job, now)

    def gate(self, job: JobRun, now: float) -> None:
        """Hold, release, fail or cancel one job by the state of its ``after`` jobs."""
        if job.deps_met or job.state not in _GATED:
            return
        ended = self._ended_dependency(job)
        if ended is not None:
            self._dependency_ended(job, *ended, now)
            return
        blocking = [dep for dep in job.spec.after if self.state.store.job(dep).state is not JobState.DONE]
        if blocking:
            if job.state is not JobState.WAITING:
                job.set_state(JobState.WAITING, now=now)
                job.event("waiting", f"waiting for job {', '.join(blocking)} to finish", now)
            return
        job.deps_met = True
        if job.state is JobState.WAITING:
            job.set_state(JobState.QUEUED, now=now)
            job.event("ready", f"job {', '.join(job.spec.after)} done; this job can start", now)

    def _ended_dependency(self, job: JobRun) -> Optional[tuple[JobState, str]]:
        """How the first of the job's dependencies that cannot be done any more ended, and why."""
        for dep in job.spec.after:
            try:
                head = self.state.store.job(dep)
            except FarmhandError:
                return JobState.FAILED, f"job {dep} it needs does not exist"
            if head.state is JobState.FAILED:
                why = f": {head.error}" if head.error else ""
                return JobState.FAILED, f"job {dep} it needs failed{why}"
            if head.state is JobState.CANCELLED:
                return JobState.CANCELLED, f"job {dep} it needs was cancelled"
        return None

    def _dependency_ended(self, job: JobRun, state: JobState, message: str, now: float) -> None:
        if state is JobState.FAILED:
            # Failed frames are what 'farmhand retry' queues again once the dependency is fixed.
            unstarted = [f for f in job.frames if f.state in (FrameState.WAITING, FrameState.RETRYING)]
            job.fail_frames(unstarted, "dependency", message)
        job.set_state(state, error=message, now=now)
        job.event(state.value, message, now)
        for task in self.state.tasks_of(job.id):
            self.state.kill(task, StopCause.JOB_ENDED, message, now)

    # --- the path map ---------------------------------------------------------------------------------

    def load_pathmap(self, now: float) -> None:
        """Read ``pathmap.json`` again if it changed since the last step that looked."""
        if self.fixed_pathmap:
            return
        file = pathmaps.default_path()
        try:
            stamp: Optional[float] = file.stat().st_mtime
        except OSError:
            stamp = None
        if stamp == self._pathmap_stamp:
            return
        self._pathmap_stamp = stamp
        try:
            self.state.pathmap = pathmaps.load(file)
        except FarmhandError as exc:  # keep the previous map: a half-edited file must not stop renders
            log.warning("%s; keeping the previous path map", exc.message)
            message = f"{exc.message}; keeping the previous path map"
            self.state.store.add_event(None, "pathmap", message, now=now)
            return
        if stamp is not None:
            self.state.store.add_event(None, "pathmap", f"path map loaded from {file}", now=now)
