"""Frame specs (``1-240x2``, ``1,5,10-20``, ``-10--1``), renderer argument runs, and output patterns.

Frames are ints, or floats when a spec asks for sub-frames (``1-2x0.5``); an integral float is always
normalised to an int so ``1.0`` and ``1`` are the same frame. Parsing happens here, at the edge: the rest
of Farmhand handles typed :class:`FrameSpec` values.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Optional, Union

from farmhand.errors import UsageError

Frame = Union[int, float]

#: A spec expanding to more frames than this is almost certainly a typo (``1-1000000``) and would
#: make the job store and every client slow; it is refused with a clear message.
MAX_FRAMES = 100_000

#: Frames beyond ± this are refused wherever they come from (a spec, a ROP, a renderer's output line):
#: no sequence counts that far, and a frame with six decimals then stays exact in a float and in SQLite.
FRAME_LIMIT = 1_000_000_000

# Frame arithmetic is done in whole millionths (frames keep six decimals), so ranges never drift.
_MICRO = 1_000_000

_NUM = r"-?(?:\d+(?:\.\d*)?|\.\d+)"
_ITEM = re.compile(rf"^({_NUM})(?:-({_NUM})(?:[xX](.*))?)?$")
_EXAMPLES = "use forms like 1-240, 1-240x2, 1,5,10-20 or -10--1"


def normalise(value: float) -> Frame:
    """``value`` as an int when it is integral, else a float rounded to 6 decimals (no 0.1 drift)."""
    if type(value) is int:  # the common case, kept cheap for 100k-frame specs
        return value
    rounded = round(float(value), 6)
    if not math.isfinite(rounded):
        return rounded  # callers at the edges refuse it (frame_or_none, checked_frame)
    if rounded == int(rounded):
        return int(rounded)
    return rounded


def frame_or_none(value: object) -> Optional[Frame]:
    """``value`` as a frame when it is a finite number within ±:data:`FRAME_LIMIT`, else None.

    For numbers from untrusted places (a renderer's output, a worker's JSON): a bad one is ignored.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int):
        return value if -FRAME_LIMIT <= value <= FRAME_LIMIT else None
    if not math.isfinite(value) or abs(value) > FRAME_LIMIT:
        return None
    return normalise(value)


def checked_frame(value: float, what: str = "frame") -> Frame:
    """``value`` as a frame, or a :class:`UsageError` naming ``what`` when it is not a finite number
    within ±:data:`FRAME_LIMIT`."""
    frame = frame_or_none(value)
    if frame is None:
        raise UsageError(f"{what} {value!r} is not a number between {-FRAME_LIMIT} and {FRAME_LIMIT}")
    return frame


def format_frame(frame: Frame) -> str:
    """The shortest text for a frame: ``12``, ``-3``, ``1.5`` (never an exponent: specs read it back)."""
    value = normalise(frame)
    if isinstance(value, int):
        return str(value)
    if not math.isfinite(value):
        return repr(value)
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _micro(frame: Frame) -> int:
    return round(frame * _MICRO)


def _number(text: str, spec: str) -> Frame:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"frame spec {spec!r}: {text!r} is not a number; {_EXAMPLES}") from None
    frame = frame_or_none(value)
    if frame is None:
        raise UsageError(f"frame spec {spec!r}: {text!r} goes beyond frame {FRAME_LIMIT}; frames go from "
                         f"{-FRAME_LIMIT} to {FRAME_LIMIT}")
    return frame


def _expand(start: Frame, end: Frame, step: Frame) -> list[Frame]:
    count = run_count(start, end, step)
    if count > MAX_FRAMES:
        raise UsageError(f"frame range {format_frame(start)}-{format_frame(end)} has {count} frames, "
                         f"more than the limit of {MAX_FRAMES}; split it into several jobs")
    if type(start) is int and type(step) is int:
        return list(range(start, start + count * step, step))
    first, stride = _micro(start), _micro(step)
    return [normalise((first + i * stride) / _MICRO) for i in range(count)]


def _positive_step(value: object) -> Optional[Frame]:
    # A step may span the whole allowed range (two frames far apart are one run of two).
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not (0 < value <= 2 * FRAME_LIMIT) or not math.isfinite(value):
        return None
    step = normalise(value)
    return step if step > 0 else None


def _step(text: str, spec: str, item: str) -> Frame:
    try:
        step = _positive_step(float(text))
    except ValueError:
        step = None
    if step is None:
        raise UsageError(f"frame spec {spec!r}: step in {item!r} must be a positive number, e.g. 1-240x2")
    return step


