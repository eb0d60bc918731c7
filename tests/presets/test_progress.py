"""LineParser: per-line facts from renderer output."""

from __future__ import annotations

import pytest

from farmhand.presets import load_preset, preset_from_dict
from farmhand.presets.failures import FailureKind
from farmhand.presets.progress import (
    ErrorLine,
    Event,
    FrameDone,
    FrameProgress,
    FrameStarted,
    LineParser,
    OutputWritten,
    WorkerEvent,
    alf_scope_for_rop_type,
)
from farmhand.presets.worker_protocol import encode_event


def feed_all(parser: LineParser, lines: list[str]) -> list[Event]:
    return [e for line in lines for e in parser.feed("out", line)]


@pytest.mark.parametrize(
    ("line", "percent"),
    [
        ("ALF_PROGRESS 17%", 17.0),
        ("ALF_PROGRESS 10.8333", 10.8333),
        ("  ALF_PROGRESS   5%  ", 5.0),
        ("[12:00:01] ALF_PROGRESS 100%", 100.0),
        ("ALF_PROGRESS 250%", 100.0),
    ],
)
def test_alf_forms(line: str, percent: float) -> None:
    parser = LineParser(load_preset("hrender", search_dirs=[]))
    assert parser.feed("out", line) == [FrameProgress(None, percent, "frame")]


def test_alf_range_scope_for_geometry_rops() -> None:
    parser = LineParser(load_preset("hrender", search_dirs=[]), alf_scope="range")
    events = feed_all(parser, ["10:00:01  geo1 frame 3", "ALF_PROGRESS 50%"])
    assert events == [FrameStarted(3), FrameProgress(None, 50.0, "range")]


@pytest.mark.parametrize(
    ("type_name", "scope"),
    [
        ("Driver/ifd", "frame"),
        ("Driver/geometry", "range"),
        ("rop_geometry", "range"),
        ("Driver/usdrender", "frame"),
        ("Driver/karma", "frame"),
        ("Driver/alembic", "range"),
        ("Sop/filecache::2.0", "range"),
        ("Driver/studio::mantra_plus::1.0", "frame"),
    ],
)
def test_alf_scope_for_rop_type(type_name: str, scope: str) -> None:
    assert alf_scope_for_rop_type(type_name) == scope


def test_hrender_frame_lines_imply_the_previous_frame_is_done() -> None:
    parser = LineParser(load_preset("hrender", search_dirs=[]))
    events = feed_all(
        parser,
        [
            "17:07:56  rop_geometry1 frame 5",
            "17:07:57  rop_geometry1 frame 6",
            "17:07:57  rop_geometry1 frame 6",
        ],
    )
    assert events == [FrameStarted(5), FrameDone(5), FrameStarted(6)]
    assert parser.finish(success=True) == [FrameDone(6)]
    assert parser.finish(success=True) == []


def test_failed_process_does_not_finish_its_last_frame() -> None:
    parser = LineParser(load_preset("hrender", search_dirs=[]))
    feed_all(parser, ["17:07:56  m frame 5"])
    assert parser.finish(success=False) == []
    assert parser.done == []


def test_negative_and_fractional_frames() -> None:
    parser = LineParser(load_preset("hrender", search_dirs=[]))
    events = feed_all(parser, ["17:07:56  m frame -3", "17:07:57  m frame 1.5"])
    assert events == [FrameStarted(-3), FrameDone(-3), FrameStarted(1.5)]


def test_husk_frames_are_inferred_from_alf_resets() -> None:
    parser = LineParser(load_preset("husk", search_dirs=[]), frames=[10, 11, 12])
    events = feed_all(
        parser,
        [
            "ALF_PROGRESS 0%",
            "ALF_PROGRESS 70%",
            "ALF_PROGRESS 20%",
            "ALF_PROGRESS 100%",
            "ALF_PROGRESS 100%",
            "ALF_PROGRESS 30%",
        ],
    )
    assert [e for e in events if not isinstance(e, FrameProgress)] == [
        FrameStarted(10),
        FrameDone(10),
        FrameStarted(11),
        FrameDone(11),
        FrameStarted(12),
    ]
    progress = [(e.frame, e.percent) for e in events if isinstance(e, FrameProgress)]
    assert progress == [(10, 0.0), (10, 70.0), (11, 20.0), (11, 100.0), (None, 100.0), (12, 30.0)]


