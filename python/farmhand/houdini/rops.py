"""Read a ROP the way Houdini renders it: frame range, output files, kind of job (the order of a ROP and
its dependencies is Houdini's own plan, :mod:`farmhand.houdini.graph`).

Everything here runs on Houdini's main thread and returns plain values (:class:`RopInfo`); nothing
outside :mod:`farmhand.houdini` ever sees a ``hou`` object.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace
from typing import Optional

import hou

from farmhand.errors import NotFound, UsageError
from farmhand.frames import Frame, FrameSpec, normalise
from farmhand.houdini import solaris, takes
from farmhand.houdini.compat import as_op_node

log = logging.getLogger(__name__)

#: The parameter holding the output file, per ROP type (namespaces and versions stripped).
OUTPUT_PARMS: dict[str, str] = {
    "ifd": "vm_picture",  # Mantra
    "karma": "picture",
    "usdrender": "outputimage",
    "usdrender_rop": "outputimage",
    "opengl": "picture",
    "geometry": "sopoutput",
    "rop_geometry": "sopoutput",
    "filecache": "file",
    "alembic": "filename",
    "rop_alembic": "filename",
    "Redshift_ROP": "RS_outputFileNamePrefix",
    "arnold": "ar_picture",
    "vray_renderer": "SettingsOutput_img_file_path",
    "comp": "copoutput",
}

#: ALF progress toggles, per ROP type. Turning them on makes the ROP print ``ALF_PROGRESS N%``.
ALF_PARMS: dict[str, str] = {
    "ifd": "vm_alfprogress",
    "karma": "alfprogress",
    "usdrender": "alfprogress",
    "geometry": "alfprogress",
    "rop_geometry": "alfprogress",
}

#: Types that only route work to their inputs; they render nothing themselves (Farmhand's own ROP too).
ROUTING_TYPES = frozenset({"merge", "fetch", "null", "ropnet", "switch", "batch", "farmhand"})

#: Types that write one file for the whole range or must run in order: never split across nodes.
WHOLE_RANGE_TYPES = frozenset({"alembic", "rop_alembic", "dop", "rop_dop", "filecache", "rop_fbx", "fbx"})

#: A spare toggle a TD adds to any ROP to keep its whole range on one node, in order.
SINGLE_NODE_PARM = "farmhand_single_node"

#: Karma's fourth frame-range choice: take the range from the USD stage.
TRANGE_FROM_STAGE = 3


@dataclass(frozen=True)
class RopInfo:
    """One renderable ROP, in the order and with the frames Houdini would render it."""

    path: str
    type_name: str  # e.g. "ifd", "rop_geometry"
    category: str  # "Driver", "Sop", "Lop"
    frames: FrameSpec
    output_parm: str
    output_pattern: str  # unexpanded, e.g. "$HIP/render/shot.$F4.exr"
    outputs: tuple[tuple[Frame, str], ...]  # every frame's expanded output path
    single_node: bool  # caches and simulations: one node renders the whole range in order
    alf_parm: str = ""
    note: str = ""
    usd: Optional[solaris.UsdRender] = None  # a Karma / USD Render ROP: what it renders

    @property
    def type_with_category(self) -> str:
        return f"{self.category}/{self.type_name}"


def base_type_name(node: hou.OpNode) -> str:
    """``labs::Driver/karma::2.0`` → ``karma``: the name the tables above use."""
    parts = node.type().name().split("::")
    if len(parts) > 1 and parts[-1][:1].isdigit():
        parts = parts[:-1]  # a version suffix
    return parts[-1]


def find_rop(path: str) -> hou.RopNode:
    """The renderable ROP at ``path`` (a file cache SOP resolves to the ROP inside it)."""
    node = hou.node(path)
    if node is None:
        raise NotFound(f"no node at {path}; check the ROP path")
    if isinstance(node, hou.RopNode):
        return node
    container = as_op_node(node)
    if container is not None:
        inner = container.node("render")
        if isinstance(inner, hou.RopNode):
            return inner
    raise UsageError(f"{path} is not a render node (ROP); pick a node from /out or a ROP SOP")


def is_rop(node: object) -> bool:
    """True for nodes Farmhand can send to the farm (the OPmenu's context test)."""
    if isinstance(node, hou.RopNode):
        return base_type_name(node) != "ropnet"
    op = as_op_node(node)
    return op is not None and base_type_name(op) == "filecache"


def frame_range(rop: hou.RopNode, _seen: frozenset[str] = frozenset()) -> FrameSpec:
    """The frames ``rop.render()`` would render with no arguments (``trange`` 0/1/2/3).

    A Merge or Fetch has no frame range of its own: a Fetch renders its source's range, and a Merge
    requests the span of its inputs' ranges (the earliest start to the latest end, the smallest step), so
    an input that is not *Strict* renders all of it, as SideFX's Merge ROP help warns. This is the rule
    SideFX's own HQueue submitter uses.
    """
    trange = _int_parm(rop, "trange")
    if trange is None and rop.parm("f1") is None and rop.path() not in _seen:
        spanned = _span(_upstream(rop), _seen | {rop.path()})
        if spanned is not None:
            return spanned
    if trange is None or trange == 0:
        # "Render Current Frame" (also ROPs without a range): the frame the playbar is on.
        current = normalise(hou.frame())
        return FrameSpec.from_range(current, current, 1)
    if trange == TRANGE_FROM_STAGE and base_type_name(rop) in ("karma", "usdrender"):
        return _stage_range(rop)
    start = _float_parm(rop, "f1")
    end = _float_parm(rop, "f2")
    step = _float_parm(rop, "f3")
    if start is None or end is None:
        start = end = hou.frame()
    step = 1.0 if step is None else step
    if step <= 0:
        raise UsageError(f"{rop.path()}: the frame increment is {step:g}; set it to 1 or more")
    if end < start:
        raise UsageError(f"{rop.path()}: the frame range {start:g}-{end:g} ends before it starts; fix f1/f2")
    return FrameSpec.from_range(normalise(start), normalise(end), normalise(step))


def _upstream(rop: hou.RopNode) -> list[hou.RopNode]:
    """What a routing node renders: a Fetch's source, otherwise its ROP inputs."""
    if base_type_name(rop) == "fetch":
        source_parm = rop.parm("source")
        source = rop.node(source_parm.evalAsString()) if source_parm is not None else None
        return [source] if isinstance(source, hou.RopNode) else []
    return [n for n in rop.inputs() if isinstance(n, hou.RopNode)]


def _span(sources: list[hou.RopNode], seen: frozenset[str]) -> Optional[FrameSpec]:
    ranges = [frame_range(s, seen) for s in sources]
    if not ranges:
        return None
    steps = [r.frames[1] - r.frames[0] for r in ranges if len(r) > 1] or [1]
    return FrameSpec.from_range(min(r.first for r in ranges), max(r.last for r in ranges), min(steps))


def _stage_range(rop: hou.RopNode) -> FrameSpec:
    """Karma "from stage": the range the stage's render settings give, read back through the ROP's own
    f parms when Houdini has filled them (it mirrors the stage range there); otherwise $FSTART-$FEND."""
    start = _float_parm(rop, "f1")
    end = _float_parm(rop, "f2")
    if start is None or end is None:
        start = float(hou.text.expandString("$FSTART"))
        end = float(hou.text.expandString("$FEND"))
    step = _float_parm(rop, "f3") or 1.0
    return FrameSpec.from_range(normalise(start), normalise(end), normalise(step))


def output_parm_name(rop: hou.RopNode) -> str:
    return OUTPUT_PARMS.get(base_type_name(rop), "")


def outputs(rop: hou.RopNode, frames: FrameSpec) -> tuple[tuple[Frame, str], ...]:
    """Each frame's output path as Houdini expands it (for verification); () when the ROP has none."""
    name = output_parm_name(rop)
    parm = rop.parm(name) if name else None
    if parm is None:
        return ()
    return tuple((f, parm.evalAsStringAtFrame(float(f))) for f in frames)


def unexpanded(parm: hou.Parm) -> str:
    """A string parm as typed (``$HIP/render/$OS.$F4.exr``); for an expression or keyframes, where
    ``unexpandedString()`` raises, the expression itself (its evaluated paths are read per frame)."""
    try:
        return parm.unexpandedString()
    except hou.OperationFailed:
        try:
            return parm.expression()
        except hou.OperationFailed:
            return ""


def whole_range_reason(rop: hou.RopNode, batched: bool = False) -> str:
    """Why ``rop`` must render its whole range in order on one node ("" when it may be split).

    Simulations and caches: a ROP SOP or File Cache, Alembic/FBX/DOP ROPs, a Geometry ROP with
    *Initialize Simulation OPs* on (``initsim``: split across nodes, every node would restart the
    simulation), an input of a Batch ROP, or any ROP with the spare toggle ``farmhand_single_node`` on.
    """
    kind = base_type_name(rop)
    if kind in WHOLE_RANGE_TYPES or kind.startswith("dop") or rop.type().category().name() == "Sop":
        return "caches and simulations render in order on one node"
    if _int_parm(rop, "initsim"):
        return "it initializes simulations (Initialize Simulation OPs): it renders in order on one node"
    if batched:
        return "a Batch ROP renders it as one batch: it renders in order on one node"
    if _int_parm(rop, SINGLE_NODE_PARM):
        return f"its {SINGLE_NODE_PARM} toggle is on: it renders in order on one node"
    return ""


def read_rop(rop: hou.RopNode, frames: Optional[FrameSpec] = None, *, batched: bool = False,
             take: Optional[str] = None) -> RopInfo:
    """``rop`` rendering ``frames`` (default: its own frame range), read in the take it renders in
    (``take`` overrides its ``take`` parm); ``batched``: an input of a Batch ROP."""
    with takes.current(takes.render_take(rop, take)):
        return _read_rop(rop, frames, batched)


def _read_rop(rop: hou.RopNode, frames: Optional[FrameSpec], batched: bool) -> RopInfo:
    kind = base_type_name(rop)
    frames = frames if frames is not None else frame_range(rop)
    name = output_parm_name(rop)
    parm = rop.parm(name) if name else None
    pattern = unexpanded(parm) if parm is not None else ""
    category = rop.type().category().name()
    note = whole_range_reason(rop, batched)
    single = bool(note)
    alf = ALF_PARMS.get(kind, "")
    usd = solaris.read(rop, kind, hou.hipFile.path())
    paths = outputs(rop, frames)
    if usd is not None and not any(path for _f, path in paths):
        # No output override on the ROP (a USD Render ROP's is empty by default): the stage names them.
        paths, count = solaris.product_outputs(rop, usd, frames)
        usd = replace(usd, products=count)
    return RopInfo(
        path=rop.path(),
        type_name=kind,
        category=category,
        frames=frames,
        output_parm=name if parm is not None else "",
        output_pattern=pattern,
        outputs=paths,
        single_node=single,
        alf_parm=alf if alf and rop.parm(alf) is not None else "",
        note=note,
        usd=usd,
    )


@dataclass(frozen=True)
class SceneInfo:
    hip_path: str
    job_dir: str
    houdini_version: str
    unsaved: bool
    untitled: bool


def scene_info() -> SceneInfo:
    hip = hou.hipFile.path()
    return SceneInfo(
        hip_path=hip,
        job_dir=explicit_job(hip),
        houdini_version=hou.applicationVersionString(),
        # hython's hasUnsavedChanges() always answers True: only a graphical session can tell.
        unsaved=hou.hipFile.hasUnsavedChanges() if hou.isUIAvailable() else False,
        untitled=hou.hipFile.isNewFile(),
    )


def explicit_job(hip: str) -> str:
    """``$JOB`` as Houdini expands it, when it was really set (in the environment Houdini started with,
    or saved in the .hip); "" when it is unset or Houdini's default (the .hip's folder): the nodes then
    derive it from the .hip as they see it, instead of being forced to this machine's folder."""
    job = hou.text.expandString("$JOB")
    if not job or job == "$JOB":
        return ""
    same = os.path.normcase(os.path.normpath(job)) == os.path.normcase(os.path.dirname(os.path.abspath(hip)))
    return "" if same else job


#: Reference prefixes that are not files on disk (node paths, embedded asset sections, Houdini temp).
_NOT_FILES = ("op:", "opdef:", "oplib:", "temp:")


def file_references() -> list[tuple[str, str]]:
    """``(parm path, expanded path)`` for every external file the scene reads (ROP outputs, which the
    output checks cover, are left out). Asset libraries (.hda/.otl) come without a parameter (Houdini
    gives ``None`` there, whatever the stub says) and are named ``asset library``."""
    refs: list[tuple[str, str]] = []
    for parm, raw in hou.fileReferences():
        if not raw or raw.startswith(_NOT_FILES):
            continue
        if not isinstance(parm, hou.Parm):
            refs.append(("asset library", hou.text.expandString(raw)))
            continue
        node = parm.node()
        if isinstance(node, hou.RopNode) and parm.name() == output_parm_name(node):
            continue
        refs.append((parm.path(), hou.text.expandString(raw)))
    return refs


def _int_parm(node: hou.OpNode, name: str) -> Optional[int]:
    parm = node.parm(name)
    return parm.evalAsInt() if parm is not None else None


def _float_parm(node: hou.OpNode, name: str) -> Optional[float]:
    parm = node.parm(name)
    return parm.evalAsFloat() if parm is not None else None
