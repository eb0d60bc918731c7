"""What a user may type on the command line, checked by argparse before any command runs.

Each function here is an argparse ``type``: it returns the typed value or raises
:class:`argparse.ArgumentTypeError` with the reason, which the parser prints as one line and exit
status 2. A value out of range (a 22-digit priority, a NaN frame, a job id beyond SQLite's integers)
therefore never reaches the client, the store or the dispatcher.

:func:`command` adds a sub-command whose ``--help`` ends with examples.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from typing import Any, Callable, TypeVar

from farmhand.errors import UsageError
from farmhand.frames import Frame, FrameSpec, normalise
from farmhand.jobs import ChunkPolicy

T = TypeVar("T")

#: Job numbers are SQLite integers.
MAX_JOB_ID = 2**63 - 1
#: The range the panel, the Farmhand ROP and the CLI share.
MIN_PRIORITY, MAX_PRIORITY = 0, 100
#: Larger frame numbers are typos (Houdini's own frame range fields stop far below).
MAX_ABS_FRAME = 1_000_000_000
#: Longest number the CLI reads; longer digit strings are refused before being converted.
_MAX_DIGITS = 30


def _shown(text: str) -> str:
    """The user's value as an error quotes it: whole when short, else its start (a pasted megabyte
    stays one readable line)."""
    return repr(text) if len(text) <= 40 else repr(text[:40]) + "..."


def _checked(parse: Callable[[str], T]) -> Callable[[str], T]:
    """Let a parser raise Farmhand's :class:`UsageError` and report it the argparse way."""

    def check(text: str) -> T:
        try:
            return parse(text)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(exc.message) from None

    check.__name__ = parse.__name__
    return check


def _integer(text: str) -> int:
    value = text.strip()
    digits = value.lstrip("+-")
    if not digits.isdigit() or not digits.isascii() or len(digits) > _MAX_DIGITS:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a whole number")
    return int(value)


def job_id(text: str) -> str:
    """A job number as ``farmhand jobs`` lists it (``7``, or ``#7``)."""
    value = text.strip()
    number = _integer(value[1:] if value.startswith("#") else value)
    if not 1 <= number <= MAX_JOB_ID:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a job number; see 'farmhand jobs'")
    return str(number)


def priority(text: str) -> int:
    """A job priority, :data:`MIN_PRIORITY` to :data:`MAX_PRIORITY` (higher runs first)."""
    value = _integer(text)
    if not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is out of range; use {MIN_PRIORITY} to {MAX_PRIORITY} (higher runs first)")
    return value


def frame(text: str) -> Frame:
    """One frame number: finite, at most :data:`MAX_ABS_FRAME` from zero (``12``, ``-3``, ``12.5``)."""
    value = text.strip()
    try:
        number = float(value) if len(value) <= _MAX_DIGITS + 2 else math.nan
    except ValueError:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a number") from None
    if not math.isfinite(number) or abs(number) > MAX_ABS_FRAME:
        raise argparse.ArgumentTypeError(
            f"{_shown(text)} is not a frame number; use one between {-MAX_ABS_FRAME} and {MAX_ABS_FRAME}")
    return normalise(number)


@_checked
def frames(text: str) -> str:
    """A frame spec (``1-240``, ``1-240x2``, ``1,5,10-20``), kept as typed once it parses and is in range."""
    spec = FrameSpec.parse(text)
    if abs(spec.first) > MAX_ABS_FRAME or abs(spec.last) > MAX_ABS_FRAME:
        raise UsageError(f"frame spec {text!r} goes beyond frame {MAX_ABS_FRAME}; check the numbers")
    return text


@_checked
def chunk(text: str) -> ChunkPolicy:
    """``auto`` or a whole number of frames per chunk."""
    if len(text.strip()) > _MAX_DIGITS:
        raise UsageError(f"{_shown(text)} is not valid; use 'auto' or a number of frames")
    return ChunkPolicy.parse(text)


def count(low: int, high: int) -> Callable[[str], int]:
    """A whole number from ``low`` to ``high`` (node counts, limits)."""

    def parse(text: str) -> int:
        value = _integer(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{_shown(text)} is out of range; use {low} to {high}")
        return value

    parse.__name__ = "count"
    return parse


def seconds(high: float) -> Callable[[str], float]:
    """A finite number of seconds from 0 to ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text) if len(text) <= _MAX_DIGITS else math.nan
        except ValueError:
            raise argparse.ArgumentTypeError(f"{_shown(text)} is not a number of seconds") from None
        if not 0 <= value <= high:  # NaN fails too
            raise argparse.ArgumentTypeError(f"{_shown(text)} is out of range; use 0 to {high:g} seconds")
        return value

    parse.__name__ = "seconds"
    return parse


def param(text: str) -> tuple[str, str]:
    """A preset parameter, ``KEY=VALUE``."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{_shown(text)}: write it as KEY=VALUE")
    return key.strip(), value


def names(items: Sequence[str]) -> tuple[str, ...]:
    """Names given as several arguments, commas or both (``--nodes a b,c``), in order, once each."""
    return tuple(dict.fromkeys(n for item in items for n in item.replace(",", " ").split()))


def command(sub: Any, name: str, summary: str, *examples: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A sub-command whose ``--help`` says what it is for and ends with ``examples``."""
    epilog = None
    if examples:
        epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
    kwargs.setdefault("description", summary[0].upper() + summary[1:] + ".")
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=summary, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)
    return parser
