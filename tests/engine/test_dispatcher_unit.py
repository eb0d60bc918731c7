"""The dispatcher's step function driven by hand: simulated clock, fake executor, real store and files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable, Optional

import pytest

from farmhand.engine import eligibility, nodescripts
from farmhand.engine.scheduler import Policy
from farmhand.engine.state import FarmNode
from farmhand.jobs import ChunkState, FrameState, JobSpec, JobState, NodeActivity, Retry

from .fake_farm import NodeBehaviour
from .rig import FAKE_WORKER_PRESET, Rig, assert_all_done


def test_renders_every_frame_once_across_nodes(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0), "b": NodeBehaviour(spf=1.0), "c": NodeBehaviour(spf=1.0)})
    job = rig.submit("1-30")
    rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    counts = Counter(f for _, f in rig.fake.rendered)
    assert set(counts) == set(range(1, 31)) and max(counts.values()) == 1
    assert {row.node for row in snap.frames} == {"a", "b", "c"}
    assert any(e.kind == "assigned" for e in snap.events) and any(e.kind == "done" for e in snap.events)


def test_faster_nodes_get_more_frames_and_makespan_is_near_ideal(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for(
        {"slow": NodeBehaviour(spf=4.0), "mid": NodeBehaviour(spf=2.0), "fast": NodeBehaviour(spf=1.0)}
    )
    job = rig.submit("1-140")
    took = rig.drive(rig.finished(job))
    assert_all_done(rig, job)
    by_node = Counter(h for h, _ in rig.fake.rendered)
    assert by_node["fast"] > by_node["mid"] > by_node["slow"]
    ideal = 140 / (1 / 4 + 1 / 2 + 1)  # Σwork / Σspeed = 80 s
    assert took <= ideal * 1.15, (took, ideal, by_node)


def test_node_crash_mid_chunk_rerenders_elsewhere_and_blames_the_node(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0, crash_after=3), "b": NodeBehaviour(spf=1.0)})
    job = rig.submit("1-12")
    rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    assert any(e.kind == "chunk_failed" and e.node == "a" and "crash" in e.message for e in snap.events)
    assert [r.attempts for r in snap.frames].count(1) >= 1
    assert rig.dispatcher.state.jobs == {} and rig.fake.live() == []


def test_licence_failure_backs_off_without_blame_or_attempts(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0, licence=2)})
    job = rig.submit("1-4")
    rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    assert all(r.attempts == 0 for r in snap.frames)
    licence = [e for e in snap.events if e.kind == "chunk_failed" and e.message.startswith("licence")]
    assert len(licence) == 2
    assert not any(e.kind == "blocklisted" for e in snap.events)


def test_stalled_render_is_killed_and_reassigned(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0, hang_at=2), "b": NodeBehaviour(spf=1.0)})
    job = rig.submit("1-6", chunk=3)
    rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    assert any(e.kind == "stalled" for e in snap.events)
    assert any(h == "a" and argv[2] == nodescripts.KILL_GROUP for h, argv in rig.fake.runs)
    assert not rig.fake.live()


def test_deterministic_error_fails_job_fast_once_nodes_agree(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for(
        {
            "a": NodeBehaviour(missing_file=True),
            "b": NodeBehaviour(missing_file=True),
            "c": NodeBehaviour(missing_file=True),
        }
    )
    job = rig.submit("1-50")
    took = rig.drive(rig.finished(job))
    snap = rig.snap(job)
    assert snap.state is JobState.FAILED
    assert "missing_file" in (snap.summary.error or "") and "Cannot read file" in (snap.summary.error or "")
    assert took < 5


def test_cancel_kills_running_chunks(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=5.0), "b": NodeBehaviour(spf=5.0)})
    job = rig.submit("1-20")
    rig.drive(lambda: len(rig.fake.live()) == 2)
    rig.client.cancel(job)
    rig.drive(lambda: not rig.fake.live() and rig.snap(job).state is JobState.CANCELLED, limit=5)
    snap = rig.snap(job)
    assert all(p.killed for p in rig.fake.procs)
    assert all(r.state is not FrameState.RENDERING for r in snap.frames)
    assert not rig.dispatcher.state.tasks


def test_a_cancelled_job_shows_no_frame_rendering_while_its_chunks_are_reaped(
    rig_for: Callable[..., Rig],
) -> None:
    slow = {"a": NodeBehaviour(spf=5.0, term_delay=2.0), "b": NodeBehaviour(spf=5.0, term_delay=2.0)}
    rig = rig_for(slow)
    job = rig.submit("1-20")
    rig.drive(lambda: len(rig.fake.live()) == 2)
    rig.client.cancel(job)
    rig.drive(lambda: rig.snap(job).state is JobState.CANCELLED, limit=5)
    assert rig.fake.live(), "the killed processes should still be dying"
    snap = rig.snap(job)
    assert all(r.state is not FrameState.RENDERING for r in snap.frames)
    rig.drive(lambda: not rig.fake.live(), limit=10)
    assert all(r.state is not FrameState.RENDERING for r in rig.snap(job).frames)


def test_busy_node_is_skipped_not_failed(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0, busy=3), "b": NodeBehaviour(spf=1.0)})
    job = rig.submit("1-10")
    rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    assert any(e.kind == "node_busy" for e in snap.events)
    assert all(r.attempts == 0 for r in snap.frames)
    assert not any(e.kind == "blocklisted" for e in snap.events)


def test_restart_keeps_done_frames_and_requeues_the_rest(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0), "b": NodeBehaviour(spf=1.0)})
    job = rig.submit("1-20")
    rig.drive(lambda: rig.snap(job).summary.frames_done >= 6)
    done_before = {r.frame for r in rig.snap(job).frames if r.state is FrameState.DONE}
    # The old dispatcher dies without cleaning up; its processes are orphans on the nodes.
    orphans = rig.fake.live()
    assert orphans
    rig.dispatcher = rig.make()
    rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    assert done_before <= {r.frame for r in snap.frames if r.state is FrameState.DONE}
    assert any(e.kind == "recovered" for e in snap.events)
    checks = [argv for _, argv in rig.fake.runs if argv[2] == nodescripts.CHECK_ORPHAN]
    assert len(checks) == len(orphans)
    assert all(p.killed for p in orphans)
    chunks = rig.store.db.execute("SELECT state FROM chunks").fetchall()
    assert ChunkState.LOST.value in {r[0] for r in chunks}


def test_priority_then_age(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0)})
    low = rig.submit("1-3", output=str(rig.out / "low.$F4.png"))
    high = rig.submit("1-3", output=str(rig.out / "high.$F4.png"), priority=90)
    rig.drive(rig.finished(low))
    assert rig.snap(high).state is JobState.DONE
    first = rig.store.db.execute("SELECT job FROM chunks ORDER BY id LIMIT 1").fetchone()[0]
    assert str(first) == high


def test_missing_output_is_requeued(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0, skip_write={4})})
    job = rig.submit("1-6")
    rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    frame4 = next(r for r in snap.frames if r.frame == 4)
    assert frame4.attempts == 1
    assert Counter(f for _, f in rig.fake.rendered)[4] == 2


def test_skip_existing_renders_only_missing_frames(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0)})
    rig.out.mkdir(parents=True)
    for f in (1, 2, 5):
        (rig.out / f"f.{f:04d}.png").write_bytes(b"old")
    job = rig.submit("1-6", skip_existing=True)
    rig.drive(rig.finished(job))
    assert_all_done(rig, job)
    assert sorted(f for _, f in rig.fake.rendered) == [3, 4, 6]


def test_slow_node_tail_is_resplit_or_backed_up(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for(
        {"fast": NodeBehaviour(spf=1.0), "snail": NodeBehaviour(spf=20.0)},
        policy=Policy(target_chunk_seconds=30.0, first_chunk_frames=4),
        retry=Retry(stall_floor=60),
    )
    job = rig.submit("1-16")
    took = rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    kinds = {e.kind for e in snap.events}
    assert "resplit" in kinds or "backup" in kinds
    # Without the tail logic the snail's first chunk alone takes 4 × 20 s.
    assert took < 40, took
    assert not rig.fake.live()


def test_node_down_is_backed_off_and_job_completes(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0, dead=True), "b": NodeBehaviour(spf=1.0)})
    job = rig.submit("1-8")
    rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    assert any("unreachable" in e.message for e in snap.events)
    assert all(r.node == "b" for r in snap.frames)
    assert all(r.attempts == 0 for r in snap.frames)


def test_progress_rows_show_current_frame_and_speed(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=2.0)})
    job = rig.submit("1-10", chunk=10)
    rig.drive(lambda: rig.snap(job).summary.frames_done >= 3)
    rig.now += 0.5
    rig.fake.advance(rig.now)
    rig.dispatcher.step(rig.now)
    row = rig.snap(job).nodes[0]
    assert row.node == "a" and row.state is NodeActivity.RENDERING
    assert row.current_frame == 4 and row.frames_done == 3
    assert row.seconds_per_frame == pytest.approx(2.0, abs=0.2)
    assert row.eta_seconds is not None and 10 < row.eta_seconds < 16
    assert row.chunk_frames == 10


def test_pause_and_resume(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0)})
    job = rig.submit("1-10", chunk=2)
    rig.drive(lambda: rig.snap(job).summary.frames_done >= 2)
    rig.client.pause(job)
    # Frames already reported done are still verified once their renderer is done writing them.
    rig.drive(lambda: not rig.fake.live() and not rig.dispatcher.verifier.pending(job), limit=10)
    done = rig.snap(job).summary.frames_done
    for _ in range(50):
        rig.now += 0.1
        rig.fake.advance(rig.now)
        rig.dispatcher.step(rig.now)
    assert rig.snap(job).state is JobState.PAUSED and rig.snap(job).summary.frames_done == done
    rig.client.resume(job)
    rig.drive(rig.finished(job))
    assert_all_done(rig, job)
    # a finished job cannot be paused or resumed: the answer says so instead of "ok"
    answers = []
    for send in (rig.client.pause, rig.client.resume):
        cid = send(job)
        rig.now += 0.1
        rig.dispatcher.step(rig.now)
        answers.append(rig.client.command_result(cid))
    assert answers == ["job is done; nothing to pause", "job is done, not paused; nothing to resume"]
    assert rig.snap(job).state is JobState.DONE


def test_retry_requeues_failed_frames(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(missing_file=True)})
    job = rig.submit("1-3")
    rig.drive(rig.finished(job))
    assert rig.snap(job).state is JobState.FAILED
    rig.fake.nodes["a"].missing_file = False
    rig.client.retry(job)
    rig.drive(rig.finished(job))
    assert_all_done(rig, job)


def test_worker_mode_streams_frames_to_one_process_per_node(
    rig_for: Callable[..., Rig], farmhand_home: Path
) -> None:
    presets = farmhand_home / "presets"
    presets.mkdir(parents=True)
    (presets / "fake-worker.toml").write_text(
        'description = "test worker"\nmode = "worker"\n'
        'argv = ["fakeworker", "--worker", "--output", "{output}"]\n'
    )
    rig = rig_for({"a": NodeBehaviour(spf=0.5, startup=5.0), "b": NodeBehaviour(spf=0.5, startup=5.0)})
    job = rig.submit("1-20", preset="fake-worker")
    took = rig.drive(rig.finished(job))
    assert_all_done(rig, job)
    assert len(rig.fake.procs) == 2
    assert all(p.result is not None and p.result.exit_code == 0 for p in rig.fake.procs)
    assert took < 5 + 20 * 0.5 / 2 + 3


def test_outputs_not_visible_here_are_checked_on_the_node(
    rig_for: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    from farmhand.engine import noderun

    monkeypatch.setattr(noderun, "outputs_visible", lambda paths: False)
    rig = rig_for({"a": NodeBehaviour(spf=1.0, skip_write={2})})
    job = rig.submit("1-4")
    rig.drive(rig.finished(job))
    assert_all_done(rig, job)
    checks = [argv[4] for _, argv in rig.fake.runs if argv[2] == nodescripts.CHECK_OUTPUTS]
    second = str(rig.out / "f.0002.png")
    # Each frame is checked on the node; frame 2's missing file is looked for again through the grace
    # window, then rendered again and found.
    assert {Path(p).name for p in checks} == {f"f.000{i}.png" for i in range(1, 5)}
    assert checks.count(second) > 2 and all(checks.count(p) == 1 for p in set(checks) - {second})


def test_houdini_build_is_picked_from_the_inventory(rig_for: Callable[..., Rig]) -> None:
    from farmhand.engine.jobrun import JobRun

    rig = rig_for({"a": NodeBehaviour()})
    node = FarmNode(
        "a",
        8,
        (
            ("20.0.724", "/opt/hfs20.0"),
            ("20.5.487", "/opt/hfs20.5.487"),
            ("20.5.410", "/opt/hfs20.5.410"),
            ("21.0.512", "/opt/hfs21.0"),
        ),
    )

    def pick(version: Optional[str]) -> Optional[str]:
        job_id = rig.client.submit(
            JobSpec(preset="hrender", file="/s/a.hip", target="/out/m", frames="1", houdini_version=version)
        )
        return eligibility.pick_hfs(JobRun.load(rig.store, job_id), node)

    assert pick(None) == "/opt/hfs21.0"
    assert pick("20.5.410") == "/opt/hfs20.5.410"
    assert pick("20.5.999") == "/opt/hfs20.5.487"
    assert pick("19.5.303") is None
    assert eligibility.pick_hfs(JobRun.load(rig.store, rig.client.jobs()[0].id), FarmNode("b")) is None


@pytest.mark.parametrize("exit_delay", [1.0, 5.0])
def test_next_chunk_starts_while_the_last_one_exits(rig_for: Callable[..., Rig], exit_delay: float) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0, exit_delay=exit_delay)})
    job = rig.submit("1-8", chunk=2)
    rig.drive(rig.finished(job), limit=200)
    snap = assert_all_done(rig, job)
    assert not any(e.kind == "node_busy" for e in snap.events)
    assert all(r.attempts == 0 for r in snap.frames)
    if exit_delay < 3:  # the new chunk got the lock as soon as the old process exited
        renders = [p for p in rig.fake.procs if p.result and p.result.exit_code == 0]
        assert len(renders) == 4 and len(rig.fake.procs) == 4


def test_logs_are_attributed_to_the_frame_that_printed_them(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0)})
    job = rig.submit("1-4", chunk=4)
    rig.drive(rig.finished(job))
    lines = [line.text for line in rig.client.logs(job, frame=3)]
    assert (
        lines[0].startswith("Fra:3 ")
        and lines[-1].startswith("Saved: ")
        and lines[-1].endswith("f.0003.png'")
    )
    assert not any("Fra:2" in t or "Fra:4" in t or "0002" in t for t in lines)
    assert [line.node for line in rig.client.logs(job, node="a")][:1] == ["a"]


def test_worker_mode_slow_node_takes_one_frame_at_a_time(
    rig_for: Callable[..., Rig], farmhand_home: Path
) -> None:
    presets = farmhand_home / "presets"
    presets.mkdir(parents=True)
    (presets / "fake-worker.toml").write_text(FAKE_WORKER_PRESET)
    rig = rig_for(
        {"fast": NodeBehaviour(spf=0.5, startup=1.0), "slow": NodeBehaviour(spf=6.0, startup=1.0)},
        retry=Retry(stall_floor=30.0),  # the fake worker prints nothing during its 6 s frames
    )
    job = rig.submit("1-24", preset="fake-worker")
    took = rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    slow = [r.frame for r in snap.frames if r.node == "slow"]
    assert 1 <= len(slow) <= 2, slow
    assert took < 1.0 + 24 * 0.5 + 6.0, took


def test_only_the_frame_a_chunk_died_on_carries_the_failure(farmhand_home: Path) -> None:
    # One node, blocklisted after its first failure: the job stops right after the crash, so the frame
    # states the crash left behind can be read.
    rig = Rig(farmhand_home, {"a": NodeBehaviour(spf=1.0, crash_at=1013)},
              retry=Retry(stall_floor=5.0, node_failures_to_block=1))
    job = rig.submit("1011-1015", chunk=5)
    rig.drive(rig.finished(job))
    frames = {f.frame: f for f in rig.snap(job).frames}
    assert [frames[f].state for f in (1011, 1012)] == [FrameState.DONE] * 2
    died = frames[1013]
    assert died.state is FrameState.RETRYING and died.attempts == 1
    assert died.error_kind == "crash" and died.error_message and died.error_message.startswith("a: ")
    for untouched in (frames[1014], frames[1015]):
        assert untouched.state is FrameState.WAITING and untouched.attempts == 0
        assert untouched.error_kind is None and untouched.error_message is None


def test_frames_after_a_crash_render_later_without_a_counted_attempt(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0, crash_at=13), "b": NodeBehaviour(spf=3.0)})
    job = rig.submit("11-15", chunk=5, nodes=("a",))
    rig.drive(rig.finished(job))
    frames = {f.frame: f for f in assert_all_done(rig, job).frames}
    assert [frames[f].attempts for f in (11, 12, 13, 14, 15)] == [0, 0, 1, 0, 0]


def test_a_job_no_node_can_take_says_what_to_fix(rig_for: Callable[..., Rig]) -> None:
    """No Houdini build, a wrong --nodes: the job fails at once with a line naming the cause."""
    rig = rig_for({"a": NodeBehaviour(spf=1.0), "b": NodeBehaviour(spf=1.0)})
    rig.farm = [FarmNode("a", 4, (("20.5.487", "/opt/hfs20.5.487"),)), FarmNode("b", 4)]
    rig.dispatcher = rig.make()
    cases = {
        rig.submit("1-3", preset="hrender", file="/s/a.hip", target="/out/m", houdini_version="21.0.512"):
            "no selected node has Houdini 21.0.512 (or another 21.0 build) in its inventory (a, b)",
        rig.submit("1-3", nodes=("render99",)):
            "none of the nodes given by --nodes (render99) is a trusted, enabled node",
    }
    for job in cases:
        rig.drive(rig.finished(job), limit=5)
    for job, why in cases.items():
        snap = rig.snap(job)
        assert snap.state is JobState.FAILED and why in (snap.summary.error or ""), snap.summary.error
    assert rig.fake.procs == []


def test_equal_nodes_do_not_steal_a_chunk_that_is_still_starting(rig_for: Callable[..., Rig]) -> None:
    """A chunk whose renderer is still starting (loading the scene) has not begun a frame: taking its
    frames to an equally fast free node gains nothing. Counting it as a frame already in progress made
    the free nodes take the last frame from each other forever (10 s frames, 3 s scene load)."""
    nodes = {n: NodeBehaviour(spf=10.0, startup=3.0) for n in ("a", "b", "c")}
    rig = rig_for(nodes, cores={"a": 4, "b": 4, "c": 4}, retry=Retry(stall_floor=100.0))
    job = rig.submit("1-13")
    took = rig.drive(rig.finished(job), limit=300)
    snap = assert_all_done(rig, job)
    assert [e.message for e in snap.events if e.kind == "resplit"] == []
    # 13 frames on 3 nodes: 5 rounds of 10 s plus a few scene loads, nothing thrown away
    assert took < 5 * 10.0 + 4 * 3.0 + 5.0, took


def test_output_written_where_this_machine_cannot_see_it_is_named(
    rig_for: Callable[..., Rig], tmp_path: Path
) -> None:
    """The output folder exists here, but the nodes write to their own disk (not the share): the job
    fails saying so, instead of a bare 'output missing' for files the nodes did write."""
    nodes = {n: NodeBehaviour(spf=1.0, private_disk=tmp_path / f"disk-{n}") for n in ("a", "b")}
    rig = rig_for(nodes)
    rig.out.mkdir(parents=True, exist_ok=True)
    job = rig.submit("1-6")
    rig.drive(rig.finished(job), limit=120)
    snap = rig.snap(job)
    assert snap.state is JobState.FAILED
    assert "not visible on this machine" in (snap.summary.error or ""), snap.summary.error
    assert "share" in (snap.summary.error or "")
