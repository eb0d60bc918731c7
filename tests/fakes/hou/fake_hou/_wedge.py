"""The Python module of the fake Wedge ROP (what ``wedge.hdaModule()`` returns)."""

from __future__ import annotations

import os
from typing import Any

from fake_hou._nodes import OpNode, resolve_path, scene_node
from fake_hou._session import SESSION
from fake_hou._values import OperationFailed


class WedgeModule:
    def getwedges(self, node: OpNode) -> tuple[list[list[tuple[str, Any]]], list[Any], str]:
        """(every wedge as (parm path, value) changes, stashed parms, error message)."""
        wedges = [[(str(p), v) for p, v in wedge] for wedge in node._spec.get("wedges", [])]
        return wedges, [], ""

    def applyspecificwedge(self, node: OpNode, wedge: list[tuple[str, Any]]) -> None:
        for parm_path, value in wedge:
            owner, _, name = resolve_path(node.path(), parm_path).rpartition("/")
            target = scene_node(owner)
            parm = target.parm(name) if target is not None else None
            if parm is None:
                raise OperationFailed(f"wedge names a missing parameter {parm_path}")
            parm.set(value)

    def setenvvariable(self, name: str, value: str) -> None:
        os.environ[name] = value
        SESSION.saved_vars[name] = value
