"""The state every part of the dispatcher shares, in one explicit object.

:class:`EngineState` holds what the dispatcher's collaborators (assigning, outcomes, verification,
blame, gates, commands, publishing) read and change: the injected services (store, executor, clocks,
the pool blocking calls run on), the thresholds (:class:`~farmhand.jobs.Retry`,
:class:`~farmhand.engine.scheduler.Policy`), and the working set (active jobs, running tasks, the farm's
nodes). Each collaborator receives it in its constructor; nothing else is shared between them, so each
can be built and tested on its own. It belongs to the dispatcher's thread.

Time: every ``now`` the parts pass around is the **monotonic** ``clock`` (durations, timeouts, stall
limits and backoffs cannot jump when NTP steps the wall clock or a VM resumes). Wall-clock time is only
for timestamps people read: the dispatcher's view of the store (:meth:`farmhand.engine.store.Store.view`)
converts every ``now`` it is given with :meth:`EngineState.stamp`.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Callable, Optional

from farmhand.engine.jobrun import JobRun
from farmhand.engine.noderun import StopCause, Submit, Task
from farmhand.engine.scheduler import Policy
from farmhand.engine.store import Store
from farmhand.jobs import Retry
from farmhand.pathmap import PathMap
from farmhand.remote import Executor

log = logging.getLogger(__name__)

_ABS_PATH = re.compile(r"^(/|[A-Za-z]:[\\/]|\\\\)")  # POSIX, drive letter or UNC


@dataclass(frozen=True)
class FarmNode:
    """A render node as the dispatcher needs it (from the registry's enabled, trusted nodes)."""

    name: str
    cores: int = 1
    houdini: tuple[tuple[str, str], ...] = ()  # (version, install directory), newest last
    tags: frozenset[str] = frozenset()  # from its inventory and given by hand (farmhand.nodes.tags)


NodeSource = Callable[[], Sequence[FarmNode]]


@dataclass
class EngineState:
    """What the dispatcher's parts share. Services and thresholds are given; the rest is the working set.

    Attributes:
        clock: monotonic seconds: every ``now`` of the engine.
        wall: wall-clock seconds since the epoch: only for timestamps (see :meth:`stamp`).
        submit: runs a blocking call (SSH) and returns its future (a thread pool, or inline in tests).
        node_package: Farmhand's package directory as the submitter names it (mapped per node).
        pathmap: how a submitter path reads on each node (reloaded by the gates when the file changes).
        jobs: active jobs by id (a finished job leaves once its tasks have ended).
        tasks: running chunks and worker sessions by chunk id.
        farm: the trusted, enabled nodes by name.
    """

    store: Store
    executor: Executor
    submit: Submit
    clock: Callable[[], float]
    retry: Retry = field(default_factory=Retry)
    policy: Policy = field(default_factory=Policy)
    node_package: str = ""
    pathmap: PathMap = field(default_factory=PathMap)
    wall: Callable[[], float] = time.time
    jobs: dict[str, JobRun] = field(default_factory=dict)
    tasks: dict[int, Task] = field(default_factory=dict)
    farm: dict[str, FarmNode] = field(default_factory=dict)

    def stamp(self, now: Optional[float] = None) -> float:
        """The wall-clock time of the engine instant ``now`` (default: this instant), for timestamps."""
        wall = self.wall()
        return wall if now is None else wall + (now - self.clock())

    def tasks_of(self, job_id: str) -> list[Task]:
        return [t for t in self.tasks.values() if t.job_id == job_id]

    def busy_on(self, node: str) -> bool:
        """Some task of ours still runs on ``node``."""
        return any(t.node == node for t in self.tasks.values())

    def kill(self, task: Task, cause: StopCause, reason: str, now: float) -> None:
        """Stop ``task`` on its node (TERM, then KILL after ``Retry.cancel_grace``); its end is handled
        like any other when the process is gone."""
        task.kill(self.executor, self.submit, cause, reason, now, self.retry.cancel_grace)

    def node_path(self, path: Optional[str], node: str) -> Optional[str]:
        """A submitter-side path (scene, output pattern, Farmhand's package dir) as ``node`` must open it."""
        return self.pathmap.to_node(path, node) if path else path

    def node_values(self, job: JobRun, node: str) -> dict[str, str]:
        """The job's preset parameters for ``node``: values that are absolute paths (``job=/share/proj``)
        are mapped like the scene; other values pass unchanged."""
        return {k: (self.node_path(v, node) or v) if _ABS_PATH.match(v) else v for k, v in job.spec.params}
