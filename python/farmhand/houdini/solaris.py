"""Solaris and Karma on the farm: a USD render ROP's stage written to a USD file once, then rendered in
chunks by husk (which renders USD files, never a .hip).

By default a Karma or USD Render ROP is rendered like any ROP, by the hython worker (Houdini writes the
stage for every frame and runs husk itself). With the USD option the stage is written once:

* ``local`` — now, in this Houdini session, by a temporary USD ROP (removed afterwards);
* ``farm`` — by a single-node job on the farm (the ``hython-usd`` preset running the worker's
  ``--export-usd`` mode), before the husk jobs.

The husk jobs then render the USD file's frames in chunks with the ROP's RenderSettings prim, and are
limited to nodes with a GPU when the ROP renders with Karma XPU.
"""

from __future__ import annotations

import enum
import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Optional

import hou

from farmhand.display import Severity
from farmhand.errors import FarmhandError, JobError
from farmhand.frames import FrameSpec, contiguous_runs, format_frame
from farmhand.houdini import takes
from farmhand.houdini.preflight import Finding, NodeFacts
from farmhand.jobs import ChunkPolicy, JobSpec
from farmhand.presets import load_preset

#: Node types (namespaces and versions stripped) that render a LOP stage through husk.
USD_RENDER_TYPES = frozenset({"karma", "usdrender", "usdrender_rop"})
#: The Hydra delegate name of Karma XPU (the ``renderer`` parm, husk's ``--renderer``).
XPU_RENDERER = "BRAY_HdKarmaXPU"
#: The preset that writes a ROP's stage to USD on a node (the worker's ``--export-usd`` mode).
EXPORT_PRESET = "hython-usd"
HUSK_PRESET = "husk"


class UsdMode(str, enum.Enum):
    """How a USD render ROP goes to the farm."""

    ROP = "rop"  # the hython worker renders the ROP (Houdini writes the stage per frame itself)
    LOCAL = "local"  # write the USD now, here; husk jobs on the farm
    FARM = "farm"  # a single-node job writes the USD, then husk jobs


@dataclass(frozen=True)
class UsdRender:
    """What a USD render ROP renders: a LOP node's stage, with a RenderSettings prim and a delegate."""

    rop_path: str
    lop_path: str
    settings: str  # RenderSettings prim path ("" = the stage's default)
    renderer: str
    usd_file: str  # where the stage is written, next to the .hip on the share
    take: str = ""  # the take its stage is read in ("" = the root take)
    products: int = 0  # RenderProducts its outputs were read from (0: the ROP's own output parm)

    @property
    def xpu(self) -> bool:
        return self.renderer == XPU_RENDERER


def read(rop: hou.RopNode, kind: str, hip_path: str) -> Optional[UsdRender]:
    """``rop`` as a USD render, or None when it is not one (or names no LOP node)."""
    if kind not in USD_RENDER_TYPES:
        return None
    lop = _string(rop, "loppath")
    if not lop:
        return None
    base, _ext = os.path.splitext(os.path.basename(hip_path))
    usd_file = os.path.join(os.path.dirname(hip_path), "usd", f"{base}.{rop.name()}.usd")
    node = rop.node(lop)  # a relative LOP path resolves from the ROP
    # Read while the take the ROP renders in is current (rops.read_rop): the stage is written in it.
    take = hou.takes.currentTake().name()
    return UsdRender(rop.path(), node.path() if node is not None else lop, _string(rop, "rendersettings"),
                     _string(rop, "renderer"), usd_file,
                     take if take != hou.takes.rootTake().name() else "")


def products(rop: hou.RopNode, settings: str, frame: float) -> list[str]:
    """The ``productName`` of each RenderProduct of the ROP's RenderSettings prim (``settings``, else the
    stage's own ``renderSettingsPrimPath``) on the stage its LOP node outputs when cooked at ``frame``;
    [] when there is none or the stage cannot be read. Houdini authors what it cooks for that frame, so
    each frame is a cook of its own."""
    lop = rop.node(_string(rop, "loppath"))
    if not isinstance(lop, hou.LopNode):
        return []
    try:
        stage = lop.stage(frame=frame)
    except (hou.Error, TypeError):  # a cook error; or a Houdini whose stage() takes no frame
        return []
    path = settings or (stage.GetMetadata("renderSettingsPrimPath") if stage is not None else "")
    prim = stage.GetPrimAtPath(path) if path else None
    targets = prim.GetRelationship("products") if prim else None
    if not targets:
        return []
    names = []
    for target in targets.GetForwardedTargets():
        product = stage.GetPrimAtPath(target)
        name = product.GetAttribute("productName") if product else None
        value = name.Get(frame) if name else None
        if value:
            names.append(str(value))
    return names


