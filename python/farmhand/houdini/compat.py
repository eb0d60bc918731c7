"""The differences between the Houdini versions Farmhand supports (19.5 to 21.x) that the glue must
bridge at run time, in one place (the table with its sources is in ``docs/houdini.md``).

Annotations may name any class of the 21.0 stubs: with ``from __future__ import annotations`` they are
never evaluated. Only run-time uses (``isinstance``, attribute access on ``hou``) need this module.
"""

from __future__ import annotations

from typing import Any, Optional, cast

import hou


def op_node_class() -> Any:
    """``hou.OpNode`` from Houdini 20.0; before it, every node is a ``hou.Node`` with the same methods
    (19.5 raises ``AttributeError: module 'hou' has no attribute 'OpNode'``)."""
    return getattr(hou, "OpNode", None) or hou.Node


def as_op_node(node: object) -> Optional[hou.OpNode]:
    """``node`` if it is an operator node (parameters, inputs, children), else None."""
    return cast("hou.OpNode", node) if isinstance(node, op_node_class()) else None


def version() -> tuple[int, int]:
    """Houdini's major and minor version, e.g. ``(19, 5)``."""
    major, minor, _build = hou.applicationVersion()
    return major, minor
