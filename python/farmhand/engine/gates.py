"""What the dispatcher checks before a job may run: its ``after`` jobs, and the studio's path map.

A mixin of :class:`farmhand.engine.dispatcher.Dispatcher` (split out to keep modules short); its methods run
inside the dispatcher's step, on its thread.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Optional

from farmhand import pathmap as pathmaps
from farmhand.engine.jobrun import JobRun
from farmhand.errors import FarmhandError
from farmhand.jobs import FrameState, JobState

if TYPE_CHECKING:
    from farmhand.engine.noderun import Task
    from farmhand.engine.store import Store
    from farmhand.pathmap import PathMap

log = logging.getLogger(__name__)


class Gates:
    store: Store
    jobs: dict[str, JobRun]
    pathmap: PathMap
    _pathmap_fixed: bool
    _pathmap_stamp: Optional[float]

    def _tasks_of(self, job_id: str) -> list[Task]:
        raise NotImplementedError

    def kill(self, task: Task, reason: str, now: float) -> None:
        raise NotImplementedError

    # --- dependencies ---------------------------------------------------------------------------------

    def _dependencies(self, now: float) -> None:
        """Hold jobs whose ``after`` jobs are not done yet; fail or cancel them with a failed or cancelled
        dependency (a render must not read a cache that was never written). Read from the store on every
        step until met, so it holds across dispatcher restarts and for dependencies retried by hand."""
        for job in list(self.jobs.values()):
            if job.deps_met or job.state not in (JobState.QUEUED, JobState.WAITING, JobState.RUNNING):
                continue
            blocking: list[str] = []
            for dep in job.spec.after:
                try:
                    row = self.store.job_row(dep)
                except FarmhandError:
                    self._dependency_ended(job, JobState.FAILED, f"job {dep} it needs does not exist", now)
                    break
                state = JobState(row["state"])
                if state is JobState.FAILED:
                    why = f": {row['error']}" if row["error"] else ""
                    self._dependency_ended(job, JobState.FAILED, f"job {dep} it needs failed{why}", now)
                    break
                if state is JobState.CANCELLED:
                    self._dependency_ended(job, JobState.CANCELLED, f"job {dep} it needs was cancelled", now)
                    break
                if state is not JobState.DONE:
                    blocking.append(dep)
            else:
                if blocking:
                    if job.state is not JobState.WAITING:
                        job.set_state(JobState.WAITING, now=now)
                        job.event("waiting", f"waiting for job {', '.join(blocking)} to finish", now)
                    continue
                job.deps_met = True
                if job.state is JobState.WAITING:
                    job.set_state(JobState.QUEUED, now=now)
                    job.event("ready", f"job {', '.join(job.spec.after)} done; this job can start", now)

    def _dependency_ended(self, job: JobRun, state: JobState, message: str, now: float) -> None:
        unstarted = [f for f in job.frames if f.state in (FrameState.WAITING, FrameState.RETRYING)]
        if state is JobState.FAILED:
            # Failed frames are what 'farmhand retry' queues again once the dependency is fixed.
            for rec in unstarted:
                rec.state = FrameState.FAILED
            job.store.update_frames(job.id, [f.idx for f in unstarted], state=FrameState.FAILED,
                                    error_kind="dependency", error_message=message)
        job.set_state(state, error=message, now=now)
        job.event(state.value, message, now)
        for task in self._tasks_of(job.id):
            self.kill(task, message, now)

    # --- the path map ---------------------------------------------------------------------------------

    def _load_pathmap(self, now: float) -> None:
        if self._pathmap_fixed:
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
            self.pathmap = pathmaps.load(file)
        except FarmhandError as exc:  # keep the previous map: a half-edited file must not stop renders
            log.warning("%s; keeping the previous path map", exc.message)
            self.store.add_event(None, "pathmap", f"{exc.message}; keeping the previous path map", now=now)
            return
        if stamp is not None:
            self.store.add_event(None, "pathmap", f"path map loaded from {file}", now=now)
