"""The hrender and hython-worker presets end to end through the *fake* Houdini install
(``tests/fakes/hfs``: fake ``houdini_setup_bash``, ``hython``, stock-like ``hrender.py``; scenes are the
fake's JSON ``.hip`` files) on real sshd nodes, and two dispatchers sharing the same nodes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from farmhand.jobs import JobState

from .conftest import REPO, EngineFarm, assert_complete

pytestmark = [pytest.mark.lab, pytest.mark.slow]

Make = Callable[..., EngineFarm]


def write_scene(
    path: Path,
    picture: str,
    failures: Optional[list[dict[str, Any]]] = None,
    spf: float = 0.15,
    load_seconds: float = 0.0,
) -> Path:
    doc = {
        "fake_houdini_scene": 1,
        "fps": 24,
        "frame": 1,
        "fstart": 1,
        "fend": 24,
        "load_seconds": load_seconds,
        "nodes": [
            {
                "path": "/out/mantra1",
                "type": "ifd",
                "seconds_per_frame": spf,
                "parms": {"vm_picture": picture, "vm_alfprogress": 1},
                "failures": failures or [],
            }
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def houdini_args(preset: str, hip: Path, frames: str, *extra: str, output: Optional[str] = None) -> list[str]:
    """``farmhand submit`` arguments for a Houdini preset rendering the scene's ``/out/mantra1``."""
    args = ["--preset", preset, "--file", str(hip), "--rop", "/out/mantra1", "--frames", frames]
    if output is not None:
        args += ["--output", output]
    return [*args, *extra]


def test_hrender_renders_through_the_fake_install(engine_farm: Make) -> None:
    farm = engine_farm(n=3)
    hostile = farm.share / "proj 'a' $(touch PWNED); ü"
    picture = str(hostile / "render" / "beauty.$F4.exr")
    hip = write_scene(hostile / "shot 010 \"v2\".hip", picture)
    job = farm.submit(*houdini_args("hrender", hip, "1-12", "--houdini-version", "21.0.512", output=picture))
    snap = farm.wait(job)
    assert_complete(farm, snap)
    assert len({r.node for r in snap.frames}) >= 2
    logs = "\n".join(line.text for line in farm.client.logs(job))
    assert "ALF_PROGRESS" in logs
    assert not any((d / "PWNED").exists() for d in (farm.share, hostile, Path.cwd(), Path("/")))


def test_hrender_exit_zero_after_a_failed_rop_is_not_success(engine_farm: Make) -> None:
    """The fake ROP prints a licence error on frame 3 and hrender still exits 0 (like the real one);
    frame 5 "succeeds" without writing its file. Both are caught and rendered again."""
    farm = engine_farm(n=2)
    picture = str(farm.share / "render" / "beauty.$F4.exr")
    hip = write_scene(
        farm.share / "shot.hip",
        picture,
        failures=[
            {"kind": "licence", "frames": [3], "times": 1},
            {"kind": "no_output", "frames": [5], "times": 1},
        ],
    )
    job = farm.submit(*houdini_args("hrender", hip, "1-8", "--chunk", "4", output=picture))
    snap = farm.wait(job)
    assert_complete(farm, snap)
    messages = [e.message for e in snap.events if e.kind == "chunk_failed"]
    assert any(m.startswith("licence") for m in messages), farm.describe(job)
    # (a missing output is found after its chunk ended, once the renderer is done writing)
    missing = [e.message for e in snap.events if e.kind in ("chunk_failed", "frame_failed")]
    assert any("output_missing" in m for m in missing), farm.describe(job)


@pytest.mark.parametrize("preset", ["hrender", "hython-worker"])
def test_missing_scene_fails_fast_with_the_message(engine_farm: Make, preset: str) -> None:
    farm = engine_farm(n=3)
    job = farm.submit(*houdini_args(preset, farm.share / "nope.hip", "1-50"))
    snap = farm.wait(job, timeout=60)
    assert snap.state is JobState.FAILED
    assert snap.summary.error and "nope.hip" in snap.summary.error, farm.describe(job)


def test_hython_worker_loads_the_scene_once_per_node(engine_farm: Make) -> None:
    farm = engine_farm(n=2)
    picture = str(farm.share / "render" / "w.$F4.exr")
    hip = write_scene(farm.share / "worker.hip", picture, load_seconds=1.0)
    job = farm.submit(*houdini_args("hython-worker", hip, "1-16", output=picture))
    snap = farm.wait(job)
    assert_complete(farm, snap)
    ready = Counter(e.node for e in snap.events if e.kind == "worker_ready")
    assert set(ready.values()) == {1} and len(ready) == 2, farm.describe(job)
    sessions = [e for e in snap.events if e.kind == "assigned"]
    assert len(sessions) == 2


