"""The blender preset run locally against the real Blender (/usr/bin/blender), no SSH.

It builds a tiny Cycles scene from code and renders it through the preset's argv. The parser and
classifier see the live output, and the files that Blender reports must match the output pattern.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Optional

import pytest

from farmhand.frames import expand_output
from farmhand.presets import CommandContext, load_preset
from farmhand.presets.failures import Failure
from farmhand.presets.progress import FrameProgress, LineParser

from .preset_run import run_preset

pytestmark = pytest.mark.slow

BLENDER = shutil.which("blender") or "/usr/bin/blender"
SCENE = Path(__file__).resolve().parents[1] / "data" / "renderer_logs" / "blender_scene.py"


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert Path(BLENDER).exists(), "Blender is not installed: run tools/setup.sh (apt package blender)"
    root = tmp_path_factory.mktemp("blender scenes")
    for kind in ("ok", "denoise"):
        subprocess.run(
            [
                BLENDER,
                "-b",
                "--factory-startup",
                "--python",
                str(SCENE),
                "--",
                str(root / f"{kind} scene.blend"),
                kind,
                "2",
                "32x18",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return root


def render(
    scene: Path, output: str, start: int, end: int, step: int = 1
) -> tuple[subprocess.CompletedProcess[str], LineParser, Optional[Failure]]:
    preset = load_preset("blender", search_dirs=[])
    ctx = CommandContext(
        file=str(scene), start=start, end=end, step=step, output=output, extra={"blender": BLENDER}
    )
    proc, parser, failure, events = run_preset(preset, ctx, timeout=120)
    assert failure is not None or any(isinstance(e, FrameProgress) for e in events)
    return proc, parser, failure


def test_renders_and_reports_every_frame(scenes: Path, tmp_path: Path) -> None:
    pattern = str(tmp_path / "out dir" / "it's $F4.png")
    proc, parser, failure = render(scenes / "ok scene.blend", pattern, 2, 6, 2)
    assert failure is None, proc.stdout[-2000:]
    assert parser.done == [2, 4, 6]
    expected = [expand_output(pattern, f) for f in (2, 4, 6)]
    assert parser.outputs == expected
    assert all(Path(p).stat().st_size > 0 for p in expected)


def test_denoiser_scene_fails_deterministically(scenes: Path, tmp_path: Path) -> None:
    proc, parser, failure = render(scenes / "denoise scene.blend", str(tmp_path / "d_####.png"), 1, 1)
    assert proc.returncode == 1
    assert failure is not None and failure.kind.value == "scene_load" and failure.deterministic
    assert failure.message == "Error: Build without OpenImageDenoiser"
    assert parser.done == []


def test_missing_scene(tmp_path: Path) -> None:
    _, _, failure = render(tmp_path / "nope.blend", str(tmp_path / "m_####.png"), 1, 1)
    assert failure is not None and failure.kind.value == "missing_file"
    assert str(tmp_path / "nope.blend") in failure.message
