"""End to end on real sshd nodes: the CLI submits, a detached dispatcher renders with the stand-in
renderer, faults are injected into the lab; every test ends with all frames verified on disk and no
render process of this FARMHAND_HOME left on any node (checked by the ``engine_farm`` teardown)."""

from __future__ import annotations

import os
import pwd
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Optional

import pytest

from farmhand.jobs import FrameState, JobState

from .conftest import EngineFarm, assert_complete

pytestmark = [pytest.mark.lab, pytest.mark.slow]

Make = Callable[..., EngineFarm]


def demo_args(farm: EngineFarm, frames: str, *extra: str, spf: float = 0.2, out: str = "out") -> list[str]:
    return [
        "--preset",
        "demo",
        "--frames",
        frames,
        "--output",
        str(farm.share / out / "img.$F4.png"),
        "--param",
        f"seconds_per_frame={spf}",
        *extra,
    ]


def wait_rendering(farm: EngineFarm, job: str, node: Optional[str] = None) -> None:
    """Wait until ``node`` (any node when None) is rendering a frame of ``job``."""
    farm.wait_for(
        lambda: any((node is None or r.node == node) and r.current_frame is not None
                    for r in farm.client.job(job).nodes),
        what=f"{node} rendering" if node else "rendering",
    )


def fail_args(farm: EngineFarm, frame: int, mode: str, host: str = "render01") -> list[str]:
    return [
        "--param",
        f"fail_at={frame}",
        "--param",
        f"fail_mode={mode}",
        "--param",
        f"fail_hosts={host}",
        "--param",
        f"fail_once_file={farm.share / ('once-' + mode)}",
    ]


def saved_counts(farm: EngineFarm, job_id: str) -> Counter[str]:
    return Counter(line.text for line in farm.client.logs(job_id) if line.text.startswith("Saved:"))


def test_renders_across_nodes_and_reports_progress(engine_farm: Make) -> None:
    farm = engine_farm(n=3)
    job = farm.submit(*demo_args(farm, "1-30"))
    seen_rendering = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        snap = farm.client.job(job)
        seen_rendering = seen_rendering or any(r.current_frame is not None for r in snap.nodes)
        if snap.state.finished:
            break
        time.sleep(0.05)
    snap = farm.wait(job)
    assert_complete(farm, snap)
    assert seen_rendering
    assert {r.node for r in snap.frames} == {"render01", "render02", "render03"}
    assert sorted(os.listdir(farm.share / "out")) == [f"img.{f:04d}.png" for f in range(1, 31)]
    status = farm.farmhand("status", job, "--json").stdout
    assert '"attempts"' in status and '"output"' in status
    assert "render01" in farm.farmhand("logs", job, "--node", "render01").stdout


def test_hostile_paths_render_exactly_and_execute_nothing(engine_farm: Make) -> None:
    farm = engine_farm(n=2)
    weird = farm.share / "shot 01 'q' \"dq\" $(touch PWNED) ; touch PWNED2 ü→"
    weird.mkdir()
    scene = weird / "scene $(id).json"
    scene.write_text('{"seconds_per_frame": 0.1}')
    out = weird / "out ;`touch PWNED3`" / "f $F4 'x'.png"
    job = farm.submit("--preset", "demo", "--file", str(scene), "--frames", "1-6", "--output", str(out))
    snap = farm.wait(job)
    assert_complete(farm, snap)
    for f in range(1, 7):
        assert (weird / "out ;`touch PWNED3`" / f"f {f:04d} 'x'.png").stat().st_size > 0
    leftovers = [
        p
        # the node's login shell starts in the login user's home (from passwd, not this test's $HOME)
        for p in (Path.cwd(), farm.share, weird, Path("/"), Path(pwd.getpwuid(os.getuid()).pw_dir))
        for n in ("PWNED", "PWNED2", "PWNED3")
        if (p / n).exists()
    ]
    assert leftovers == []


