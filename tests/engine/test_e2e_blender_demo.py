"""A real Blender scene through the ``blender`` preset on real sshd nodes, and ``farmhand demo``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest

from farmhand.cli.demo import make_blender_scene
from farmhand.jobs import JobState

from .conftest import REPO, EngineFarm, assert_complete

pytestmark = [pytest.mark.lab, pytest.mark.slow]

BLENDER = shutil.which("blender")


def test_blender_scene_renders_across_nodes_with_outputs_verified(
    engine_farm: Callable[..., EngineFarm],
) -> None:
    assert BLENDER, "Blender is part of the test environment (tools/setup.sh installs it)"
    farm = engine_farm(n=2)
    scene = make_blender_scene(BLENDER, farm.share / "my scene.blend")
    out = farm.share / "blender out" / "frame_$F4.png"
    job = farm.submit("--preset", "blender", "--file", str(scene), "--frames", "1-6", "--output", str(out))
    snap = farm.wait(job, timeout=180)
    assert_complete(farm, snap)
    for f in range(1, 7):
        data = (farm.share / "blender out" / f"frame_{f:04d}.png").read_bytes()
        assert data.startswith(b"\x89PNG")
    assert any(line.text.startswith("Fra:") for line in farm.client.logs(job))


def test_blender_denoiser_error_fails_fast_with_blenders_message(
    engine_farm: Callable[..., EngineFarm],
) -> None:
    assert BLENDER
    farm = engine_farm(n=2)
    scene = farm.share / "denoise.blend"
    subprocess.run(
        [
            BLENDER,
            "-b",
            "--factory-startup",
            "--python-expr",
            "import bpy,sys; s=bpy.context.scene; s.render.engine='CYCLES'; s.cycles.samples=2; "
            "s.cycles.use_denoising=True; s.render.resolution_x,s.render.resolution_y=32,18; "
            "bpy.ops.wm.save_as_mainfile(filepath=sys.argv[-1])",
            "--",
            str(scene),
        ],
        check=True,
        capture_output=True,
    )
    job = farm.submit(
        "--preset",
        "blender",
        "--file",
        str(scene),
        "--frames",
        "1-20",
        "--output",
        str(farm.share / "dn" / "f_$F4.png"),
    )
    snap = farm.wait(job, timeout=120)
    assert snap.state is JobState.FAILED
    assert "OpenImageDenoiser" in (snap.summary.error or ""), farm.describe(job)


def test_farmhand_demo_renders_and_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "frames"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "farmhand",
            "demo",
            "--renderer",
            "demo",
            "--nodes",
            "2",
            "--frames",
            "1-6",
            "--output-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
        env={
            "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
            "PYTHONPATH": str(REPO / "python"),
            "HOME": str(tmp_path),
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "6 frames rendered on 2 nodes" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [f"demo_{f:04d}.png" for f in range(1, 7)]
    assert str(out) in result.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--nodes", "0"], "argument --nodes: '0' is out of range; use 1 to 16"),
        (["--frames", "10-1"], "argument --frames: frame range '10-1' goes backwards"),
    ],
)
def test_farmhand_demo_bad_input_is_one_line_before_any_node_starts(extra: list[str], message: str) -> None:
    """``--nodes 0`` used to start a dispatcher and wait forever for a job no node could take."""
    result = subprocess.run(
        [sys.executable, "-m", "farmhand", "demo", "--renderer", "demo", *extra],
        capture_output=True, text=True, timeout=30, cwd=REPO,
        env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "PYTHONPATH": str(REPO / "python")},
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"farmhand: error: {message}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "starting" not in result.stderr