def product_outputs(rop: hou.RopNode, usd: UsdRender,
                    frames: FrameSpec) -> tuple[tuple[tuple[float, str], ...], int]:
    """Outputs read from the stage's RenderProducts when the ROP's own output parm is empty (as a USD
    Render ROP's usually is): the first product's path at the first, second and last frames (three
    cooks, enough to find its frame pattern, where a cook per frame of a long range would take long),
    and how many products the stage has."""
    sampled = sorted({frames.first, *itertools.islice(frames, 1, 2), frames.last})
    seen = [(float(f), products(rop, usd.settings, float(f))) for f in sampled]
    if not all(names for _f, names in seen):
        return (), 0
    return tuple((f, names[0]) for f, names in seen), len(seen[0][1])


def write_locally(render: UsdRender, frames: FrameSpec) -> str:
    """Write ``render``'s stage for ``frames`` to its USD file now, with a temporary USD ROP. Main thread.

    Raises:
        JobError: Houdini could not write it (the message is Houdini's).
    """
    os.makedirs(os.path.dirname(render.usd_file), exist_ok=True)
    out = hou.node("/out")
    if out is None:
        raise JobError("this scene has no /out network to write the USD from")
    writer = out.createNode("usd", "farmhand_usd_export")
    try:
        if not isinstance(writer, hou.RopNode):
            raise JobError("Houdini made no USD ROP to write the stage with")
        for name, value in (("loppath", render.lop_path), ("lopoutput", render.usd_file), ("trange", 1)):
            parm = writer.parm(name)
            if parm is None:
                raise JobError(f"the USD ROP has no {name} parameter in this Houdini")
            parm.set(value)
        with takes.current(render.take or hou.takes.currentTake().name()):
            writer.render(frame_range=(float(frames.first), float(frames.last), float(_step(frames))))
        errors = [e for e in writer.errors() if e]
        if errors:
            raise JobError(f"writing {render.usd_file} failed: {'; '.join(errors)}")
    except hou.OperationFailed as exc:
        raise JobError(f"writing {render.usd_file} failed: {str(exc).strip()}") from exc
    finally:
        writer.destroy()
    return render.usd_file


def _step(frames: FrameSpec) -> float:
    """One step that covers every frame from the first to the last (1 when the frames are irregular)."""
    steps = {run[2] for run in contiguous_runs(frames) if run[0] != run[1]}
    step = steps.pop() if len(steps) == 1 else 1
    return float(step) if all((f - frames.first) % step == 0 for f in frames) else 1.0


def _string(node: hou.RopNode, name: str) -> str:
    parm = node.parm(name)
    return parm.evalAsString() if parm is not None else ""


@dataclass(frozen=True)
class UsdPlan:
    """The jobs of a submit once USD render ROPs are sent the chosen way."""

    specs: tuple[JobSpec, ...]
    findings: tuple[Finding, ...] = ()
    local: tuple[tuple[UsdRender, FrameSpec], ...] = ()  # USD files to write here before sending