@dataclass(frozen=True)
class FrameSpec:
    """An ordered, de-duplicated set of frames to render."""

    frames: tuple[Frame, ...]

    def __post_init__(self) -> None:
        if not self.frames:
            raise UsageError("frame spec is empty; give at least one frame, e.g. 1-240")
        unique = {normalise(f) for f in self.frames}
        try:
            finite = math.isfinite(math.fsum(unique))  # NaN and infinities make the sum so, in one C loop
        except OverflowError:  # a value beyond any float, far past the limit
            finite = False
        if not finite:
            raise UsageError(f"frame spec has a frame that is not a number between {-FRAME_LIMIT} and "
                             f"{FRAME_LIMIT}")
        ordered = tuple(sorted(unique))
        for bound in (ordered[0], ordered[-1]):
            checked_frame(bound)
        if len(ordered) > MAX_FRAMES:
            raise UsageError(f"frame spec has {len(ordered)} frames, more than the limit of {MAX_FRAMES}; "
                             "split it into several jobs")
        object.__setattr__(self, "frames", ordered)

    @classmethod
    def parse(cls, text: str) -> FrameSpec:
        """Parse ``1-240``, ``1-240x2``, ``1,5,10-20``, ``-5-5``, ``7`` (spaces are ignored).

        Raises:
            UsageError: one line naming the part of the spec to fix.
        """
        spec = str(text).strip()
        if not spec:
            raise UsageError(f"frame spec is empty; {_EXAMPLES}")
        frames: list[Frame] = []
        for raw in spec.split(","):
            item = re.sub(r"\s+", "", raw)
            if not item:
                raise UsageError(f"frame spec {spec!r} has an empty item between commas; {_EXAMPLES}")
            match = _ITEM.match(item)
            if match is None:
                raise UsageError(f"frame spec {spec!r}: cannot read {item!r}; {_EXAMPLES}")
            start = _number(match.group(1), spec)
            if match.group(2) is None:
                frames.append(start)
                continue
            end = _number(match.group(2), spec)
            step: Frame = 1
            if match.group(3) is not None:
                step = _step(match.group(3), spec, item)
            if end < start:
                raise UsageError(f"frame range {item!r} goes backwards; write it as "
                                 f"{format_frame(end)}-{format_frame(start)}")
            frames.extend(_expand(start, end, step))
        return cls(tuple(frames))

    @classmethod
    def from_range(cls, start: Frame, end: Frame, step: Frame = 1) -> FrameSpec:
        """The frames ``start, start+step, ... <= end`` (a ROP's ``f1 f2 f3``).

        Raises:
            UsageError: a value is not a finite number in range, the step is not positive, or the range
                goes backwards or has too many frames.
        """
        start, end = checked_frame(start, "start frame"), checked_frame(end, "end frame")
        positive = _positive_step(step)
        if positive is None:
            raise UsageError(f"frame step {step!r} must be a positive number")
        step = positive
        if end < start:
            raise UsageError(f"frame range {format_frame(start)}-{format_frame(end)} goes backwards; "
                             f"write it as {format_frame(end)}-{format_frame(start)}")
        return cls(tuple(_expand(start, end, step)))

    def __str__(self) -> str:
        parts = []
        for start, end, step in contiguous_runs(self.frames):
            if start == end:
                parts.append(format_frame(start))
            elif step == 1:
                parts.append(f"{format_frame(start)}-{format_frame(end)}")
            else:
                parts.append(f"{format_frame(start)}-{format_frame(end)}x{format_frame(step)}")
        return ",".join(parts)

    def __len__(self) -> int:
        return len(self.frames)

    def __iter__(self) -> Iterator[Frame]:
        return iter(self.frames)

    def __contains__(self, frame: object) -> bool:
        return isinstance(frame, (int, float)) and normalise(frame) in self.frames

    @property
    def first(self) -> Frame:
        return self.frames[0]

    @property
    def last(self) -> Frame:
        return self.frames[-1]

    @property
    def is_integral(self) -> bool:
        """True when every frame is a whole number (Blender and hrender's ``-i`` need that)."""
        return all(isinstance(f, int) for f in self.frames)


