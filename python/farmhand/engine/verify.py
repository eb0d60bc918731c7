"""Output verification: a frame counts as done only once its outputs exist and are not empty.

Outputs are checked here when their folder is visible on this machine (the share mounted at the same
path); otherwise, and when a file is missing here, the node itself is asked over SSH on the helper pool
(:func:`farmhand.engine.noderun.check_remote`), and :meth:`Verifier.settle` collects the answer on a
later step. A file the node sees but this machine does not was written off the share, which gets its own
message. A frame that fails verification is an ``output_missing`` failure (see :mod:`.blame`).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Optional

from farmhand.engine import noderun
from farmhand.engine.blame import Blame
from farmhand.engine.jobrun import JobRun
from farmhand.engine.noderun import StopCause, Task
from farmhand.engine.state import EngineState
from farmhand.jobs import FrameState
from farmhand.presets import failures as fl
from farmhand.presets.failures import FailureKind


@dataclass
class Verification:
    """An output check running on a node."""

    future: Future[object]
    job_id: str
    node: str
    chunk_id: int
    idx: int
    seconds: Optional[float]
    paths: list[str]
    missing_here: bool = False  # checked locally first and missing: is it on the node only?


class Verifier:
    """Checks a finished frame's outputs and marks it done, or fails it."""

    def __init__(self, state: EngineState, blame: Blame) -> None:
        self.state = state
        self.blame = blame
        self.running: list[Verification] = []

    def pending(self, job_id: str) -> bool:
        """An output check of the job is still running (the job cannot end yet)."""
        return any(v.job_id == job_id for v in self.running)

    def check(self, task: Task, job: JobRun, idx: int, seconds: Optional[float], now: float) -> None:
        """``task`` reported frame ``idx`` done: verify its outputs (expected, else the ones reported)."""
        rec = job.frames[idx]
        if rec.state is FrameState.DONE:
            return
        paths = [rec.output] if rec.output else list(dict.fromkeys(rec.written))
        if not paths:
            self._done(job, idx, task.node, task.chunk_id, seconds, None, now)
            return
        local = noderun.outputs_visible(paths)
        answers = noderun.check_local(paths) if local else []
        if local and all(answers):
            self._verified(task.node, task.chunk_id, job, idx, seconds, paths, answers, now)
            return
        # The expected output is the submitter's name of the file; what the renderer reported is
        # already the node's.
        there = [self.state.node_path(p, task.node) or p for p in paths] if rec.output else paths
        future = self.state.submit(noderun.check_remote, self.state.executor, task.node, there)
        check = Verification(future, job.id, task.node, task.chunk_id, idx, seconds, paths, local)
        self.running.append(check)

    def settle(self, now: float) -> None:
        """Act on the output checks that came back from nodes."""
        for item in list(self.running):
            if not item.future.done():
                continue
            self.running.remove(item)
            job = self.state.jobs.get(item.job_id)
            if job is None:
                continue
            try:
                answers: Any = item.future.result()
            except Exception as exc:
                job.event(
                    "verify",
                    f"could not check outputs on {item.node}: {exc}; frame queued again",
                    now,
                    node=item.node,
                    frame=job.frames[item.idx].frame,
                )
                job.release(job.frames[item.idx], item.chunk_id)
                continue
            why = None
            if item.missing_here and all(answers):
                answers = [False] * len(item.paths)
                why = (f"{item.paths[0]} was written on {item.node} but is not visible on this machine: "
                       "write outputs to the share (or map the folder in pathmap.json)")
            self._verified(
                item.node, item.chunk_id, job, item.idx, item.seconds, item.paths, answers, now, why
            )

    def _verified(
        self,
        node: str,
        chunk_id: int,
        job: JobRun,
        idx: int,
        seconds: Optional[float],
        paths: Sequence[str],
        answers: Sequence[bool],
        now: float,
        why: Optional[str] = None,
    ) -> None:
        if job.frames[idx].state is FrameState.DONE:
            return
        if all(answers):
            self._done(job, idx, node, chunk_id, seconds, paths[0], now)
            return
        missing = [p for p, ok in zip(paths, answers) if not ok]
        failure = fl.failure(FailureKind.OUTPUT_MISSING, why or f"output missing or empty: {missing[0]}")
        task = self.state.tasks.get(chunk_id)
        if task is not None:
            self.blame.chunk_failed(task, job, [idx], failure, now)
        else:
            self.blame.frame_failed_after_end(job, node, chunk_id, idx, failure, now)

    def _done(
        self,
        job: JobRun,
        idx: int,
        node: str,
        chunk_id: int,
        seconds: Optional[float],
        output: Optional[str],
        now: float,
    ) -> None:
        """The frame is done; a backup copy still rendering only that frame has lost the race."""
        rec = job.frames[idx]
        others = [c for c in rec.owners if c != chunk_id]
        job.set_done(rec, node, seconds, output)
        job.stat(node).frames_done += 1
        for other in others:
            task = self.state.tasks.get(other)
            if (
                task is not None
                and not task.kill_reason
                and not [i for i in task.frames if job.frames[i].state is not FrameState.DONE]
            ):
                reason = f"backup race: {node} finished frame {rec.frame} first"
                self.state.kill(task, StopCause.BACKUP_RACE, reason, now)