def test_cancel_mid_chunk_kills_the_remote_tree(engine_farm: Make) -> None:
    farm = engine_farm(n=2)
    job = farm.submit(*demo_args(farm, "1-40", spf=1.0), "--chunk", "10")
    wait_rendering(farm, job)
    assert farm.render_processes()
    farm.farmhand("cancel", job)
    started = time.monotonic()
    farm.wait_for(lambda: not farm.render_processes(), timeout=8, what="remote processes gone")
    # The chunk had ~9 s of frames left: ending this early means it was killed, not left to finish.
    # (How fast, measured: bench/bench_jobs.py cancel.)
    assert time.monotonic() - started <= 6
    snap = farm.wait(job, timeout=10)
    assert snap.state is JobState.CANCELLED
    assert all(r.state is not FrameState.RENDERING for r in snap.frames)


def test_dispatcher_sigkill_and_restart_loses_nothing(engine_farm: Make) -> None:
    farm = engine_farm(n=3)
    job = farm.submit(*demo_args(farm, "1-45", spf=0.3))
    farm.wait_for(lambda: farm.client.job(job).summary.frames_done >= 8, what="some frames done")
    done_before = {r.frame for r in farm.client.job(job).frames if r.state is FrameState.DONE}
    pid = farm.dispatcher_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    # The connection drops with the dispatcher; the watchdog on each node ends the renders.
    farm.assert_no_orphans(timeout=10)
    farm.farmhand("status", job)  # a read-only command does not start it ...
    assert farm.dispatcher_pid() is None
    farm.farmhand("priority", job, "60")  # ... but one that needs the dispatcher does
    snap = farm.wait(job)
    assert_complete(farm, snap)
    assert done_before <= {r.frame for r in snap.frames if r.state is FrameState.DONE}
    assert any(e.kind == "recovered" for e in snap.events)


def test_node_killed_mid_chunk(engine_farm: Make) -> None:
    farm = engine_farm(n=3)
    job = farm.submit(*demo_args(farm, "1-36", spf=0.4))
    wait_rendering(farm, job, "render02")
    farm.lab.kill_node("render02")
    snap = farm.wait(job, timeout=120)
    assert_complete(farm, snap)
    assert any(e.node == "render02" and "unreachable" in e.message for e in snap.events), farm.describe(job)


def test_node_traffic_dropped(engine_farm: Make) -> None:
    farm = engine_farm(n=3)
    job = farm.submit(*demo_args(farm, "1-40", spf=0.4))
    wait_rendering(farm, job, "render03")
    farm.lab.drop("render03")
    try:
        snap = farm.wait(job, timeout=120)
    finally:
        farm.lab.undrop("render03")
    assert_complete(farm, snap)
    # sshd on the node (ClientAliveInterval) ends the session; the watchdog ends the render.
    farm.assert_no_orphans(timeout=20)


def test_sshd_restarted_mid_job(engine_farm: Make) -> None:
    farm = engine_farm(n=2)
    job = farm.submit(*demo_args(farm, "1-30", spf=0.3))
    farm.wait_for(lambda: farm.client.job(job).summary.frames_done >= 3, what="frames done")
    farm.lab.restart_sshd("render01")
    snap = farm.wait(job)
    assert_complete(farm, snap)


@pytest.mark.parametrize(
    ("mode", "kind"), [("segfault", "crash"), ("oom", "oom"), ("licence", "licence")]
)
def test_renderer_failure_is_classified_and_redone(engine_farm: Make, mode: str, kind: str) -> None:
    farm = engine_farm(n=2)
    job = farm.submit(*demo_args(farm, "1-12", spf=0.2), "--chunk", "4", *fail_args(farm, 2, mode))
    snap = farm.wait(job)
    assert_complete(farm, snap)
    failed = [e for e in snap.events if e.kind in ("chunk_failed", "stalled") and e.node == "render01"]
    assert failed, farm.describe(job)
    assert any(e.message.startswith(kind) or e.kind == kind for e in failed), [e.message for e in failed]
    frame2 = next(r for r in snap.frames if r.frame == 2)
    assert frame2.attempts == (0 if mode == "licence" else 1)
    if mode == "licence":
        assert not any(e.kind == "blocklisted" for e in snap.events)


