"""Verification at the pace of a real share: a renderer that closes its file after saying "saved", a
share that shows a new file only after a while (NFS attribute caching), and outputs written somewhere
this machine never sees."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from farmhand.engine.settings import Verification
from farmhand.jobs import ChunkState, FrameState, JobState, NodeActivity

from .fake_farm import NodeBehaviour
from .rig import Rig, assert_all_done

GRACE = Verification(quiet_seconds=2.0, grace_seconds=75.0, recheck_seconds=1.0, max_recheck_seconds=10.0)


def _rig(make: Callable[..., Rig], nodes: dict[str, NodeBehaviour]) -> Rig:
    rig = make(nodes, verify=GRACE)
    rig.out.mkdir(parents=True)  # the share is mounted here: its folder is visible
    return rig


def _failures(rig: Rig, job: str) -> list[str]:
    return [e.message for e in rig.snap(job).events if e.kind in ("chunk_failed", "blocklisted", "failed")]


def test_a_file_closed_after_the_saved_line_is_not_a_failure(rig_for: Callable[..., Rig]) -> None:
    """The renderer says "Saved" (or 100%) a second before the file is complete."""
    rig = _rig(rig_for, {"a": NodeBehaviour(spf=3.0, late_write=1.0)})
    job = rig.submit("1-4", chunk=2)
    rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    assert all(r.attempts == 0 for r in snap.frames) and _failures(rig, job) == []


def test_a_file_that_shows_on_the_share_late_is_found_within_the_grace(
    rig_for: Callable[..., Rig], tmp_path: Path
) -> None:
    """The node wrote it (its own view has it at once); this machine's NFS client shows it 20 s later."""
    rig = _rig(rig_for, {"a": NodeBehaviour(spf=1.0, private_disk=tmp_path / "node-a", share_lag=20.0)})
    job = rig.submit("1-3")
    rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    assert all(r.attempts == 0 for r in snap.frames) and _failures(rig, job) == []
    assert not any(row.state is NodeActivity.BLOCKED for row in snap.nodes)


def test_outputs_never_seen_here_fail_the_job_once_and_blame_no_node(
    rig_for: Callable[..., Rig], tmp_path: Path
) -> None:
    """Written off the share (or a path map that is wrong): one message saying what to fix."""
    nodes = {n: NodeBehaviour(spf=1.0, private_disk=tmp_path / f"node-{n}") for n in ("a", "b")}
    rig = _rig(rig_for, nodes)
    job = rig.submit("1-6", chunk=3)
    took = rig.drive(rig.finished(job), limit=400)
    snap = rig.snap(job)
    assert snap.state is JobState.FAILED and snap.summary.error is not None
    assert "is not visible on this machine after 75s" in snap.summary.error
    assert "pathmap.json" in snap.summary.error and f"farmhand retry {job}" in snap.summary.error
    assert not any(e.kind == "blocklisted" for e in snap.events)
    assert not any(row.state is NodeActivity.BLOCKED for row in snap.nodes)
    assert all(r.attempts == 0 for r in snap.frames)
    assert len([e for e in snap.events if e.kind == "failed"]) == 1
    assert took >= 75


def test_a_node_is_not_held_while_its_frame_is_looked_for(
    rig_for: Callable[..., Rig], tmp_path: Path
) -> None:
    """While frame 1's file is awaited through the grace window, the node renders the next chunk."""
    rig = _rig(rig_for, {"a": NodeBehaviour(spf=1.0, private_disk=tmp_path / "node-a", share_lag=30.0)})
    job = rig.submit("1-6", chunk=2)
    rig.drive(lambda: rig.snap(job).summary.frames_done >= 1)
    started = [r[0] for r in rig.store.db.execute("SELECT started FROM chunks ORDER BY id")]
    assert len(started) >= 3  # chunks 2 and 3 started while chunk 1's frames were still being verified
    states = [r[0] for r in rig.store.db.execute("SELECT state FROM chunks ORDER BY id LIMIT 1")]
    assert states == [ChunkState.DONE.value]
    rig.drive(rig.finished(job))
    assert_all_done(rig, job)


def test_a_frame_missing_everywhere_fails_after_the_grace(rig_for: Callable[..., Rig]) -> None:
    rig = _rig(rig_for, {"a": NodeBehaviour(spf=1.0, skip_write={2})})
    job = rig.submit("1-3")
    rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    assert [r.attempts for r in snap.frames] == [0, 1, 0]
    (message,) = [e.message for e in snap.events if e.kind in ("chunk_failed", "frame_failed")]
    assert "output missing or empty" in message and "(looked for 7" in message
    assert snap.frames[1].state is FrameState.DONE