def test_no_inference_without_known_frames() -> None:
    parser = LineParser(load_preset("husk", search_dirs=[]))
    assert feed_all(parser, ["ALF_PROGRESS 100%", "ALF_PROGRESS 0%"]) == [
        FrameProgress(None, 100.0, "frame"),
        FrameProgress(None, 0.0, "frame"),
    ]


def test_error_lines_use_preset_then_common_patterns() -> None:
    parser = LineParser(load_preset("hrender", search_dirs=[]))
    assert parser.feed("err", "Error: Cannot find file /x.hip.") == [
        ErrorLine(FailureKind.MISSING_FILE, "Error: Cannot find file /x.hip.")
    ]
    assert parser.feed("err", "terminate called after throwing an instance of 'std::bad_alloc'") == [
        ErrorLine(FailureKind.OOM, "terminate called after throwing an instance of 'std::bad_alloc'")
    ]
    assert parser.feed("out", "everything is fine") == []
    assert len(parser.errors) == 2


def test_worker_events_are_passed_on_and_translated() -> None:
    parser = LineParser(load_preset("hython-worker", search_dirs=[]))
    ready = encode_event("ready", hip="/a.hip", rop="/out/m", load_seconds=4.9, warnings=[])
    events = feed_all(
        parser,
        [
            ready,
            encode_event("start", frame=12.0),
            encode_event("progress", frame=12.0, percent=40.0),
            encode_event("start", frame=13.0),
            encode_event("done", frame=12.0, seconds=0.5, outputs=["/r/a.0012.exr"]),
            encode_event("error", frame=13.0, message="cannot open texture", kind="missing_file"),
            "FARMHAND_EVENT {not json",
        ],
    )
    assert isinstance(events[0], WorkerEvent) and events[0].event == "ready"
    generic = [e for e in events if not isinstance(e, WorkerEvent)]
    assert generic == [
        FrameStarted(12),
        FrameProgress(12, 40.0, "frame"),
        FrameStarted(13),
        OutputWritten("/r/a.0012.exr", 12),
        FrameDone(12),
        ErrorLine(FailureKind.MISSING_FILE, "cannot open texture"),
    ]
    # the worker's frame 13 is only done on its own "done" event
    assert parser.finish(success=True) == []
    assert parser.done == [12]


def test_worker_fatal_kinds() -> None:
    parser = LineParser(load_preset("hython-worker", search_dirs=[]))
    events = parser.feed("out", encode_event("fatal", message="no licence", kind="licence"))
    assert events[1] == ErrorLine(FailureKind.LICENCE, "no licence")


def test_done_pattern_with_its_own_frame_and_plain_groups() -> None:
    preset = preset_from_dict(
        {
            "argv": ["r", "{start}"],
            "patterns": {
                "frame_start": [r"begin (\d+)"],
                "frame_done": [r"end (?P<frame>\d+)"],
                "progress": [r"^(?P<done>\d+) of (?P<total>\d+) tiles"],
                "output": [r"wrote (\S+)"],
            },
        },
        "custom",
        "test",
    )
    parser = LineParser(preset)
    events = feed_all(
        parser, ["begin 4", "3 of 12 tiles", "wrote /o/4.exr", "end 4", "end 4", "0 of 0 tiles"]
    )
    assert events == [
        FrameStarted(4),
        FrameProgress(4, 25.0, "frame"),
        OutputWritten("/o/4.exr", 4),
        FrameDone(4),
    ]


def test_exit_zero_errors_stop_finish_from_completing_the_frame() -> None:
    parser = LineParser(load_preset("hrender", search_dirs=[]))
    feed_all(parser, ["11:20:01  usdrender1 frame 1", "No licenses could be found to run this application."])
    assert parser.not_success == ["No licenses could be found to run this application."]
    assert parser.finish(success=True) == []
    assert parser.done == []


def test_progress_pattern_with_one_plain_group_is_the_percentage() -> None:
    """docs/presets.md: a pattern with one plain group and no named groups uses that group. For
    progress that group is the percentage, never a frame number."""
    preset = preset_from_dict(
        {"argv": ["r", "{start}"],
         "patterns": {"progress": [r"^Progress (\d+)%"], "frame_start": [r"^F (\d+)"]}},
        "custom",
        "test",
    )
    events = feed_all(LineParser(preset), ["F 7", "Progress 40%"])
    assert events == [FrameStarted(7), FrameProgress(7, 40.0, "frame")]
