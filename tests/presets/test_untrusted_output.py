"""Renderer output is data: long, badly encoded or hostile lines never raise, never grow memory without
bound, and never act as Farmhand's control lines outside the protocol that carries them."""

from __future__ import annotations

import json

import pytest

from farmhand.frames import FRAME_LIMIT
from farmhand.presets import load_preset, preset_from_dict
from farmhand.presets.failures import ErrorLine, FailureKind, classify
from farmhand.presets.lines import MAX_LINE_CHARS, TRUNCATED, clean_line, number, percent, ratio_percent
from farmhand.presets.progress import (
    MAX_REMEMBERED_TEXTS,
    FrameDone,
    FrameProgress,
    FrameStarted,
    LineParser,
    OutputWritten,
    WorkerEvent,
)
from farmhand.presets.worker_protocol import EVENT_PREFIX, encode_event, failure_kind, parse_event


def test_long_lines_are_capped_with_a_marker() -> None:
    line = "ALF_PROGRESS 40%" + " " * (10 * MAX_LINE_CHARS)
    text = clean_line(line)
    assert len(text) == MAX_LINE_CHARS and text.endswith(TRUNCATED)
    parser = LineParser(load_preset("hrender", search_dirs=[]))
    assert parser.feed("out", line) == [FrameProgress(None, 40.0, "frame")]


def test_error_messages_from_long_lines_stay_short_and_on_one_line() -> None:
    parser = LineParser(load_preset("hrender", search_dirs=[]))
    events = parser.feed("err", "Error: Cannot find file " + "x" * (3 * MAX_LINE_CHARS))
    assert len(events) == 1 and isinstance(events[0], ErrorLine)
    assert len(events[0].message) <= 1000
    result = classify(parser.rules, 1, None, parser.errors, ["Error: Cannot find file\nsecond line"])
    assert result is not None and "\n" not in result.message and len(result.message) <= 1000


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe ALF_PROGRESS 10%\n", b"Saved: '/o/\xc3(.png'\r\n", b"\xed\xa0\x80 lone surrogate bytes",
     "surrogate \udcff in text", b"\x00" * 10, b""],
)
def test_any_bytes_or_text_decode_without_raising(raw: bytes | str) -> None:
    text = clean_line(raw)
    text.encode("utf-8")  # storable as UTF-8 whatever came in
    parser = LineParser(load_preset("demo", search_dirs=[]))
    parser.feed("out", raw)


@pytest.mark.parametrize(
    "line",
    [
        "17:00:00  m frame " + "9" * 400,         # a float overflows to infinity
        "17:00:00  m frame 1" + "0" * 30,         # finite but far beyond any frame
        f"17:00:00  m frame {FRAME_LIMIT + 1}",
        "ALF_PROGRESS " + "9" * 400 + "%",
        "ALF_PROGRESS 5000%",
    ],
)
def test_numbers_out_of_range_are_ignored(line: str) -> None:
    parser = LineParser(load_preset("hrender", search_dirs=[]))
    assert parser.feed("out", line) == []


def test_numbers() -> None:
    assert number("1e999") is None and number("nan") is None and number("1" * 50) is None
    assert number(True) is None and number(10**400) is None and number("12.5") == 12.5
    assert percent("250") == 100.0 and percent("-1") is None and percent("inf") is None
    assert ratio_percent("3", "12") == 25.0 and ratio_percent("1", "0") is None
    assert ratio_percent("1e300", "1e-300") is None


def blender_tiles() -> LineParser:
    preset = preset_from_dict({"argv": ["r", "{start}"], "patterns": {
        "progress": [r"^Fra:(?P<frame>\S+) (?P<done>[^/ ]+)/(?P<total>\S+)"]}}, "tiles", "test", probe=False)
    return LineParser(preset)


@pytest.mark.parametrize(
    ("line", "events"),
    [
        ("Fra:7 1/2", [FrameStarted(7), FrameProgress(7, 50.0, "frame")]),
        ("Fra:inf 1/2", [FrameProgress(None, 50.0, "frame")]),  # the bad frame alone is dropped
        ("Fra:1e400 1/2", [FrameProgress(None, 50.0, "frame")]),
        ("Fra:1 nan/2", []),
        ("Fra:1 1/inf", []),
        ("Fra:1 1/0", []),
        ("Fra:1 -3/2", []),
        ("Fra:1 30/2", []),
    ],
)
def test_fraction_progress_with_bad_numbers_is_ignored(line: str, events: list[object]) -> None:
    assert blender_tiles().feed("out", line) == events