def test_two_dispatchers_never_double_book_a_node(engine_farm: Make, tmp_path: Path) -> None:
    """A second FARMHAND_HOME (another artist) with its own dispatcher shares the nodes: at no moment do
    two renders run on one node, and a locked node is skipped, not failed."""
    farm = engine_farm(n=2)
    other_home = tmp_path / "artist2"
    env2 = dict(farm.env, FARMHAND_HOME=str(other_home))
    # The second artist knows the same nodes: copy the registry and trusted keys.
    other_home.mkdir()
    for name in ("nodes.sqlite", "known_hosts", "dispatcher.json"):
        (other_home / name).write_bytes((farm.home / name).read_bytes())
    overlaps: list[str] = []
    job1 = farm.submit(*_demo(farm, "a"))
    out = farm.lab.run_in_lab(
        [sys.executable, "-m", "farmhand", "submit", "--json", *_demo(farm, "b")], env=env2
    )
    assert out.returncode == 0, out.stderr
    job2 = str(json.loads(out.stdout)["id"])
    try:
        while True:
            by_node = Counter(
                _node_of(line) for line in farm.render_processes() if "farmhand_demo_render" in line
            )
            overlaps += [n for n, c in by_node.items() if c > 1]
            if farm.client.job(job1).state.finished:
                break
            time.sleep(0.02)
        snap1 = farm.wait(job1)
        assert_complete(farm, snap1)
        wait2 = farm.lab.run_in_lab(
            [sys.executable, "-m", "farmhand", "status", job2, "--follow", "--json"], env=env2, timeout=120
        )
        snap2 = json.loads(wait2.stdout)
        assert snap2["summary"]["state"] == "done"
        assert all(f["attempts"] == 0 for f in snap2["frames"])
    finally:
        subprocess.run(
            [sys.executable, "-m", "farmhand", "dispatcher", "--stop"],
            env=env2,
            check=False,
            capture_output=True,
        )
    assert overlaps == []
    assert all(r.attempts == 0 for r in snap1.frames)
    busy = [e for e in snap1.events if e.kind == "node_busy"] + [
        e for e in snap2["events"] if e["kind"] == "node_busy"
    ]
    assert busy, "the two dispatchers never met on a node; the test proved nothing"


def _demo(farm: EngineFarm, tag: str) -> list[str]:
    # Chunks (4 s) longer than the wrapper's 3 s wait for the node lock, so the two dispatchers meet.
    return ["--preset", "demo", "--frames", "1-8", "--output", str(farm.share / tag / "img.$F4.png"),
            "--param", "seconds_per_frame=1.0", "--chunk", "4"]


def _node_of(line: str) -> str:
    """Which node a render process runs on: the lab gives each node its own network namespace."""
    pid = line.split()[0]
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return "?"


__all__ = ["REPO"]


def test_hython_worker_gets_the_submitters_job_mapped_for_the_nodes(engine_farm: Make) -> None:
    """$JOB is saved in the .hip; the worker is told the submitter's $JOB (mapped for the nodes by the
    path map), forces it before loading, so outputs written under $JOB land where the artist expects."""
    farm = engine_farm(n=2)
    proj = farm.share / "proj"
    studio = f"/studio-{farm.home.name}-{os.getpid()}"  # the submitter's name of the share: not mounted here
    (farm.home / "pathmap.json").write_text(json.dumps({"rules": [{"from": studio, "to": str(farm.share)}]}))
    hip = farm.share / "job.hip"
    hip.write_text(json.dumps({
        "fake_houdini_scene": 1, "fps": 24, "frame": 1, "fstart": 1, "fend": 8,
        "vars": {"JOB": "/saved/on/the/artists/machine"},
        "nodes": [{"path": "/out/mantra1", "type": "ifd", "seconds_per_frame": 0.05,
                   "parms": {"vm_picture": "$JOB/render/w.$F4.exr", "vm_alfprogress": 1}}],
    }))
    job = farm.submit(*houdini_args("hython-worker", hip, "1-8", "--param", f"job={studio}/proj",
                                    output=str(proj / "render" / "w.$F4.exr")))
    snap = farm.wait(job)
    assert_complete(farm, snap)
    assert sorted(p.name for p in (proj / "render").iterdir()) == [f"w.{f:04d}.exr" for f in range(1, 9)]
    assert snap.spec.params == (("job", f"{studio}/proj"),)
