"""Line parser + failure classification against golden captures of renderer output.

Blender captures are real (tests/data/renderer_logs/capture_blender.py); Houdini, husk and worker
captures are hand-made from the reference notes and say so in their header. The expected answer is in
each file's header and its name (``NAME.KIND.log``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from farmhand.frames import FrameSpec, normalise
from farmhand.presets import load_preset
from farmhand.presets.failures import ErrorLine, classify
from farmhand.presets.progress import FrameDone, FrameProgress, LineParser, OutputWritten

from .golden import all_captures, load
from .preset_run import read_output


def test_there_are_real_and_hand_made_captures() -> None:
    sources = [load(p).header["source"] for p in all_captures()]
    assert sum(s.startswith("real capture") for s in sources) >= 3
    assert sum(s.startswith("HAND-MADE") for s in sources) >= 10
    assert len(sources) == len(all_captures())


@pytest.mark.parametrize("path", all_captures(), ids=lambda p: p.name)
def test_capture(path: Path) -> None:
    capture = load(path)
    preset = load_preset(capture.header["preset"], search_dirs=[])
    frames = FrameSpec.parse(capture.header["frames"]).frames if capture.header.get("frames") else ()
    lines = [("out", line) for line in capture.lines]
    _, failure, events = read_output(preset, lines, capture.exit_code, frames=frames,
                                     alf_scope=capture.header.get("scope") or None)

    expect = capture.header["expect"]
    assert path.name.split(".")[-2] == expect
    if expect == "ok":
        assert failure is None
    else:
        assert failure is not None and failure.kind.value == expect, failure
        assert failure.message and "\n" not in failure.message
    done = [e.frame for e in events if isinstance(e, FrameDone)]
    assert done == [normalise(float(f)) for f in capture.listed("done")]
    assert [e.path for e in events if isinstance(e, OutputWritten)] == capture.listed("outputs")
    for event in events:
        if isinstance(event, FrameProgress):
            assert 0 <= event.percent <= 100
            assert event.scope == (capture.header.get("scope") or "frame")
    if expect == "ok":
        assert not [e for e in events if isinstance(e, ErrorLine)]


def test_blender_progress_comes_from_samples() -> None:
    capture = load(next(p for p in all_captures() if p.name == "blender-cycles-3frames.ok.log"))
    parser = LineParser(load_preset("blender", search_dirs=[]))
    progress = [e for line in capture.lines for e in parser.feed("out", line) if isinstance(e, FrameProgress)]
    assert [(p.frame, p.percent) for p in progress if p.frame == 2] == [(2, 0.0), (2, 25.0), (2, 100.0)]


def test_denoiser_message_is_the_failure_message() -> None:
    capture = load(next(p for p in all_captures() if p.name == "blender-denoise.scene_load.log"))
    preset = load_preset("blender", search_dirs=[])
    parser = LineParser(preset)
    for line in capture.lines:
        parser.feed("err", line)
    failure = classify(preset.error_rules, 1, None, parser.errors, capture.lines)
    assert failure is not None
    assert failure.message == "Error: Build without OpenImageDenoiser"
    assert failure.deterministic and not failure.blame_node


def test_hrender_exit_zero_licence_is_caught_from_the_tail_alone() -> None:
    # Even when the parser missed the lines (e.g. the dispatcher restarted), the tail is enough.
    capture = load(next(p for p in all_captures() if "nolicence-exit0" in p.name))
    failure = classify(load_preset("hrender", search_dirs=[]).error_rules, 0, None, [], capture.lines)
    assert failure is not None and failure.kind.value == "licence"
    assert failure.retry_same_node and not failure.blame_node and failure.backoff_seconds > 0