EVENT = encode_event("done", frame=3, seconds=1.0, outputs=["/o/3.exr"])


@pytest.mark.parametrize("preset", ["hrender", "husk", "blender", "demo", "command"])
def test_event_lines_are_plain_output_outside_worker_mode(preset: str) -> None:
    parser = LineParser(load_preset(preset, search_dirs=[]), frames=[3])
    assert parser.feed("out", EVENT) == []
    assert parser.done == [] and parser.outputs == []


def test_wrapper_markers_are_plain_output_to_every_preset() -> None:
    for name in ("hrender", "husk", "blender", "demo", "command", "hython-worker"):
        parser = LineParser(load_preset(name, search_dirs=[]), frames=[1])
        for line in ("FARMHAND_BUSY node is rendering for another dispatcher", "FARMHAND_MISSING /share",
                     "FARMHAND_PGID 4242", "FARMHAND_PGID=4242"):
            assert parser.feed("out", line) == []
        assert parser.finish(success=False) == [] and parser.errors == []


def test_worker_mode_honours_valid_events() -> None:
    parser = LineParser(load_preset("hython-worker", search_dirs=[]))
    events = parser.feed("out", "partial houdini text " + EVENT)
    assert isinstance(events[0], WorkerEvent)
    assert events[1:] == [OutputWritten("/o/3.exr", 3), FrameDone(3)]


@pytest.mark.parametrize(
    "payload",
    [
        '{"event": "start", "frame": NaN}',
        '{"event": "start", "frame": Infinity}',
        '{"event": "progress", "frame": 1, "percent": -Infinity}',
        '{"event": "start", "frame": 1e400}',
        '{"event": "start", "frame": ' + "9" * 5000 + "}",
        '{"event": "start", "frame": 10000000000}',
        '{"event": "start", "frame": "12"}',
        '{"event": "start", "frame": true}',
        '{"event": "progress", "frame": 1, "percent": 1e6}',
        '{"event": "progress", "frame": 1, "percent": "40"}',
        '{"event": "done", "frame": 1, "outputs": "/o/1.exr"}',
        '{"event": "done", "frame": 1, "outputs": [1, 2]}',
        '{"event": "done", "frame": 1, "seconds": -1}',
        '{"event": "error", "frame": 1, "message": ["x"]}',
        '{"event": "ready", "warnings": [null]}',
        '{"event": "explode"}',
        '["event", "start"]',
        "[" * 100_000,
        '{"event": "start", "frame": 1',
    ],
)
def test_malformed_events_are_refused_as_data(payload: str) -> None:
    line = EVENT_PREFIX + payload
    assert parse_event(line) is None
    parser = LineParser(load_preset("hython-worker", search_dirs=[]))
    events = parser.feed("out", line)
    assert not any(isinstance(e, (WorkerEvent, FrameStarted, FrameDone, FrameProgress)) for e in events)


def test_worker_error_kinds_are_defined_once() -> None:
    assert failure_kind("licence") is FailureKind.LICENCE
    assert failure_kind("load") is FailureKind.SCENE_LOAD
    assert failure_kind("gremlins") is FailureKind.UNKNOWN and failure_kind(None) is FailureKind.UNKNOWN
    parser = LineParser(load_preset("hython-worker", search_dirs=[]))
    events = parser.feed("out", EVENT_PREFIX + json.dumps({"event": "error", "frame": None, "message": "a\nb",
                                                           "kind": "missing_file"}))
    assert events[1:] == [ErrorLine(FailureKind.MISSING_FILE, "a b")]


def test_what_a_parser_remembers_is_bounded_but_keeps_every_kind() -> None:
    parser = LineParser(load_preset("hrender", search_dirs=[]))
    for i in range(3 * MAX_REMEMBERED_TEXTS):
        parser.feed("err", f"Error: Cannot find file /x/{i}.exr")
        parser.feed("out", f"Generating Image: /o/{i}.exr (1x1)")
    parser.feed("err", "No licenses could be found to run this application.")
    assert len(parser.outputs) == MAX_REMEMBERED_TEXTS
    assert len(parser.errors) == MAX_REMEMBERED_TEXTS + 1
    assert parser.errors[-1].kind is FailureKind.LICENCE
    result = classify(parser.rules, 1, None, parser.errors, [])
    assert result is not None and result.kind is FailureKind.LICENCE


def test_frames_a_process_claims_are_bounded() -> None:
    parser = LineParser(load_preset("hrender", search_dirs=[]))
    for frame in range(20_000):
        parser.feed("out", f"17:00:00  m frame {frame}")
    assert len(parser.started) == len(parser.done) == 10_000
