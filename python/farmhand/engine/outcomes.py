"""What the dispatcher does with a task's output and its end: frame events, verification, failures.

A mixin of :class:`farmhand.engine.dispatcher.Dispatcher` (split out to keep modules short); every method runs
inside the dispatcher's step, on its thread.

Failure handling, per classified :class:`farmhand.presets.failures.Failure`:

* the frames the task had not finished go back to the queue; an attempt is counted only when the frame
  itself may be at fault (crash, OOM, stall, unknown, scene errors) — never for licence waits, lost
  connections, cancellations or a full disk;
* ``blame_node`` failures count against the node; ``Retry.node_failures_to_block`` of them blocklist it
  for the job;
* licence failures back the node off (doubling) without blame; unreachable nodes back off and are
  checked for leftovers before reuse;
* deterministic failures (missing file, scene load, bad command, output missing) fail the whole job as
  soon as ``Retry.agree_to_fail`` different nodes (or every eligible node, if fewer) reported the same kind.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Optional

from farmhand.engine import noderun, nodescripts
from farmhand.engine.assign import Assigner
from farmhand.engine.jobrun import JobRun
from farmhand.engine.noderun import Task, TaskPhase
from farmhand.engine.scheduler import update_average
from farmhand.engine.store import append_log
from farmhand.jobs import ChunkState, FrameState, JobState
from farmhand.presets import failures as fl
from farmhand.presets.failures import Failure, FailureKind
from farmhand.presets.progress import FrameDone, FrameProgress, FrameStarted, OutputWritten, WorkerEvent
from farmhand.remote import RunResult

log = logging.getLogger(__name__)

# Failures that say nothing about the frame itself: its attempt counter does not move.
_NOT_THE_FRAME = {FailureKind.LICENCE, FailureKind.UNREACHABLE, FailureKind.CANCELLED, FailureKind.DISK_FULL}
KILL_TIMEOUT = 8.0
BUSY_RETRY_SECONDS = 3.0


@dataclass
class Verification:
    future: Future[object]
    job_id: str
    node: str
    chunk_id: int
    idx: int
    seconds: Optional[float]
    paths: list[str]
    missing_here: bool = False  # checked locally first and missing: is it on the node only?


class Outcomes(Assigner):
    verifying: list[Verification]
    needs_check: dict[str, tuple[int, str]]
    slow_exit: set[str]
    clock: Callable[[], float]

    # --- output lines ---------------------------------------------------------------------------------

    def pump(self, task: Task, now: float) -> None:
        job = self.jobs.get(task.job_id)
        if task.proc is None and task.launch is not None and task.launch.done():
            try:
                task.proc = task.launch.result()  # type: ignore[assignment]
            except Exception as exc:
                self.task_ended(
                    task,
                    RunResult(task.node, "", None, "", str(exc), now - task.started),
                    now,
                    launch_error=exc,
                )
                return
            self._drain(task, job, now)
            if task.kill_pending:
                task.kill(
                    self.executor, self.submit, task.kill_reason or "stopped", now, self.retry.cancel_grace
                )
            else:
                task.phase = TaskPhase.RUNNING
                self.store.update_chunk(task.chunk_id, state=ChunkState.RUNNING)
        self._drain(task, job, now)
        if task.proc is not None and task.phase in (TaskPhase.RUNNING, TaskPhase.STOPPING):
            result = task.proc.poll()
            if result is not None:
                self._drain(task, job, now)
                self.task_ended(task, result, now)
                return
        if (
            task.phase is TaskPhase.STOPPING
            and task.kill_sent_at is not None
            and now - task.kill_sent_at > KILL_TIMEOUT + self.retry.cancel_grace
        ):
            # The channel never reported an end (a dead connection): the watchdog on the node has the
            # tree; we stop waiting for it.
            self.task_ended(
                task, RunResult(task.node, "", None, "", "no exit status after kill", now - task.started), now
            )

    def _drain(self, task: Task, job: Optional[JobRun], now: float) -> None:
        while task.lines:
            stream, line = task.lines.popleft()
            task.last_activity = now
            if task.pgid is None and task.note_pgid(line) is not None:
                self.store.update_chunk(task.chunk_id, pgid=task.pgid)
                continue
            if line.startswith(nodescripts.BUSY_MARK):
                task.busy = True
            task.tail.append(line)
            before = task.current
            if job is not None:
                for event in task.parser.feed(stream, line):
                    self._event(task, job, event, now)
            # A frame's start line belongs to the new frame, its "done" line to the one that just ended.
            owner = task.current if task.current is not None else before
            frame = task.frame_of.get(owner) if owner is not None else None
            task.log_buffer.append((now, frame, stream, line))
        if task.log_buffer:
            append_log(task.job_id, task.node, task.log_buffer)
            task.log_buffer = []

    def _event(self, task: Task, job: JobRun, event: Any, now: float) -> None:
        if isinstance(event, FrameStarted):
            idx = task.idx_of.get(event.frame)
            if idx is None:
                return
            if idx in task.stolen and not task.kill_reason:
                self.kill(task, f"frames from {task.frame_of[idx]} on were re-split to another node", now)
                return
            if task.current != idx:
                task.current, task.current_started, task.percent = idx, now, None
                if task.first_frame_at is None:
                    task.first_frame_at = now
                    job.stat(task.node).startup = now - task.started
        elif isinstance(event, FrameProgress):
            task.percent = event.percent
        elif isinstance(event, OutputWritten):
            idx = task.idx_of.get(event.frame) if event.frame is not None else task.current
            if idx is not None:
                job.frames[idx].written.append(event.path)
        elif isinstance(event, FrameDone):
            idx = task.idx_of.get(event.frame) if event.frame is not None else task.current
            if idx is not None and idx not in task.done:
                self.frame_finished(task, job, idx, now)
        elif isinstance(event, WorkerEvent):
            self._worker_event(task, job, event, now)

    def _worker_event(self, task: Task, job: JobRun, event: WorkerEvent, now: float) -> None:
        if event.event == "ready":
            task.ready = True
            job.stat(task.node).startup = now - task.started
            job.event("worker_ready", f"scene loaded in {now - task.started:.1f}s", now, node=task.node)
        elif event.event == "error":
            raw = event.data.get("frame")
            idx = task.idx_of.get(raw) if isinstance(raw, (int, float)) else None
            if idx is None or idx in task.done:
                return
            task.done.append(idx)
            if idx in task.sent:
                task.sent.remove(idx)
            task.current = None
            kind = {
                "licence": FailureKind.LICENCE,
                "missing_file": FailureKind.MISSING_FILE,
                "load": FailureKind.SCENE_LOAD,
            }.get(str(event.data.get("kind")), FailureKind.UNKNOWN)
            self.frames_failed(task, job, [idx], fl.failure(kind, str(event.data.get("message", ""))), now)

    # --- finished frames and their verification -------------------------------------------------------

    def frame_finished(
        self, task: Task, job: JobRun, idx: int, now: float, seconds: Optional[float] = None
    ) -> None:
        rec = job.frames[idx]
        task.done.append(idx)
        if idx in task.sent:
            task.sent.remove(idx)
        if seconds is None and task.current == idx and task.current_started is not None:
            seconds = now - task.current_started
        if task.current == idx:
            task.current, task.current_started, task.percent = None, None, None
        if seconds is not None and seconds >= 0:
            stat = job.stat(task.node)
            stat.spf = update_average(stat.spf, max(seconds, 1e-3), self.policy.smoothing)
        if rec.state is FrameState.DONE:
            return
        paths = [rec.output] if rec.output else list(dict.fromkeys(rec.written))
        if not paths:
            self._accept(task, job, idx, seconds, None, now)
        else:
            local = noderun.outputs_visible(paths)
            answers = noderun.check_local(paths) if local else []
            if local and all(answers):
                self._verified(task.node, task.chunk_id, job, idx, seconds, paths, answers, now)
            else:
                # Not visible here, or missing here: ask the node. A file the node sees but this
                # machine does not was written off the share, which deserves its own message.
                # The expected output is the submitter's name of the file; what the renderer reported
                # is already the node's.
                there = [self.node_path(p, task.node) or p for p in paths] if rec.output else paths
                future = self.submit(noderun.check_remote, self.executor, task.node, there)
                self.verifying.append(
                    Verification(future, job.id, task.node, task.chunk_id, idx, seconds, paths, local)
                )
        if (
            not task.persistent
            and not task.kill_reason
            and task.stolen
            and not task.pending()
            and task.current is None
        ):
            self.kill(task, "the rest of its frames were re-split to another node", now)

    def settle_verifications(self, now: float) -> None:
        for item in list(self.verifying):
            if not item.future.done():
                continue
            self.verifying.remove(item)
            job = self.jobs.get(item.job_id)
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
        rec = job.frames[idx]
        if rec.state is FrameState.DONE:
            return
        if all(answers):
            task = self.tasks.get(chunk_id)
            if task is not None:
                self._accept(task, job, idx, seconds, paths[0], now)
            else:
                self._mark_done(job, rec.idx, node, chunk_id, seconds, paths[0], now)
            return
        missing = [p for p, ok in zip(paths, answers) if not ok]
        failure = fl.failure(FailureKind.OUTPUT_MISSING, why or f"output missing or empty: {missing[0]}")
        task = self.tasks.get(chunk_id)
        if task is not None:
            self.frames_failed(task, job, [idx], failure, now)
        else:
            job.fail_attempt(rec, chunk_id, failure.kind.value, f"{node}: {failure.message}", self.retry)
            self._agree(job, node, failure, now)

    def _accept(
        self, task: Task, job: JobRun, idx: int, seconds: Optional[float], output: Optional[str], now: float
    ) -> None:
        self._mark_done(job, idx, task.node, task.chunk_id, seconds, output, now)

    def _mark_done(
        self,
        job: JobRun,
        idx: int,
        node: str,
        chunk_id: int,
        seconds: Optional[float],
        output: Optional[str],
        now: float,
    ) -> None:
        rec = job.frames[idx]
        others = [c for c in rec.owners if c != chunk_id]
        job.set_done(rec, node, seconds, output)
        job.stat(node).frames_done += 1
        for other in others:
            task = self.tasks.get(other)
            if (
                task is not None
                and not task.kill_reason
                and not [i for i in task.frames if job.frames[i].state is not FrameState.DONE]
            ):
                self.kill(task, f"backup race: {node} finished frame {rec.frame} first", now)

    # --- the end of a task ----------------------------------------------------------------------------

    def stall(self, task: Task, job: JobRun, now: float, limit: float) -> None:
        job.event(
            "stalled",
            f"no output or progress for {limit:.0f}s; killing and re-assigning",
            now,
            node=task.node,
        )
        self.kill(task, "stalled", now)

    def kill(self, task: Task, reason: str, now: float) -> None:
        task.kill(self.executor, self.submit, reason, now, self.retry.cancel_grace)

    def task_ended(
        self, task: Task, result: RunResult, now: float, launch_error: Optional[BaseException] = None
    ) -> None:
        task.phase = TaskPhase.ENDED
        task.result = result
        self.tasks.pop(task.chunk_id, None)
        if not any(t.node == task.node for t in self.tasks.values()):
            self.slow_exit.discard(task.node)
        job = self.jobs.get(task.job_id)
        if job is None:
            return
        missing = next((line for line in task.tail if line.startswith(nodescripts.MISSING_MARK)), None)
        if missing is not None:
            self._scripts_missing(task, job, result, missing[len(nodescripts.MISSING_MARK):].strip(), now)
            return
        # Classify first: only a run that succeeded may finish the frame it was on (a frame "completed"
        # by the exit of a failed run would be verified against a stale file and counted done).
        failure = None if task.busy else self._classify(task, job, result, launch_error)
        clean = result.ok and task.kill_reason is None and not task.busy and failure is None
        for event in task.parser.finish(clean):
            self._event(task, job, event, now)
        unfinished = [i for i in task.frames if i not in task.done]
        if task.busy:
            for idx in unfinished:
                job.release(job.frames[idx], task.chunk_id)
            if any(t.node == task.node for t in self.tasks.values()):
                # Our own previous chunk on the node is slow to exit: wait for it, blame nobody.
                self.slow_exit.add(task.node)
                self._close_chunk(task, ChunkState.CANCELLED, result, "previous chunk still exiting")
                return
            self.node_backoff[task.node] = now + BUSY_RETRY_SECONDS
            self.node_note[task.node] = "busy: rendering for another dispatcher"
            self._close_chunk(task, ChunkState.CANCELLED, result, "node busy (locked by another dispatcher)")
            job.event(
                "node_busy", "node is locked by another dispatcher; skipped, not failed", now, node=task.node
            )
            return
        if failure is None:
            for idx in unfinished:
                rec = job.frames[idx]
                if task.persistent:
                    job.release(rec, task.chunk_id)  # a worker that quit early: frames never sent back
                elif rec.state is not FrameState.DONE:
                    self.frame_finished(task, job, idx, now)
            self._close_chunk(task, ChunkState.DONE, result, None)
            return
        if failure.kind is FailureKind.CANCELLED:
            for idx in unfinished:
                job.release(job.frames[idx], task.chunk_id)
            if task.kill_reason and task.kill_reason.startswith("backup race"):
                self._recheck_after_race(task, job, now)
            self._close_chunk(task, ChunkState.CANCELLED, result, task.kill_reason)
            return
        if not unfinished and not task.persistent and task.done:
            # Every frame was rendered and verified; only the exit went wrong (a crash at shutdown).
            job.event("chunk_exit", f"all frames done, then {failure.kind.value}: {failure.message}", now,
                      node=task.node)
            self._close_chunk(task, ChunkState.DONE, result, failure.message)
            return
        # Only the frame the process died on carries the failure (an attempt, the error); frames it had
        # not reached go back to waiting without blame. No frame started: the chunk's first frame.
        culprit = task.current if task.current in unfinished else unfinished[0] if unfinished else None
        for idx in unfinished:
            if idx != culprit:
                job.release(job.frames[idx], task.chunk_id)
        self.frames_failed(task, job, [] if culprit is None else [culprit], failure, now)
        self._close_chunk(task, ChunkState.FAILED, result, failure.message)

    def _scripts_missing(self, task: Task, job: JobRun, result: RunResult, where: str, now: float) -> None:
        """The node cannot see Farmhand's node scripts: nothing the frames did. The node is blocklisted
        for the job with a message saying what to set; the job fails when no node is left."""
        message = (f"{task.node} cannot see Farmhand's node scripts at {where}: set FARMHAND_NODE_PACKAGE for "
                   "the dispatcher to the share copy of scripts/ (as the nodes name it, or map it in "
                   "pathmap.json), then 'farmhand retry'")
        for idx in task.frames:
            job.release(job.frames[idx], task.chunk_id)
        stat = job.stat(task.node)
        stat.blocked, stat.message = True, message
        job.event("scripts_missing", message, now, node=task.node)
        self._close_chunk(task, ChunkState.FAILED, result, message)

    def _recheck_after_race(self, task: Task, job: JobRun, now: float) -> None:
        """The killed copy wrote to the same file as the winner: make sure the winner's output survived."""
        for idx in task.frames:
            rec = job.frames[idx]
            if rec.state is not FrameState.DONE or not rec.output:
                continue
            if not noderun.outputs_visible([rec.output]):
                continue
            if not all(noderun.check_local([rec.output])):
                job.requeue(rec, "output damaged when the losing backup copy was stopped")
                job.event("requeued", f"frame {rec.frame}: output damaged by the backup race", now,
                          frame=rec.frame)

    def _classify(
        self, task: Task, job: JobRun, result: RunResult, launch_error: Optional[BaseException]
    ) -> Optional[Failure]:
        if launch_error is not None:
            return fl.failure(FailureKind.UNREACHABLE, f"could not start: {launch_error}")
        if task.kill_reason == "stalled":
            return fl.failure(FailureKind.STALLED, "stalled: no output and no progress")
        return fl.classify(
            job.preset,
            result.exit_code,
            result.signal,
            task.parser.errors,
            list(task.tail),
            cancelled=task.kill_reason is not None,
        )

    def frames_failed(
        self, task: Task, job: JobRun, idxs: Sequence[int], failure: Failure, now: float
    ) -> None:
        node = task.node
        message = f"{node}: {failure.message}"
        count = failure.kind not in _NOT_THE_FRAME
        for idx in idxs:
            job.fail_attempt(
                job.frames[idx], task.chunk_id, failure.kind.value, message, self.retry, count=count
            )
        job.event("chunk_failed", f"{failure.kind.value}: {failure.message}", now, node=node)
        stat = job.stat(node)
        if failure.kind is FailureKind.LICENCE:
            stat.licence_repeats += 1
            delay = self.retry.licence_delay(stat.licence_repeats)
            stat.backoff_until = now + delay
            stat.message = f"licence unavailable; retrying in {delay:.0f}s"
        elif failure.kind is FailureKind.UNREACHABLE:
            self.node_backoff[node] = now + self.retry.unreachable_backoff
            self.node_note[node] = failure.message
            if task.pgid is not None:
                self.needs_check[node] = (task.pgid, nodescripts.chunk_marker(job.id, task.chunk_id))
        elif failure.backoff_seconds:
            stat.backoff_until = now + failure.backoff_seconds
        if failure.blame_node:
            stat.failures += 1
            if stat.failures >= self.retry.node_failures_to_block and not stat.blocked:
                stat.blocked = True
                stat.message = f"blocklisted for this job after {stat.failures} failures: {failure.message}"
                job.event("blocklisted", stat.message, now, node=node)
        self._agree(job, node, failure, now)

    def _agree(self, job: JobRun, node: str, failure: Failure, now: float) -> None:
        if not failure.deterministic or job.state.finished:
            return
        nodes = job.agree.setdefault(failure.kind.value, set())
        nodes.add(node)
        needed = max(
            1, min(self.retry.agree_to_fail, len(self.eligible_nodes(job, include_backoff=True)) or 1)
        )
        if failure.kind is FailureKind.OUTPUT_MISSING:
            # One lost file is a flaky write, not a wrong output pattern: ask for several frames too.
            job.missing_outputs += 1
            if job.missing_outputs < self.retry.agree_to_fail + 1:
                return
        if len(nodes) >= needed:
            error = f"{failure.kind.value} on {len(nodes)} node(s): {failure.message}"
            job.set_state(JobState.FAILED, error=error, now=now)
            job.event("failed", error, now)
            for other in [t for t in self.tasks.values() if t.job_id == job.id]:
                self.kill(other, "the job failed", now)

    def _close_chunk(self, task: Task, state: ChunkState, result: RunResult, message: Optional[str]) -> None:
        self.store.update_chunk(
            task.chunk_id, state=state, ended=self.clock(), exit_code=result.exit_code, message=message
        )
