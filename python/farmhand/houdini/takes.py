"""Takes: a ROP renders in the take its ``take`` parm names (``_current_``: the scene's current take),
or in one the user picks at submit. Its frames and outputs are read in that take, since a take can
override any parameter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

import hou

from farmhand.errors import UsageError

#: The ``take`` parm's value for "the scene's current take".
CURRENT = "_current_"


def render_take(rop: hou.RopNode, requested: Optional[str] = None) -> str:
    """The take ``rop`` renders in: ``requested``, else its ``take`` parm, else the current take."""
    if requested:
        return requested
    parm = rop.parm("take")
    named = parm.evalAsString() if parm is not None else ""
    return named if named and named != CURRENT else hou.takes.currentTake().name()


def check(name: str) -> None:
    if hou.takes.findTake(name) is None:
        known = ", ".join(t.name() for t in hou.takes.takes())
        raise UsageError(f"this scene has no take {name!r} (it has: {known})")


@contextmanager
def current(name: str) -> Iterator[None]:
    """Make ``name`` the current take while reading parameters, then restore the artist's take."""
    before = hou.takes.currentTake()
    if before.name() == name:
        yield
        return
    check(name)
    take = hou.takes.findTake(name)
    assert take is not None  # check() raised otherwise
    hou.takes.setCurrentTake(take)
    try:
        yield
    finally:
        hou.takes.setCurrentTake(before)