def test_hung_render_is_caught_as_stalled_and_redone(engine_farm: Make) -> None:
    # One node: no idle node can re-split or back up the hung frame (with two, a backup rescues it before
    # the stall limit, which the test above would see as a plain backup), so the stall kill must act.
    farm = engine_farm(n=1)
    job = farm.submit(*demo_args(farm, "1-6", spf=0.2), "--chunk", "3", *fail_args(farm, 2, "hang"))
    snap = farm.wait(job)
    assert_complete(farm, snap)
    stalled = [e for e in snap.events if e.node == "render01"
               and (e.kind == "stalled" or (e.kind == "chunk_failed" and e.message.startswith("stalled")))]
    assert stalled, farm.describe(job)
    farm.assert_no_orphans(timeout=20)


def test_hung_render_is_rescued_by_a_backup_on_an_idle_node(engine_farm: Make) -> None:
    farm = engine_farm(n=2)
    job = farm.submit(*demo_args(farm, "1-12", spf=0.2), "--chunk", "4", *fail_args(farm, 2, "hang"))
    snap = farm.wait(job)
    assert_complete(farm, snap)
    frame2 = next(r for r in snap.frames if r.frame == 2)
    assert frame2.node == "render02" or any(e.kind == "stalled" for e in snap.events), farm.describe(job)
    farm.assert_no_orphans(timeout=20)


def test_output_disk_full_loses_no_frame(engine_farm: Make, tmp_path: Path) -> None:
    # Mounted before the lab starts: each node's mount namespace is a copy taken when its sshd starts.
    disk = tmp_path / "tiny"
    disk.mkdir()
    assert os.system(f"mount -t tmpfs -o size=64k,mode=1777 tmpfs '{disk}'") == 0
    try:
        farm = engine_farm(n=2)
        job = farm.submit(
            "--preset",
            "demo",
            "--frames",
            "1-20",
            "--output",
            str(disk / "img.$F4.png"),
            "--param",
            "seconds_per_frame=0.05",
            "--param",
            "size=96x54",
        )
        snap = farm.wait(job, timeout=120)
        assert snap.state is JobState.FAILED, farm.describe(job)
        assert any("disk_full" in e.message for e in snap.events), farm.describe(job)
        done = [r for r in snap.frames if r.state is FrameState.DONE]
        assert 0 < len(done) < 20, farm.describe(job)
        for row in done:  # what is marked done is really there
            assert Path(row.output or "").stat().st_size > 0
        assert os.system(f"mount -o remount,size=8m '{disk}'") == 0
        farm.farmhand("retry", job)
        snap = farm.wait(job, timeout=120)
        assert_complete(farm, snap)
    finally:
        for farm_ in ():
            del farm_
        os.system(f"umount -l '{disk}'")


def test_slow_node_tail_is_resplit_or_backed_up(engine_farm: Make) -> None:
    farm = engine_farm(n=2)
    job = farm.submit(*demo_args(farm, "1-16", spf=0.3), "--param", "speed_map=render01=0.05,*=1")
    snap = farm.wait(job)
    assert_complete(farm, snap)
    assert {e.kind for e in snap.events} & {"resplit", "backup"}, farm.describe(job)
    # render01 needs 6 s a frame: the fast node took its pending frames or raced it for the current one.
    assert sum(1 for r in snap.frames if r.node == "render01") <= 2