def plan_jobs(mode: UsdMode, jobs: Sequence[tuple[Optional[UsdRender], FrameSpec, JobSpec]],
              nodes: Sequence[NodeFacts]) -> UsdPlan:
    """``jobs`` (in render order) with each USD render ROP's job replaced as ``mode`` says, and Karma XPU
    jobs limited to nodes with a GPU (unless the user picked nodes)."""
    specs: list[JobSpec] = []
    findings: list[Finding] = []
    local: list[tuple[UsdRender, FrameSpec]] = []
    for usd, frames, spec in jobs:
        if usd is None:
            specs.append(spec)
            continue
        if usd.xpu and not spec.nodes:
            spec, finding = _on_gpu_nodes(spec, usd, nodes)
            findings += [finding] if finding else []
        findings += _several_products(usd, mode)
        if mode is UsdMode.ROP:
            specs.append(spec)
            continue
        wedge = dict(spec.params).get("wedgenum")
        if wedge:  # each wedge's stage differs: a file of its own
            root, ext = os.path.splitext(usd.usd_file)
            usd = replace(usd, usd_file=f"{root}.w{wedge}{ext}")
        # husk's -o would send every product to one file: with several, each goes where the stage says.
        husk = replace(spec, preset=HUSK_PRESET, file=usd.usd_file, target=usd.settings or None,
                       single_node=False, params=(), name=f"{spec.name} (husk)",
                       output=spec.output if usd.products <= 1 else None)
        if mode is UsdMode.LOCAL:
            if wedge:
                findings.append(Finding(
                    "usd_local_wedge", Severity.ERROR,
                    f"{usd.rop_path}: a wedge's stage cannot be written here (wedges are applied on the "
                    "node only)", "write the USD on the farm, or render the ROP with the hython worker"))
            local.append((usd, frames))
            specs.append(husk)
            continue
        export, problems = _export_job(spec, usd, frames)
        findings += problems
        specs += [export, husk]
    return UsdPlan(tuple(specs), tuple(findings), tuple(local))


def _several_products(usd: UsdRender, mode: UsdMode) -> list[Finding]:
    if usd.products <= 1:
        return []
    if mode is UsdMode.ROP:
        return [Finding("several_products", Severity.INFO,
                        f"{usd.rop_path} renders {usd.products} RenderProducts",
                        "each frame is checked by the first product's file")]
    return [Finding("outputs_unverifiable", Severity.INFO,
                    f"{usd.rop_path} renders {usd.products} RenderProducts: husk writes each where the "
                    "stage names it", "frames are trusted on husk's word, without file checks")]


def _export_job(spec: JobSpec, usd: UsdRender, frames: FrameSpec) -> tuple[JobSpec, list[Finding]]:
    """The single-node job that writes ``usd``'s stage on a node (the ``hython-usd`` preset), with the
    worker's options it needs (``$JOB``, the take, the wedge), and what stops it."""
    wanted = dict(spec.params)
    if usd.take:
        wanted.setdefault("take", usd.take)
    try:
        declared = {name for name, _ in load_preset(EXPORT_PRESET).params}
    except FarmhandError:
        return replace(spec, preset=EXPORT_PRESET, params=()), [Finding(
            "no_usd_export_preset", Severity.ERROR,
            f"{usd.rop_path}: no '{EXPORT_PRESET}' preset to write the USD on the farm",
            f"write the USD locally instead, or add the {EXPORT_PRESET} preset (the worker's "
            "--export-usd mode) to the farm's presets")]
    lacking = sorted(k for k, v in wanted.items() if v and k not in declared and k != "job")
    problems = [Finding(
        "usd_export_params", Severity.ERROR,
        f"{usd.rop_path}: the {EXPORT_PRESET} preset cannot pass {', '.join(lacking)} to the node",
        f"use the built-in {EXPORT_PRESET} preset, or add those parameters to yours")] if lacking else []
    export = replace(spec, preset=EXPORT_PRESET, output=usd.usd_file, single_node=True,
                     params=tuple((k, v) for k, v in wanted.items() if v and k in declared),
                     name=f"{spec.name} (USD)", chunk=ChunkPolicy(), frames=_one_run(frames))
    return export, problems


def _one_run(frames: FrameSpec) -> str:
    """The frames the USD file must hold as one evenly stepped run (its writer renders one range)."""
    return str(FrameSpec.parse(f"{format_frame(frames.first)}-{format_frame(frames.last)}"
                               f"x{format_frame(_step(frames))}"))


def _on_gpu_nodes(spec: JobSpec, usd: UsdRender,
                  nodes: Sequence[NodeFacts]) -> tuple[JobSpec, Optional[Finding]]:
    gpu = tuple(n.host for n in nodes if n.enabled and n.trusted and n.gpus > 0)
    if gpu:
        return replace(spec, nodes=gpu), None
    return spec, Finding("xpu_without_gpu", Severity.ERROR,
                         f"{usd.rop_path} renders with Karma XPU, and no enabled node has a GPU",
                         "probe the nodes again if they have GPUs, or switch the ROP to Karma CPU")
