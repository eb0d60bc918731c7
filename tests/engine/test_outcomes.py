"""Outcomes on their own: what a task's output and end do to its frames, its chunk and its node."""

from __future__ import annotations

from pathlib import Path

from farmhand.engine.assign import Assigner
from farmhand.engine.blame import Blame
from farmhand.engine.noderun import StopCause, Task
from farmhand.engine.nodewatch import BUSY_NOTE, NodeWatch
from farmhand.engine.outcomes import Outcomes
from farmhand.engine.store import read_logs
from farmhand.engine.verify import Verifier
from farmhand.jobs import ChunkPolicy, ChunkState, FrameState, NodeActivity

from .fake_farm import NodeBehaviour
from .parts import Bench, engine_state


class Parts:
    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.nodes = NodeWatch(bench.state)
        self.blame = Blame(bench.state, self.nodes)
        self.verifier = Verifier(bench.state, self.blame)
        self.outcomes = Outcomes(bench.state, self.nodes, self.verifier, self.blame)
        self.assigner = Assigner(bench.state, self.nodes)

    def start(self, frames: str, chunk: int) -> Task:
        self.bench.add_job(frames, chunk=ChunkPolicy.fixed(chunk))
        self.assigner.assign(self.bench.clock.now)
        (task,) = self.bench.state.tasks.values()
        return task

    def run(self, seconds: float, dt: float = 0.1) -> None:
        """Read and pump every task, and settle output checks, until ``seconds`` of simulated time passed."""
        for _ in range(round(seconds / dt)):
            now = self.bench.advance(dt)
            for task in list(self.bench.state.tasks.values()):
                task.read()
                self.outcomes.pump(task, now)
            self.outcomes.flush_logs()
            self.verifier.look(now)
            self.verifier.settle(now)

    def chunk(self, chunk_id: int) -> tuple[str, str]:
        row = self.bench.state.store.db.execute("SELECT state, message FROM chunks WHERE id = ?", (chunk_id,))
        state, message = row.fetchone()
        return state, message


def _parts(home: Path, behaviour: NodeBehaviour) -> Parts:
    return Parts(engine_state(home, {"a": behaviour}))


def test_a_clean_chunk_finishes_its_frames_measures_the_node_and_logs_its_lines(farmhand_home: Path) -> None:
    parts = _parts(farmhand_home, NodeBehaviour(spf=1.0))
    task = parts.start("1-3", 3)
    parts.run(4.0)
    job = parts.bench.state.jobs[task.job_id]
    assert [f.state for f in job.frames] == [FrameState.DONE] * 3
    assert job.stat("a").spf is not None and abs(job.stat("a").spf - 1.0) < 0.2
    assert job.stat("a").frames_done == 3
    assert parts.chunk(task.chunk_id) == (ChunkState.DONE.value, None)
    assert task.chunk_id not in parts.bench.state.tasks
    assert any(line.text.startswith("Saved:") and line.frame == 2 for line in read_logs(job.id))


def test_a_busy_node_is_skipped_without_blame(farmhand_home: Path) -> None:
    parts = _parts(farmhand_home, NodeBehaviour(busy=1))
    task = parts.start("1-2", 2)
    parts.run(0.2)
    job = parts.bench.state.jobs[task.job_id]
    assert [(f.state, f.attempts) for f in job.frames] == [(FrameState.WAITING, 0)] * 2
    assert parts.nodes.away("a") == (NodeActivity.BUSY, BUSY_NOTE)
    assert parts.nodes.backed_off("a", parts.bench.clock.now)
    closed = (ChunkState.CANCELLED.value, "node busy (locked by another dispatcher)")
    assert parts.chunk(task.chunk_id) == closed


def test_a_crash_blames_only_the_frame_it_died_on(farmhand_home: Path) -> None:
    parts = _parts(farmhand_home, NodeBehaviour(spf=1.0, crash_at=2))
    task = parts.start("1-3", 3)
    parts.run(3.0)
    rows = parts.bench.state.store.frames(task.job_id)
    assert [(r.state, r.attempts, r.error_kind) for r in rows] == [
        (FrameState.DONE, 0, None), (FrameState.RETRYING, 1, "crash"), (FrameState.WAITING, 0, None)]
    assert parts.chunk(task.chunk_id)[0] == ChunkState.FAILED.value
    assert parts.bench.state.jobs[task.job_id].stat("a").failures == 1


def test_a_task_we_stopped_gives_its_frames_back(farmhand_home: Path) -> None:
    parts = _parts(farmhand_home, NodeBehaviour(spf=1.0))
    task = parts.start("1-4", 4)
    parts.run(1.5)
    parts.bench.state.kill(task, StopCause.USER, "cancelled by the user", parts.bench.clock.now)
    parts.run(0.5)
    rows = parts.bench.state.store.frames(task.job_id)
    assert [(r.state, r.attempts) for r in rows] == [(FrameState.DONE, 0)] + [(FrameState.WAITING, 0)] * 3
    assert parts.chunk(task.chunk_id) == (ChunkState.CANCELLED.value, "cancelled by the user")


def test_an_unreachable_node_backs_off_and_is_not_counted(farmhand_home: Path) -> None:
    parts = _parts(farmhand_home, NodeBehaviour(dead=True))
    task = parts.start("1-2", 2)
    parts.run(0.1)
    rows = parts.bench.state.store.frames(task.job_id)
    assert [(r.state, r.attempts) for r in rows] == [(FrameState.RETRYING, 0), (FrameState.WAITING, 0)]
    assert parts.nodes.away("a")[0] is NodeActivity.OFFLINE
    assert parts.chunk(task.chunk_id)[0] == ChunkState.FAILED.value
