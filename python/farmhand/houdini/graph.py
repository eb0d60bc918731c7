"""Which ROPs a render runs, in which order and with which frames, as Houdini itself plans it.

Houdini's HScript ``render -p -c -F ROP`` prints the render plan without rendering: one line per step,
``order [ dependency orders ] /path/to/rop \\t( start end step )`` (a single frame is ``( N )``). That is
Houdini's own answer for Merge, Switch (only the selected input), Fetch, Batch, bypassed nodes, *Strict*
frame ranges and the frames a dependency renders for its output, so Farmhand does not re-implement those
rules; it only drops the steps that render nothing themselves (routing nodes, bypassed ROPs, its own ROP)
and reads each remaining ROP (:func:`farmhand.houdini.rops.read_rop`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import hou

from farmhand.errors import UsageError
from farmhand.frames import Frame, FrameSpec, contiguous_runs, format_frame, normalise
from farmhand.houdini import rops, takes

_STEP = re.compile(r"^\s*(\d+)\s*\[([^\]]*)\]\s*(\S+)\s*(.*)$")
_GROUP = re.compile(r"\(([^)]*)\)")
#: What a node path may contain; anything else never reaches an HScript command line.
_NODE_PATH = re.compile(r"^/[A-Za-z0-9_./-]*$")


@dataclass(frozen=True)
class PlanStep:
    """One line of Houdini's render plan."""

    order: int
    path: str
    depends_on: tuple[int, ...]
    frames: tuple[Frame, ...]


def parse_plan(text: str) -> list[PlanStep]:
    """The steps of ``render -p -c -F`` output (blank lines skipped).

    Raises:
        UsageError: a line that is not a plan step (Houdini printed something else).
    """
    steps: list[PlanStep] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _STEP.match(line)
        if match is None:
            raise UsageError(f"cannot read Houdini's render plan line {line.strip()!r}")
        order, deps, path, tail = match.groups()
        frames: list[Frame] = []
        for group in _GROUP.findall(tail):
            frames += _group_frames(group, line)
        steps.append(PlanStep(int(order), path, tuple(int(d) for d in deps.split()), tuple(frames)))
    return steps


def _group_frames(group: str, line: str) -> list[Frame]:
    try:
        numbers = [normalise(float(n)) for n in group.split()]
    except ValueError:
        raise UsageError(f"cannot read the frames in Houdini's render plan line {line.strip()!r}") from None
    if len(numbers) == 1:
        return numbers
    if len(numbers) in (2, 3):
        step = numbers[2] if len(numbers) == 3 else 1
        return list(FrameSpec.from_range(numbers[0], numbers[1], step))
    raise UsageError(f"cannot read the frames in Houdini's render plan line {line.strip()!r}")


def houdini_plan(rop_path: str, frames: Optional[FrameSpec] = None) -> dict[str, set[Frame]]:
    """Houdini's render plan for ``rop_path`` as ``{ROP path: frames}`` in render order, for ``frames``
    (default: the ROP's own range).

    A frame list that is not one range is planned one run at a time (``render -f start end -i step``);
    a ROP several runs need is listed once, where it first appears, with all its frames.
    """
    if not _NODE_PATH.match(rop_path):
        raise UsageError(f"{rop_path!r} is not a node path Farmhand can plan")
    runs: list[Optional[tuple[Frame, Frame, Frame]]] = list(contiguous_runs(frames)) if frames else [None]
    plan: dict[str, set[Frame]] = {}
    for run in runs:
        where = "" if run is None else "-f {} {} -i {} ".format(*(format_frame(f) for f in run))
        out, err = hou.hscript(f"render -p -c -F {where}{rop_path}")
        if not out.strip():
            raise UsageError(f"Houdini cannot plan a render of {rop_path}: "
                             f"{err.strip() or 'it lists nothing to render'}")
        for step in parse_plan(out):
            plan.setdefault(step.path, set()).update(step.frames)
    return plan


def renders_itself(node: hou.RopNode) -> bool:
    """False for steps that only route work to their inputs, or are bypassed."""
    return rops.base_type_name(node) not in rops.ROUTING_TYPES and not node.isBypassed()


def _batched(plan: dict[str, set[Frame]]) -> set[str]:
    """The inputs of the Batch ROPs in a plan: Houdini renders each as one batch of its whole range."""
    found: set[str] = set()
    for path in plan:
        node = hou.node(path)
        if isinstance(node, hou.RopNode) and rops.base_type_name(node) == "batch":
            found.update(n.path() for n in node.inputs() if n is not None)
    return found


def render_order(roots: hou.RopNode | Sequence[hou.RopNode], frames: Optional[FrameSpec] = None,
                 take: Optional[str] = None) -> list[rops.RopInfo]:
    """The ROPs rendering ``roots`` runs, dependencies first, each once with every frame it renders.

    Several roots (the Farmhand ROP's inputs) are planned in order like the inputs of one Merge ROP: a
    dependency they share is listed once, where it first appears, with every frame any of them needs.
    ``frames`` replaces each root's own range; ``take`` plans and reads everything in that take.
    """
    if take:
        with takes.current(take):
            return _render_order(roots, frames, take)
    return _render_order(roots, frames, None)


def _render_order(roots: hou.RopNode | Sequence[hou.RopNode], frames: Optional[FrameSpec],
                  take: Optional[str]) -> list[rops.RopInfo]:
    chosen = [roots] if isinstance(roots, hou.RopNode) else list(roots)
    order: dict[str, set[Frame]] = {}
    for root in chosen:
        if frames is None:
            rops.frame_range(root)  # a range Houdini cannot render fails here with what to fix
        for path, wanted in houdini_plan(root.path(), frames).items():
            order.setdefault(path, set()).update(wanted)
    batched = _batched(order)
    infos: list[rops.RopInfo] = []
    for path, wanted in order.items():
        node = hou.node(path)
        if not isinstance(node, hou.RopNode) or not renders_itself(node) or not wanted:
            continue
        frames_of = FrameSpec(tuple(sorted(wanted)))
        infos.append(rops.read_rop(node, frames_of, batched=path in batched, take=take))
    if not infos:
        names = ", ".join(r.path() for r in chosen)
        raise UsageError(f"{names} renders nothing (bypassed, or only routes to nothing)")
    return infos
