"""The ranges of values users give the engine, checked by the client before anything is stored and by
the dispatcher again before anything is applied (a command row can be written by any program).

Each check returns the value in its plain type or raises one :class:`~farmhand.errors.UsageError` line
(exit status 2 at the CLI). Nothing out of range reaches SQLite (whose integers stop at 2**63) or the
scheduler (where a NaN sorts as nothing else does).
"""

from __future__ import annotations

import math
from typing import Any

from farmhand.errors import UsageError
from farmhand.frames import Frame, normalise

#: The priority range the panel, the Farmhand ROP and the CLI share (higher runs first).
MIN_PRIORITY, MAX_PRIORITY = 0, 100
#: Frame numbers beyond this are typos (Houdini's own frame fields stop far below).
MAX_ABS_FRAME = 1_000_000_000


def shown(value: Any) -> str:
    """A user's value as an error quotes it: whole when short, else its start."""
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "..."


def priority(value: Any) -> int:
    """A whole number from :data:`MIN_PRIORITY` to :data:`MAX_PRIORITY`."""
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise UsageError(f"priority {shown(value)} is out of range; use a whole number from {MIN_PRIORITY} "
                         f"to {MAX_PRIORITY} (higher runs first)")
    return int(value)


def frame(value: Any) -> Frame:
    """A finite frame number at most :data:`MAX_ABS_FRAME` from zero."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    if not ok or not math.isfinite(value) or abs(value) > MAX_ABS_FRAME:
        raise UsageError(f"frame {shown(value)} is not a frame number; use one between {-MAX_ABS_FRAME} "
                         f"and {MAX_ABS_FRAME}")
    return normalise(value)
