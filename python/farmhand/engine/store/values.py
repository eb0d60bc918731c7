"""Values checked on their way into SQLite: integers it can hold, numbers that are finite.

A value out of range is the caller's mistake (or a user's, missed upstream): it is refused with one
:class:`~farmhand.errors.UsageError` line here rather than as SQLite's ``OverflowError`` mid-transaction,
and a non-finite number shown to clients becomes "unknown" instead of a NaN that sorts as nothing does.
"""

from __future__ import annotations

import math
from typing import Optional

from farmhand.errors import UsageError

#: SQLite integers are signed 64-bit.
INT64 = (-(2**63), 2**63 - 1)


def whole(value: int, what: str) -> int:
    """``value`` when SQLite can store it as an integer, else one :class:`UsageError` line."""
    if isinstance(value, bool) or not isinstance(value, int) or not INT64[0] <= value <= INT64[1]:
        shown = repr(value) if len(repr(value)) <= 24 else repr(value)[:24] + "..."
        raise UsageError(f"{what} {shown} is out of range")
    return value


def finite(value: float, what: str) -> float:
    """``value`` when it is a finite number, else a :class:`UsageError` naming ``what`` (a NaN must never
    be stored: it would sort and compare as nothing else does)."""
    if not math.isfinite(value):
        raise UsageError(f"refusing to store {what} = {value!r}: not a finite number")
    return value


def shown(value: Optional[float]) -> Optional[float]:
    """A figure clients show (percent, speed, ETA): a value that is not finite is unknown (None)."""
    return value if value is None or math.isfinite(value) else None
