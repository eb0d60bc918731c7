"""Frame specs, renderer runs and output patterns."""

from __future__ import annotations

import pytest

from farmhand.errors import UsageError
from farmhand.frames import (
    MAX_FRAMES,
    FrameSpec,
    contiguous_runs,
    expand_output,
    has_frame_token,
    outputs_for,
    run_count,
    to_hash_padding,
)


@pytest.mark.parametrize(
    ("text", "frames"),
    [
        ("1-5", (1, 2, 3, 4, 5)),
        ("1-10x3", (1, 4, 7, 10)),
        ("1-240x2", tuple(range(1, 241, 2))),
        ("1,5,10-12", (1, 5, 10, 11, 12)),
        ("7", (7,)),
        ("-10--8", (-10, -9, -8)),
        ("-2-2", (-2, -1, 0, 1, 2)),
        (" 1 - 3 , 9 ", (1, 2, 3, 9)),
        ("5,1,3,1-2", (1, 2, 3, 5)),
        ("1-2x0.5", (1, 1.5, 2)),
        ("1-1.3x0.1", (1, 1.1, 1.2, 1.3)),
        ("1.0-3X1", (1, 2, 3)),
    ],
)
def test_parse(text: str, frames: tuple[float, ...]) -> None:
    assert FrameSpec.parse(text).frames == frames


def test_integral_floats_become_ints() -> None:
    spec = FrameSpec.parse("1.0-3.0")
    assert all(type(f) is int for f in spec.frames)
    assert spec.is_integral
    assert not FrameSpec.parse("1-2x0.5").is_integral


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("10-1", "goes backwards; write it as 1-10"),
        ("1-10x0", "step in '1-10x0' must be a positive number"),
        ("1-10x", "must be a positive number"),
        ("1-10x-2", "must be a positive number"),
        ("abc", "cannot read 'abc'"),
        ("1-", "cannot read '1-'"),
        ("", "frame spec is empty"),
        ("1,,2", "empty item between commas"),
        ("1-5-7", "cannot read"),
        ("$(rm -rf /)", "cannot read"),
        ("9" * 400, "goes beyond frame"),
        ("1-1000000001", "'1000000001' goes beyond frame 1000000000"),
        ("1-2xinf", "must be a positive number"),
        ("1-2x" + "9" * 400, "must be a positive number"),
        ("1-2x0.0000001", "must be a positive number"),
        ("1e5", "cannot read"),
    ],
)
def test_bad_specs_give_one_clear_line(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as info:
        FrameSpec.parse(text)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("start", "end", "step"),
    [(float("nan"), 1, 1), (1, float("inf"), 1), (1, 2, float("nan")), (1, 2, 0), (-(10**30), 1, 1),
     (1, 2, -1)],
)
def test_from_range_refuses_what_is_not_a_frame(start: float, end: float, step: float) -> None:
    with pytest.raises(UsageError):
        FrameSpec.from_range(start, end, step)


def test_non_finite_frames_are_refused_not_raised() -> None:
    for bad in (float("nan"), float("inf"), -float("inf"), 1e300):
        with pytest.raises(UsageError):
            FrameSpec((1, bad))


def test_sub_frames_never_drift_or_print_an_exponent() -> None:
    spec = FrameSpec.parse("999999999-999999999.01x0.000001")
    assert len(spec) == 10_001 and spec.last == 999999999.01 and spec.frames[1] == 999999999.000001
    assert FrameSpec.parse("0.00001-0.00003x0.00001").frames == (0.00001, 0.00002, 0.00003)
    assert str(FrameSpec.parse("0.00001-0.00003x0.00001")) == "0.00001-0.00003x0.00001"


def test_huge_range_is_refused() -> None:
    with pytest.raises(UsageError, match="more than the limit"):
        FrameSpec.parse(f"1-{MAX_FRAMES + 1}")
    assert len(FrameSpec.parse(f"1-{MAX_FRAMES}")) == MAX_FRAMES


@pytest.mark.parametrize(
    ("text", "compact"),
    [
        ("1-240", "1-240"),
        ("1-240x2", "1-239x2"),
        ("1,5,10-20", "1,5,10-20"),
        ("-10--1", "-10--1"),
        ("-5-5", "-5-5"),
        ("7", "7"),
        ("1,2,3,10", "1-3,10"),
        ("1-2x0.5", "1-2x0.5"),
        ("1,3", "1-3x2"),
    ],
)
def test_str_is_compact_and_round_trips(text: str, compact: str) -> None:
    spec = FrameSpec.parse(text)
    assert str(spec) == compact
    assert FrameSpec.parse(str(spec)) == spec


