"""The hrender preset run locally (no SSH) against the FAKE Houdini install in tests/fakes/hfs.

This checks the preset's fixed bash script, hrender's argument order and the parser/classifier on the
output of the fake stock hrender.py; the dispatcher's end-to-end runs over sshd are tested elsewhere.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Optional

import pytest

from farmhand.presets import CommandContext, load_preset
from farmhand.presets.failures import Failure
from farmhand.presets.progress import LineParser

from .preset_run import run_preset

FAKE_HFS = Path(__file__).resolve().parents[1] / "fakes" / "hfs" / "hfs21.0.512"


def scene(tmp_path: Path, name: str = "shot 'a' $(x).hip", **rop: Any) -> Path:
    node = {
        "path": "/out/mantra1",
        "type": "ifd",
        "seconds_per_frame": 0,
        "parms": {"vm_picture": str(tmp_path / "render" / "img.$F4.exr"), "vm_alfprogress": 1},
    }
    node.update(rop)
    path = tmp_path / name
    path.write_text(json.dumps({"fake_houdini_scene": 1, "fstart": 1, "fend": 10, "nodes": [node]}))
    return path


def render(
    hip: Path, target: str, start: float, end: float, step: float = 1
) -> tuple[subprocess.CompletedProcess[str], LineParser, Optional[Failure]]:
    preset = load_preset("hrender", search_dirs=[])
    ctx = CommandContext(file=str(hip), target=target, start=start, end=end, step=step, hfs=str(FAKE_HFS))
    proc, parser, failure, _ = run_preset(preset, ctx)
    return proc, parser, failure


@pytest.fixture(autouse=True)
def _needs_fake_install() -> None:
    assert (FAKE_HFS / "houdini_setup_bash").is_file(), "the fake Houdini install is missing from tests/fakes"


def test_renders_frames(tmp_path: Path) -> None:
    proc, parser, failure = render(scene(tmp_path), "mantra1", 2, 6, 2)
    assert failure is None, proc.stderr
    assert parser.done == [2, 4, 6]
    assert sorted(p.name for p in (tmp_path / "render").iterdir()) == [
        "img.0002.exr",
        "img.0004.exr",
        "img.0006.exr",
    ]


def test_licence_failure_with_exit_zero(tmp_path: Path) -> None:
    hip = scene(tmp_path, failures=[{"kind": "licence", "frames": [3]}])
    proc, parser, failure = render(hip, "/out/mantra1", 1, 4)
    assert proc.returncode == 0
    assert failure is not None and failure.kind.value == "licence" and not failure.blame_node
    assert parser.done == [1, 2]


@pytest.mark.parametrize(
    ("rop", "target", "kind"),
    [
        ({"failures": [{"kind": "missing_file", "frames": [2]}]}, "mantra1", "missing_file"),
        ({"failures": [{"kind": "crash", "frames": [2]}]}, "mantra1", "crash"),
        ({"failures": [{"kind": "oom", "frames": [2]}]}, "mantra1", "oom"),
        ({}, "/out/nope", "scene_load"),
    ],
)
def test_failures(tmp_path: Path, rop: dict[str, Any], target: str, kind: str) -> None:
    _, _, failure = render(scene(tmp_path, **rop), target, 1, 3)
    assert failure is not None and failure.kind.value == kind, failure


def test_missing_hip(tmp_path: Path) -> None:
    proc, _, failure = render(tmp_path / "missing.hip", "mantra1", 1, 3)
    assert proc.returncode == 1
    assert failure is not None and failure.kind.value == "missing_file" and failure.deterministic
    assert str(tmp_path / "missing.hip") in failure.message
