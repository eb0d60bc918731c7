"""Wedge ROPs: one job chain per wedge, each rendering the ROP the wedge drives with that wedge applied
on the node (the worker's ``--wedge``/``--wedge-num``, which call the Wedge ROP's own
``getwedges``/``applyspecificwedge``, as Deadline's Houdini submitters do).

Here, outputs are read with ``$WEDGENUM`` set to the wedge's number (the parameters a wedge changes are
applied only on the node, so the artist's scene is never touched).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

import hou

from farmhand.errors import UsageError
from farmhand.houdini import rops

WEDGE_TYPE = "wedge"


def is_wedge(node: object) -> bool:
    return isinstance(node, hou.RopNode) and rops.base_type_name(node) == WEDGE_TYPE


def driver(wedge: hou.RopNode) -> hou.RopNode:
    """The ROP a Wedge ROP renders: its first input, else the one its ``driver`` parm names."""
    inputs = [n for n in wedge.inputs() if n is not None]
    parm = wedge.parm("driver")
    named = parm.evalAsString() if parm is not None else ""
    node = inputs[0] if inputs else (wedge.node(named) if named else None)
    if not isinstance(node, hou.RopNode) or node.path() == wedge.path():
        raise UsageError(f"{wedge.path()} drives no ROP; wire one into it or set its Output Driver")
    return node


def count(wedge: hou.RopNode) -> int:
    """How many wedges ``wedge`` makes (the Wedge ROP's own ``getwedges``)."""
    allwedge, _stashed, error = wedge.hdaModule().getwedges(wedge)
    if error:
        raise UsageError(f"{wedge.path()}: {str(error).strip()}")
    if not allwedge:
        raise UsageError(f"{wedge.path()} makes no wedges; set its wedge parameters")
    return len(allwedge)


@contextmanager
def numbered(index: Optional[int]) -> Iterator[None]:
    """``$WEDGENUM`` set to ``index`` while parameters are read (nothing when None), then restored."""
    if index is None:
        yield
        return
    before = hou.getenv("WEDGENUM")
    hou.putenv("WEDGENUM", str(index))
    try:
        yield
    finally:
        if before is None:
            hou.unsetenv("WEDGENUM")
        else:
            hou.putenv("WEDGENUM", before)