def test_from_range_and_container() -> None:
    spec = FrameSpec.from_range(1, 9, 4)
    assert spec.frames == (1, 5, 9)
    assert 5 in spec and 5.0 in spec and 2 not in spec and "5" not in spec
    assert (spec.first, spec.last, len(spec), list(spec)) == (1, 9, 3, [1, 5, 9])
    with pytest.raises(UsageError):
        FrameSpec.from_range(9, 1)
    with pytest.raises(UsageError):
        FrameSpec.from_range(1, 9, 0)


@pytest.mark.parametrize(
    ("frames", "runs"),
    [
        ([1, 2, 3], [(1, 3, 1)]),
        ([1, 3, 5, 6, 7], [(1, 5, 2), (6, 7, 1)]),
        ([7], [(7, 7, 1)]),
        ([3, 1, 2, 2], [(1, 3, 1)]),
        ([1, 5, 10, 11, 12], [(1, 1, 1), (5, 5, 1), (10, 12, 1)]),
        ([1, 2, 3, 10], [(1, 3, 1), (10, 10, 1)]),
        ([-3, -2, -1, 0], [(-3, 0, 1)]),
        ([1, 1.5, 2], [(1, 2, 0.5)]),
        ([], []),
    ],
)
def test_contiguous_runs(frames: list[float], runs: list[tuple[float, float, float]]) -> None:
    assert contiguous_runs(frames) == runs


def test_runs_cover_exactly_the_frames() -> None:
    frames = FrameSpec.parse("1-20x3,21,22,40-44,50").frames
    covered = [f for s, e, st in contiguous_runs(frames) for f in FrameSpec.from_range(s, e, st).frames]
    assert tuple(sorted(covered)) == frames
    assert sum(run_count(s, e, st) for s, e, st in contiguous_runs(frames)) == len(frames)


@pytest.mark.parametrize(
    ("pattern", "frame", "expected"),
    [
        ("/r/img.$F4.exr", 12, "/r/img.0012.exr"),
        ("/r/img.$F.exr", 12, "/r/img.12.exr"),
        ("/r/img.${F3}_beauty.exr", 7, "/r/img.007_beauty.exr"),
        ("/r/img.$F4_beauty.exr", 7, "/r/img.$F4_beauty.exr"),  # Houdini reads $F4_beauty as one name
        ("/r/img.$FF.exr", 1.5, "/r/img.1.5.exr"),
        ("/r/img.$FF.exr", 3, "/r/img.3.exr"),
        ("/r/img.${FF}.exr", 2.25, "/r/img.2.25.exr"),
        ("/r/img.$F4.exr", -1, "/r/img.-001.exr"),
        ("/r/img.$F4.exr", 1.5, "/r/img.0001.exr"),
        ("/r/img.####.png", 12, "/r/img.0012.png"),
        ("/r/img.#.png", 12, "/r/img.12.png"),
        ("/r/img_####.png", -1, "/r/img_-0001.png"),
        ("$HIP/render/$HIPNAME.$F4.exr", 3, "$HIP/render/$HIPNAME.0003.exr"),
        ("/r/$FSTART-$FEND.$FPS.exr", 3, "/r/$FSTART-$FEND.$FPS.exr"),
        ("/r/$F9.exr", 3, "/r/000000003.exr"),
        ("/r/no-token.exr", 3, "/r/no-token.exr"),
    ],
)
def test_expand_output(pattern: str, frame: float, expected: str) -> None:
    assert expand_output(pattern, frame) == expected


def test_hash_padding_and_tokens() -> None:
    assert to_hash_padding("/r/img.$F4.png") == "/r/img.####.png"
    assert to_hash_padding("/r/img.${F2}.$F.png") == "/r/img.##.#.png"
    assert to_hash_padding("/r/$FSTART.png") == "/r/$FSTART.png"
    with pytest.raises(UsageError, match=r"\$FF"):
        to_hash_padding("/r/img.$FF.png")
    assert has_frame_token("a.$F4.exr") and has_frame_token("a.###.exr") and has_frame_token("a.${F}.exr")
    assert not has_frame_token("a.$FEND.exr")
    assert outputs_for("o.$F2.png", [1, 2]) == {1: "o.01.png", 2: "o.02.png"}
