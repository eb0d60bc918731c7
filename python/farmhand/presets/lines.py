"""One line of a renderer's output as Farmhand reads it (capped, decoded leniently, numbers range-checked),
and the records of what a line can say.

Whatever a node prints is data from an untrusted source (a scene can print anything, at any length, in any
encoding). Every line goes through :func:`clean_line` before a pattern sees it, so no line costs more
than :data:`MAX_LINE_CHARS` of memory or of regular-expression work, and invalid UTF-8 never raises. A
number read from a line is used only when it is finite and in range (:func:`number`, :func:`frame`,
:func:`percent`); anything else is ignored, never raised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from farmhand.frames import Frame, frame_or_none

#: The longest line read, in characters (64 KiB); the rest of a longer line is dropped and marked.
MAX_LINE_CHARS = 64 * 1024
#: What ends a line that was cut at :data:`MAX_LINE_CHARS`.
TRUNCATED = " [... line truncated by Farmhand]"
#: The longest message kept from one line (an error line becomes a failure message shown to people).
MAX_MESSAGE_CHARS = 1000

# More characters than any real frame number or percentage has; longer text is not read as a number.
_MAX_NUMBER_CHARS = 40
#: A renderer overshooting 100% a little is clamped to 100; a larger figure is not a percentage at all.
MAX_PERCENT = 1000.0


def clean_line(line: Union[str, bytes]) -> str:
    """``line`` without its line ending, decoded as UTF-8 with replacement characters, at most
    :data:`MAX_LINE_CHARS` long (a cut line ends with :data:`TRUNCATED`)."""
    if isinstance(line, (bytes, bytearray)):
        line = bytes(line[:MAX_LINE_CHARS + 2]).decode("utf-8", "replace")
    text = line.rstrip("\r\n")
    if len(text) > MAX_LINE_CHARS:
        text = text[:MAX_LINE_CHARS - len(TRUNCATED)] + TRUNCATED
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates (from a surrogateescape decode) cannot be stored
            text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` as one stripped line of at most ``limit`` characters (line breaks become spaces)."""
    flat = " ".join(text.splitlines()).strip()
    return flat if len(flat) <= limit else flat[:limit - 3] + "..."


def number(value: object) -> Optional[float]:
    """A finite number from text or a JSON value, or None (missing, too long, not a number, NaN, infinite)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if len(value) > _MAX_NUMBER_CHARS:
            return None
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int):
        if abs(value) > 10**_MAX_NUMBER_CHARS:
            return None
        value = float(value)
    if not isinstance(value, float) or not math.isfinite(value):
        return None
    return value


def frame(value: object) -> Optional[Frame]:
    """A frame number (see :func:`farmhand.frames.frame_or_none`) from text or a JSON value, or None."""
    found = number(value)
    return None if found is None else frame_or_none(found)


def percent(value: object) -> Optional[float]:
    """A percentage from 0 to 100 (a small overshoot clamped), or None for anything else."""
    found = number(value)
    if found is None or not 0.0 <= found <= MAX_PERCENT:
        return None
    return min(found, 100.0)


def ratio_percent(done: object, total: object) -> Optional[float]:
    """``done`` of ``total`` (samples, tiles, buckets) as a percentage, or None when either is unusable."""
    part, whole = number(done), number(total)
    if part is None or whole is None or whole <= 0 or part < 0:
        return None
    return percent(100.0 * part / whole)


# --- what a line can say (the output parser's events; ErrorLine is in farmhand.presets.failures) ---


@dataclass(frozen=True)
class FrameStarted:
    frame: Frame


@dataclass(frozen=True)
class FrameProgress:
    """``percent`` (0–100) of the frame (scope ``"frame"``) or of the process's whole range (``"range"``)."""

    frame: Optional[Frame]
    percent: float
    scope: str = "frame"


@dataclass(frozen=True)
class FrameDone:
    """The renderer finished ``frame`` (None: it said so without naming one, and no frame was current)."""

    frame: Optional[Frame]


@dataclass(frozen=True)
class OutputWritten:
    path: str
    frame: Optional[Frame] = None


@dataclass(frozen=True)
class WorkerEvent:
    """A ``FARMHAND_EVENT`` line from the hython worker, as its JSON object (see worker_protocol)."""

    data: dict[str, Any] = field(hash=False)

    @property
    def event(self) -> str:
        return str(self.data.get("event", ""))
