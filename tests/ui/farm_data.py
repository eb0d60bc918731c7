"""Farm states for the widget tests: a queue, nodes and a job in progress, written by hand in the panel's
records so each test can shape them (a real run's snapshot is replayed in ``test_recorded_snapshot.py``).
The scale variants (100 nodes, 5 000 frames) repeat the same patterns.
"""

from __future__ import annotations

from farmhand.jobs import JobState, NodeActivity
from farmhand.ui.view.records import (
    FarmSnapshot,
    FrameStatus,
    FrameView,
    JobDetail,
    JobNodeView,
    JobView,
    NodeStatus,
    NodeView,
)

NODE_STATES = (NodeStatus.RENDERING, NodeStatus.RENDERING, NodeStatus.IDLE, NodeStatus.UNREACHABLE,
               NodeStatus.BLOCKLISTED, NodeStatus.UNTRUSTED, NodeStatus.DISABLED)


NOTES = {NodeStatus.UNREACHABLE: "no answer on port 22 for 3 s",
         NodeStatus.BLOCKLISTED: "blocklisted for shot010_beauty: renderer crashed twice"}


def nodes(n: int = 7) -> tuple[NodeView, ...]:
    out = []
    for i in range(n):
        status = NODE_STATES[i % len(NODE_STATES)]
        out.append(NodeView(
            host=f"render{i + 1:02d}", address=f"10.77.0.{11 + i % 200}", status=status,
            trusted=status != NodeStatus.UNTRUSTED, enabled=status != NodeStatus.DISABLED,
            fingerprint=f"SHA256:{'abcdef'[i % 6] * 43}", cores=8 * (1 + i % 4), ram_gb=32.0 * (1 + i % 3),
            gpus=("NVIDIA RTX A4000",) if i % 2 else (), houdini=("21.0.512", "20.5.332")[: 1 + i % 2],
            load=0.25 * (i % 9),
            rendering_for="shot010_beauty (anna)" if status == NodeStatus.RENDERING else "",
            note=NOTES.get(status, ""),
        ))
    return tuple(out)


def frames(total: int = 240, done: int = 100, rendering: int = 4, failed: int = 2,
           retrying: int = 1) -> tuple[FrameView, ...]:
    out = []
    for i in range(total):
        frame = float(1001 + i)
        host = f"render{1 + i % 4:02d}"
        if i < done:
            out.append(FrameView(frame, FrameStatus.DONE, host, 1, 2.0 + (i % 7) * 0.3))
        elif i < done + rendering:
            out.append(FrameView(frame, FrameStatus.RENDERING, host, 1))
        elif i < done + rendering + failed:
            out.append(FrameView(frame, FrameStatus.FAILED, host, 4, None,
                                 "missing file: /share/tex/wood.rat"))
        elif i < done + rendering + failed + retrying:
            out.append(FrameView(frame, FrameStatus.RETRYING, host, 2, None, "out of memory: Killed"))
        else:
            out.append(FrameView(frame, FrameStatus.WAITING))
    return tuple(out)


def job(job_id: str = "j1", total: int = 240, done: int = 100, status: JobState = JobState.RUNNING,
        failed: int = 2, name: str = "shot010_beauty") -> JobView:
    return JobView(job_id=job_id, name=name, status=status, priority=50, owner="anna", preset="hrender",
                   frames_total=total, frames_done=done, frames_failed=failed, frames_rendering=4,
                   eta_seconds=312.0, submitted_at=1_700_000_000.0,
                   message="2 frames failed: missing file: /share/tex/wood.rat" if failed else "")


def job_nodes(n: int = 4, done_each: int = 25) -> tuple[JobNodeView, ...]:
    out = []
    for i in range(n):
        if i % 5 == 4:
            out.append(JobNodeView(f"render{i + 1:02d}", NodeActivity.BLOCKED, None, None, 3, 0, 0, 2.4, None,
                                   "renderer crashed twice; blocklisted for this job"))
        else:
            out.append(JobNodeView(f"render{i + 1:02d}", NodeActivity.RENDERING, float(1100 + i),
                                   10.0 + 20 * (i % 4), done_each + i, 8, 3 + i % 5, 2.0 + 0.5 * i, 12.0 + i))
    return tuple(out)


def snapshot(n_nodes: int = 7, total: int = 240, done: int = 100, detail: bool = True,
             job_nodes_n: int = 4) -> FarmSnapshot:
    main = job(total=total, done=done)
    queue = (main,
             job("j2", 48, 48, JobState.DONE, failed=0, name="shot020_fx_cache"),
             job("j3", 120, 0, JobState.QUEUED, failed=0, name="shot030_lighting"))
    return FarmSnapshot(
        jobs=queue, nodes=nodes(n_nodes),
        detail=JobDetail(main, job_nodes(job_nodes_n), frames(total, done)) if detail else None,
    )
