"""The Farmhand ROP (``Driver/farmhand``, ``otls/farmhand.hda``): its parameters as submit options.

The asset holds no logic: its Submit button calls :func:`farmhand.houdini.entry.hda_submit`, which
comes here and hands the ROPs wired into its inputs to :mod:`farmhand.houdini.interactive`. They render
in input order, each with its dependencies (a dependency they share once).
"""

from __future__ import annotations

from typing import Optional

import hou

from farmhand import labels
from farmhand.errors import UsageError
from farmhand.frames import FrameSpec, normalise
from farmhand.houdini import interactive, rops, solaris, takes
from farmhand.houdini.sending import Sent
from farmhand.houdini.submit import SubmitOptions
from farmhand.jobs import ChunkPolicy


def options_from_node(node: hou.OpNode) -> SubmitOptions:
    """Read the asset's parameters (frame range as Houdini's own ``trange``/``f`` parms)."""
    trange = _eval_int(node, "trange", 0)
    frames: Optional[str] = None
    if trange == 0:
        current = normalise(hou.frame())
        frames = str(FrameSpec.from_range(current, current))
    else:
        start, end, step = (_eval_float(node, n, d) for n, d in (("f1", 1.0), ("f2", 1.0), ("f3", 1.0)))
        frames = str(FrameSpec.from_range(normalise(start), normalise(end), normalise(step)))
    if _eval_int(node, "use_rop_range", 0):
        frames = None
    # The asset's chunk_policy menu tokens ("auto", "fixed") are ChunkPolicy's own spellings.
    chunk = ChunkPolicy.from_setting(_eval_str(node, "chunk_policy", "auto"),
                                     max(1, _eval_int(node, "chunk_size", 1)))
    nodes = tuple(n for n in _eval_str(node, "nodes", "").replace(",", " ").split() if n)
    preset = _eval_str(node, "preset", "") or None
    return SubmitOptions(
        preset=None if preset == "auto" else preset,
        frames=frames,
        nodes=nodes,
        chunk=chunk,
        priority=_eval_int(node, "priority", 50),
        single_node=True if _eval_int(node, "single_node", 0) else None,
        name=_eval_str(node, "job_name", "") or None,
        take=_take(node),
        usd=solaris.UsdMode(_eval_str(node, "usd_mode", "") or solaris.UsdMode.ROP.value),
        groups=labels.groups_text(_eval_str(node, "groups", "")),
        env=labels.env_text(_eval_str(node, "env", "")),
    )


def group_menu() -> list[str]:
    """The Node Groups menu: every group some trusted, enabled node is in (token, label, ...)."""
    from farmhand.nodes.registry import NodeState, Registry
    from farmhand.nodes.tags import group_names, node_tags

    registry = Registry()
    manual = registry.manual_tags()
    nodes = registry.list(enabled=True, state=NodeState.TRUSTED)
    groups = group_names(node_tags(n.inventory, manual.get(n.name, ())) for n in nodes)
    return [text for group in groups for text in (group, group)]


def _take(node: hou.OpNode) -> Optional[str]:
    """The take the asset's *Render With Take* names (None: each ROP's own take)."""
    value = _eval_str(node, "take", takes.CURRENT)
    return None if value in ("", takes.CURRENT) else value


def input_rops(node: hou.OpNode) -> list[str]:
    paths = [n.path() for n in node.inputs() if n is not None and rops.is_rop(n)]
    if not paths:
        raise UsageError(f"{node.path()} has no ROP wired into it; connect the ROPs to render to its inputs")
    return paths


def submit_from_node(node: hou.OpNode) -> Optional[Sent]:
    """All inputs in one submit (one preflight dialog): they render in input order, each after the one
    before, like the inputs of a Merge ROP, and a cache two inputs share renders once."""
    return interactive.submit_interactive(input_rops(node), options_from_node(node))


def _eval_int(node: hou.OpNode, name: str, default: int) -> int:
    parm = node.parm(name)
    return parm.evalAsInt() if parm is not None else default


def _eval_float(node: hou.OpNode, name: str, default: float) -> float:
    parm = node.parm(name)
    return parm.evalAsFloat() if parm is not None else default


def _eval_str(node: hou.OpNode, name: str, default: str) -> str:
    parm = node.parm(name)
    return parm.evalAsString() if parm is not None else default
