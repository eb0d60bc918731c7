"""Property-based tests of frame specs: whatever a user types, the answer is frames or one clear line."""

from __future__ import annotations

import math
from typing import Callable, Optional

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from farmhand.errors import UsageError
from farmhand.frames import (
    FRAME_LIMIT,
    MAX_FRAMES,
    FrameSpec,
    contiguous_runs,
    format_frame,
    frame_or_none,
    normalise,
    run_count,
)

FUZZ = settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Text that looks like a spec often enough to reach the deep branches, plus anything at all.
SPEC_ALPHABET = st.sampled_from([*"0123456789-.,xX eE+_", "\t", "\n", "١", "²", "∞", "nan", "inf"])
spec_like = st.lists(SPEC_ALPHABET, max_size=40).map("".join)
any_text = st.text(max_size=60)

# Frames as Farmhand keeps them: whole numbers or six decimals, within the limit.
whole = st.integers(-FRAME_LIMIT, FRAME_LIMIT)
micro = st.integers(-FRAME_LIMIT * 1_000_000, FRAME_LIMIT * 1_000_000).map(lambda m: normalise(m / 1_000_000))
frame = st.one_of(whole, micro, st.integers(-300, 300), st.integers(-3000, 3000).map(lambda n: n / 4))


def attempt(call: Callable[[], FrameSpec]) -> tuple[Optional[FrameSpec], str]:
    """The spec, or the UsageError's message (any other exception fails the test)."""
    try:
        return call(), ""
    except UsageError as exc:
        return None, str(exc)


def one_line_usage_error(text: str) -> None:
    spec, message = attempt(lambda: FrameSpec.parse(text))
    if spec is None:
        assert message and "\n" not in message and "\r" not in message
        return
    assert 1 <= len(spec) <= MAX_FRAMES
    assert all(frame_or_none(f) == f for f in spec.frames)


@FUZZ
@given(st.one_of(spec_like, any_text))
@example("1-2xinf")
@example("9" * 400)
@example("1-" + "9" * 40)
@example("-" + "9" * 30 + "-1")
@example("1-2x0.0000001")
@example("0-99999999x0.000001")
@example("1e400")
def test_any_text_gives_frames_or_one_usage_line(text: str) -> None:
    one_line_usage_error(text)


@FUZZ
@given(st.lists(frame, min_size=1, max_size=60))
def test_str_parses_back_to_the_same_frames(frames: list[float]) -> None:
    spec = FrameSpec(tuple(frames))
    assert FrameSpec.parse(str(spec)).frames == spec.frames


@FUZZ
@given(frame)
def test_format_frame_reads_back_exactly(value: float) -> None:
    text = format_frame(value)
    assert "e" not in text.lower()
    assert FrameSpec.parse(text).frames == (normalise(value),)


@FUZZ
@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**30), 10**30)))
def test_frame_or_none_accepts_exactly_the_finite_frames_in_range(value: float) -> None:
    result = frame_or_none(value)
    if math.isfinite(value) and abs(value) <= FRAME_LIMIT:
        assert result == normalise(value)
    else:
        assert result is None


@FUZZ
@given(
    st.one_of(frame, st.floats(), st.integers(-(10**20), 10**20)),
    st.one_of(frame, st.floats(), st.integers(-(10**20), 10**20)),
    st.one_of(st.sampled_from([1, 2, 0.5, 0.25, 0.1, 3]), st.floats(), st.integers(-5, 10**12)),
)
def test_from_range_gives_frames_or_one_usage_line(start: float, end: float, step: float) -> None:
    spec, message = attempt(lambda: FrameSpec.from_range(start, end, step))
    if spec is None:
        assert message and "\n" not in message
        return
    assert spec.first == normalise(start)
    assert spec.last <= normalise(end)
    assert len(spec) == run_count(normalise(start), normalise(end), normalise(step))


@FUZZ
@given(st.lists(frame, min_size=1, max_size=80))
def test_runs_cover_exactly_the_frames(frames: list[float]) -> None:
    expected = sorted({normalise(f) for f in frames})
    covered: list[float] = []
    for start, end, step in contiguous_runs(frames):
        covered.extend(FrameSpec.from_range(start, end, step).frames)
    assert sorted(covered) == expected
