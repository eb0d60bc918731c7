"""The stand-in renderer, run for real through the demo preset, parsed and classified like any renderer."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

import pytest

from farmhand.frames import expand_output
from farmhand.presets import CommandContext, load_preset
from farmhand.presets.failures import Failure
from farmhand.presets.progress import FrameDone, FrameStarted, LineParser, OutputWritten

from .preset_run import run_preset

SCRIPTS = Path(__file__).resolve().parents[2] / "python" / "farmhand"
HOST = socket.gethostname()


def demo_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("farmhand_demo_render", SCRIPTS / "lab" / "demo_render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_png(path: Path) -> tuple[int, int, bytes]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, size = 8, b"", (0, 0)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        if kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    assert len(raw) == size[1] * (1 + 3 * size[0])
    return size[0], size[1], raw


def run_demo(
    tmp_path: Path,
    start: float,
    end: float,
    step: float = 1,
    output: Optional[str] = None,
    file: Optional[str] = None,
    env: Optional[dict[str, str]] = None,
    **extra: str,
) -> tuple[subprocess.CompletedProcess[str], LineParser, Optional[Failure]]:
    preset = load_preset("demo", search_dirs=[])
    ctx = CommandContext.for_frames(
        [start + i * step for i in range(int((end - start) / step) + 1)],
        file=file,
        output=output or str(tmp_path / "out" / "demo.$F4.png"),
        farmhand=str(SCRIPTS),
        extra={"python": sys.executable, "seconds_per_frame": "0", **extra},
    )
    proc, parser, failure, _ = run_preset(preset, ctx, frames=ctx.frames, env={**os.environ, **(env or {})})
    return proc, parser, failure


def test_renders_real_pngs_with_progress(tmp_path: Path) -> None:
    proc, parser, failure = run_demo(tmp_path, -2, 2, size="64x36")
    assert failure is None, proc.stderr
    assert parser.done == [-2, -1, 0, 1, 2]
    expected = [str(tmp_path / "out" / f"demo.{expand_output('$F4', f)}.png") for f in (-2, -1, 0, 1, 2)]
    assert parser.outputs == expected
    images = [read_png(Path(p)) for p in expected]
    assert all(img[:2] == (64, 36) for img in images)
    assert len({img[2] for img in images}) == 5  # every frame looks different
    assert "ALF_PROGRESS 100%" in proc.stdout
    assert not list((tmp_path / "out").glob("*.part*"))


def test_hash_pattern_and_step(tmp_path: Path) -> None:
    _, parser, failure = run_demo(tmp_path, 1, 7, 3, output=str(tmp_path / "h" / "f_####.png"), size="8x8")
    assert failure is None and parser.done == [1, 4, 7]
    assert sorted(p.name for p in (tmp_path / "h").iterdir()) == ["f_0001.png", "f_0004.png", "f_0007.png"]


def test_expansion_matches_farmhand_frames() -> None:
    module = demo_module()
    for pattern in ("a.$F4.png", "a.${F2}b.$F.png", "a.####.png", "a.$FF.png", "a.$FSTART.$F3_x.png"):
        for frame in (-12, -1, 0, 7, 1234, 2.5):
            assert module.expand_output(pattern, frame) == expand_output(pattern, frame), (pattern, frame)


@pytest.mark.parametrize(
    ("extra", "env", "speed"),
    [
        ({"speed_map": f"nothere=8,{HOST}=4"}, {}, "4"),
        ({"speed_map": "nothere=8,*=2"}, {}, "2"),
        ({}, {"FARMHAND_DEMO_SPEED": "0.5"}, "0.5"),
        ({}, {}, "1"),
    ],
)
def test_speed_knobs(tmp_path: Path, extra: dict[str, str], env: dict[str, str], speed: str) -> None:
    proc, _, failure = run_demo(tmp_path, 1, 1, env=env, size="4x4", **extra)
    assert failure is None
    assert f"on {HOST}, speed {speed}," in proc.stdout


def test_speed_file(tmp_path: Path) -> None:
    speed_file = tmp_path / "speeds"
    speed_file.write_text(f"other=1\n{HOST}=3\n")
    proc, _, _ = run_demo(tmp_path, 1, 1, size="4x4", speed_file=str(speed_file))
    assert "speed 3," in proc.stdout
    speed_file.write_text("2.5\n")
    proc, _, _ = run_demo(tmp_path, 1, 1, size="4x4", speed_file=str(speed_file))
    assert "speed 2.5," in proc.stdout


@pytest.mark.parametrize(
    ("mode", "kind", "status"),
    [
        ("segfault", "crash", -signal.SIGSEGV),
        ("oom", "oom", 137),
        ("licence", "licence", 3),
        ("disk_full", "disk_full", 1),
        ("error", "unknown", 1),
    ],
)
def test_fault_modes(tmp_path: Path, mode: str, kind: str, status: int) -> None:
    proc, parser, failure = run_demo(tmp_path, 1, 4, fail_at="3", fail_mode=mode, size="4x4")
    assert proc.returncode == status
    assert failure is not None and failure.kind.value == kind, (failure, proc.stderr)
    assert parser.done == [1, 2]
    assert not (tmp_path / "out" / "demo.0003.png").exists()


def test_fault_only_on_named_hosts_and_only_once(tmp_path: Path) -> None:
    _, parser, failure = run_demo(tmp_path, 1, 3, fail_at="2", fail_mode="oom", fail_hosts="some-other-host")
    assert failure is None and parser.done == [1, 2, 3]
    once = tmp_path / "failed-once"
    _, _, first = run_demo(
        tmp_path, 1, 3, fail_at="2", fail_mode="segfault", fail_hosts=HOST, fail_once_file=str(once)
    )
    _, parser, second = run_demo(tmp_path, 1, 3, fail_at="2", fail_mode="segfault", fail_once_file=str(once))
    assert first is not None and first.kind.value == "crash"
    assert second is None and parser.done == [1, 2, 3]
    assert once.read_text().startswith(HOST)


def test_hang_stops_output(tmp_path: Path) -> None:
    preset = load_preset("demo", search_dirs=[])
    ctx = CommandContext(
        start=1,
        end=3,
        output=str(tmp_path / "h.$F.png"),
        farmhand=str(SCRIPTS),
        extra={
            "python": sys.executable,
            "seconds_per_frame": "0",
            "fail_at": "2",
            "fail_mode": "hang",
            "size": "4x4",
        },
    )
    proc = subprocess.Popen(preset.command(ctx), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        seen: list[Any] = []
        parser = LineParser(preset)
        deadline = time.monotonic() + 20
        while FrameStarted(2) not in seen and time.monotonic() < deadline:
            seen += parser.feed("out", proc.stdout.readline())
        assert FrameDone(1) in seen and FrameStarted(2) in seen
        time.sleep(0.5)
        assert proc.poll() is None  # still alive, silent: the dispatcher's stall detector must act
    finally:
        proc.kill()
        proc.wait()


def test_scene_file(tmp_path: Path) -> None:
    scene = tmp_path / "scene.json"
    scene.write_text(json.dumps({"size": "10x6", "scene_load_seconds": 0.05}))
    proc, parser, failure = run_demo(tmp_path, 5, 5, file=str(scene))
    assert failure is None and parser.done == [5]
    assert read_png(tmp_path / "out" / "demo.0005.png")[:2] == (10, 6)
    assert "Scene loaded in" in proc.stdout


@pytest.mark.parametrize(
    ("content", "kind"), [(None, "missing_file"), ("{nope", "scene_load"), ("[]", "scene_load")]
)
def test_bad_scene_files(tmp_path: Path, content: Optional[str], kind: str) -> None:
    scene = tmp_path / "scene.json"
    if content is not None:
        scene.write_text(content)
    proc, _, failure = run_demo(tmp_path, 1, 2, file=str(scene))
    assert proc.returncode == 1
    assert failure is not None and failure.kind.value == kind and str(scene) in failure.message


def test_unwritable_output_is_an_error_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc, _, failure = run_demo(tmp_path, 1, 1, output=str(blocker / "sub" / "f.$F.png"), size="4x4")
    assert proc.returncode == 1 and failure is not None
    assert "Error: " in proc.stderr and str(blocker) in failure.message


def test_outputs_events_carry_their_frame(tmp_path: Path) -> None:
    preset = load_preset("demo", search_dirs=[])
    parser = LineParser(preset)
    events = [
        e
        for line in ["Fra:3 rendering frame 3 (1 of 1) on x", "Saved: '/o/3.png'"]
        for e in parser.feed("out", line)
    ]
    assert events == [FrameStarted(3), OutputWritten("/o/3.png", 3), FrameDone(3)]