def contiguous_runs(frames: Iterable[Frame]) -> list[tuple[Frame, Frame, Frame]]:
    """Group frames into ``(start, end, step)`` runs, one renderer invocation each.

    Frames are sorted and de-duplicated first. Runs are found greedily from the left: a run continues
    while the next frame keeps the run's step; a lone frame is ``(f, f, 1)``. Two frames that happen to
    be far apart are *not* joined into one run with a big step unless a third frame confirms the step,
    so ``1,2,3,10`` is ``(1,3,1),(10,10,1)`` rather than ``(1,3,1)`` plus a guess.
    """
    ordered = sorted({normalise(f) for f in frames})
    runs: list[tuple[Frame, Frame, Frame]] = []
    i = 0
    while i < len(ordered):
        start = ordered[i]
        if i + 1 >= len(ordered):
            runs.append((start, start, 1))
            break
        step = normalise(ordered[i + 1] - start)
        j = i + 1
        while j + 1 < len(ordered) and normalise(ordered[j + 1] - ordered[j]) == step:
            j += 1
        if j == i + 1 and step != 1 and i + 2 < len(ordered):
            # Only two frames share this step and more frames follow: the pair is a coincidence, so
            # the first frame stands alone and the second may start a longer run.
            runs.append((start, start, 1))
            i += 1
            continue
        runs.append((start, ordered[j], step))
        i = j + 1
    return runs


def run_count(start: Frame, end: Frame, step: Frame) -> int:
    """How many frames ``start..end`` by ``step`` covers (husk's ``-n``)."""
    if type(start) is int and type(end) is int and type(step) is int:
        return (end - start) // step + 1
    return (_micro(end) - _micro(start)) // _micro(step) + 1


# --- output patterns -------------------------------------------------------------------------------

# $F, $FF, $F2..$F9 and their ${...} forms. A name followed by more identifier characters is another
# variable ($FSTART, $FPS, $F4_beauty) and is left alone, as Houdini itself reads it.
_HOUDINI_FRAME = re.compile(r"\$\{(FF|F[2-9]?)\}|\$(FF|F[2-9]?)(?![A-Za-z0-9_])")
_HASHES = re.compile(r"#+")


def _padded(frame: Frame, width: int) -> str:
    # Houdini counts the minus sign in the width: frame -1 with $F4 is "-001".
    return f"{math.floor(frame):0{width}d}"


def _hash_padded(frame: Frame, width: int) -> str:
    # Blender pads the digits and then adds the sign: frame -1 with #### is "-0001" (seen in a real
    # Blender 3.4 capture, tests/data/renderer_logs/blender-relative-start.ok.log).
    whole = math.floor(frame)
    return ("-" if whole < 0 else "") + f"{abs(whole):0{width}d}"


def _float_frame(frame: Frame) -> str:
    return format_frame(frame)


def expand_output(pattern: str, frame: Frame) -> str:
    """The file name ``pattern`` gives for ``frame``.

    ``$F`` is the integer frame, ``$F4`` (and ``${F4}``) pads it to 4 characters counting the sign
    (Houdini: ``-001``), ``$FF`` is the (possibly fractional) frame, and every run of ``#`` pads the
    digits to its length with the sign in front (Blender: ``-0001``). Fractional frames use their integer
    part (floor). Other ``$VARIABLES`` are left untouched: they are expanded on the node, not here.
    """

    def houdini(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name == "FF":
            return _float_frame(frame)
        width = int(name[1:]) if len(name) > 1 else 1
        return _padded(frame, width)

    expanded = _HOUDINI_FRAME.sub(houdini, pattern)
    return _HASHES.sub(lambda m: _hash_padded(frame, len(m.group(0))), expanded)


def has_frame_token(pattern: str) -> bool:
    """True when ``pattern`` names a different file per frame."""
    return bool(_HOUDINI_FRAME.search(pattern) or _HASHES.search(pattern))


def to_hash_padding(pattern: str) -> str:
    """``pattern`` with Houdini frame tokens turned into ``#`` runs, for renderers such as Blender.

    ``$F4`` becomes ``####`` and ``$F`` becomes ``#``. ``$FF`` has no ``#`` form and is refused.
    """

    def hashes(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name == "FF":
            raise UsageError(f"output {pattern!r}: $FF (fractional frame) cannot be written as # padding; "
                             "use $F4 or ####")
        return "#" * (int(name[1:]) if len(name) > 1 else 1)

    return _HOUDINI_FRAME.sub(hashes, pattern)


def outputs_for(pattern: str, frames: Sequence[Frame]) -> dict[Frame, str]:
    """The expected output file of each frame (what output verification checks)."""
    return {normalise(f): expand_output(pattern, f) for f in frames}