def test_skip_existing_and_wait_exit_status(engine_farm: Make) -> None:
    farm = engine_farm(n=2)
    out = farm.share / "skip"
    out.mkdir()
    for f in (2, 3, 7):
        (out / f"img.{f:04d}.png").write_bytes(b"already rendered")
    result = farm.farmhand(
        "submit", "--wait", "--json", *demo_args(farm, "1-8", out="skip"), "--skip-existing"
    )
    snap = farm.client.job(farm.client.jobs()[-1].id, events=500)
    assert_complete(farm, snap)
    assert (out / "img.0002.png").read_bytes() == b"already rendered"
    rendered = {
        line.text.split("img.")[1][:4] for line in farm.client.logs(snap.id) if line.text.startswith("Saved:")
    }
    assert rendered == {"0001", "0004", "0005", "0006", "0008"}
    assert '"state": "done"' in result.stdout
    failed = farm.farmhand(
        "submit",
        "--wait",
        "--preset",
        "hrender",
        "--file",
        str(farm.share / "gone.hip"),
        "--rop",
        "/out/m",
        "--frames",
        "1-4",
        check=False,
    )
    assert failed.returncode == 1 and "gone.hip" in failed.stderr.splitlines()[-1]


def test_command_preset_substitutes_whole_arguments(engine_farm: Make) -> None:
    farm = engine_farm(n=2)
    out = farm.share / "cmd out; $(touch PWNED4)" / "f.$F4.png"
    template = (
        "python3 {farmhand}/lab/demo_render.py --start {start} --end {end} --step {step} "
        "--output {output} --seconds-per-frame 0.1"
    )
    job = farm.submit(
        "--preset", "command", "--command", template, "--frames", "1-10x3", "--output", str(out)
    )
    snap = farm.wait(job)
    assert_complete(farm, snap)
    assert [r.frame for r in snap.frames] == [1, 4, 7, 10]
    assert not (farm.share / "PWNED4").exists() and not Path("PWNED4").exists()


def test_after_orders_jobs_across_a_dispatcher_kill_and_fails_with_its_dependency(engine_farm: Make) -> None:
    farm = engine_farm(n=2)
    cache = farm.submit(*demo_args(farm, "1-12", spf=0.3, out="cache"))
    render = farm.submit(*demo_args(farm, "1-4", out="render"), "--after", cache)
    broken = farm.submit("--preset", "hrender", "--file", str(farm.share / "gone.hip"), "--rop", "/out/m",
                         "--frames", "1-2")
    orphan = farm.submit(*demo_args(farm, "1-2", out="never"), "--after", broken)
    farm.wait_for(lambda: farm.client.job(cache).summary.frames_done >= 3, what="some cache frames")
    assert farm.client.job(render).state is JobState.WAITING
    assert "(for job " + cache + " to finish)" in farm.farmhand("status", render).stdout
    pid = farm.dispatcher_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    farm.assert_no_orphans(timeout=10)
    farm.farmhand("priority", cache, "60")  # starts a new dispatcher, which knows the order from the store
    first = farm.wait(cache)
    assert_complete(farm, first)
    second = farm.wait(render)
    assert_complete(farm, second)
    assert min(e.time for e in second.events if e.kind == "assigned") >= max(
        e.time for e in first.events if e.kind == "done"
    )
    failed = farm.wait(orphan)
    assert failed.state is JobState.FAILED and failed.summary.error is not None
    assert failed.summary.error.startswith(f"job {broken} it needs failed: ")
    assert not (farm.share / "never").exists()
    refused = farm.farmhand("submit", *demo_args(farm, "1-2"), "--after", "999", check=False)
    assert refused.returncode != 0 and refused.stderr.strip().splitlines()[-1].endswith(
        "there is no job 999; list jobs with 'farmhand jobs'"
    )


def test_scripts_not_visible_on_the_nodes_fails_with_what_to_set(engine_farm: Make) -> None:
    farm = engine_farm(n=2)
    # The dispatcher's view of the package: a folder no node has.
    farm.env["FARMHAND_NODE_PACKAGE"] = f"/nonexistent-{os.getpid()}/farmhand/scripts"
    result = farm.farmhand("submit", "--wait", *demo_args(farm, "1-4"), check=False)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "cannot see Farmhand's node scripts at /nonexistent-" in last
    assert "set FARMHAND_NODE_PACKAGE" in last
    assert not (farm.share / "out").exists()
