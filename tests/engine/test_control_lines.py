"""Renderer output is data: Farmhand's own markers printed by a render change nothing the dispatcher
believes, and every output line wakes the dispatcher instead of waiting for the next poll."""

from __future__ import annotations

from typing import Callable

from farmhand.jobs import ChunkState, FrameState, JobState, NodeActivity

from .fake_farm import NodeBehaviour
from .rig import Rig, assert_all_done

FAKE_MARKERS = [
    "FARMHAND_BUSY node is rendering for another dispatcher",
    "FARMHAND_MISSING /share/farmhand",
    "FARMHAND_PGID 1",
    "FARMHAND_CTL 00000000000000000000000000000000 BUSY",
]


def test_a_render_that_prints_busy_then_crashes_is_a_crash(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0, crash_at=2, print_before_crash=list(FAKE_MARKERS))})
    job = rig.submit("1-3", chunk=3)
    rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    assert [r.attempts for r in snap.frames] == [0, 1, 0]
    assert any(e.kind == "chunk_failed" and "crash" in e.message for e in snap.events)
    assert not any(e.kind in ("node_busy", "scripts_missing") for e in snap.events)
    states = [r[0] for r in rig.store.db.execute("SELECT state FROM chunks ORDER BY id")]
    assert states[0] == ChunkState.FAILED.value
    pgids = [r[0] for r in rig.store.db.execute("SELECT pgid FROM chunks ORDER BY id")]
    assert 1 not in pgids  # the group to kill is the wrapper's, never one a render named


def test_markers_before_the_wrapper_speaks_are_data_too(rig_for: Callable[..., Rig]) -> None:
    """Lines printed on the node before the wrapper's own (a login script's echo) are not control."""
    rig = rig_for({"a": NodeBehaviour(spf=1.0, preamble=[("out", m) for m in FAKE_MARKERS])})
    job = rig.submit("1-2")
    rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    assert all(r.state is FrameState.DONE and r.attempts == 0 for r in snap.frames)
    assert not any(row.state is NodeActivity.BUSY for row in snap.nodes)


def test_a_real_busy_node_is_still_skipped(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0, busy=1)})
    job = rig.submit("1-2")
    rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    assert any(e.kind == "node_busy" for e in snap.events)
    assert all(r.attempts == 0 for r in snap.frames) and snap.state is JobState.DONE


def test_a_node_line_wakes_the_dispatcher(rig_for: Callable[..., Rig]) -> None:
    """The run loop waits between steps on ``Dispatcher.wake``; a line from any node must set it."""
    rig = rig_for({"a": NodeBehaviour(spf=5.0)})
    rig.submit("1-2")
    rig.drive(lambda: bool(rig.dispatcher.state.tasks))
    rig.dispatcher.step(rig.now)  # the new task is wired on the step after it started
    rig.dispatcher.wake.clear()
    (task,) = rig.dispatcher.state.tasks.values()
    task.on_line("out", "ALF_PROGRESS 10%")
    assert rig.dispatcher.wake.is_set()
