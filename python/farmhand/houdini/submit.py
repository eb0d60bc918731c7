"""From a ROP to farm jobs: read the scene (main thread), check it, build job specs.

:func:`plan` does every ``hou`` read and returns a :class:`SubmitPlan` of plain values;
:func:`farmhand.houdini.sending.send` hands them over (no ``hou``, may run in a background thread).
ROP dependencies become ordered jobs (a cache before the render that reads it, queued together with
``JobSpec.after`` so the dispatcher keeps the order without Houdini); caches and simulations are
single-node whole-range jobs.
"""

from __future__ import annotations

import getpass
import logging
import os
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Optional

import hou

from farmhand.display import Severity
from farmhand.errors import JobError, UsageError
from farmhand.frames import FrameSpec, expand_output
from farmhand.houdini import graph, renderers, rops, solaris, takes, wedges
from farmhand.houdini.pathmap import PathMap
from farmhand.houdini.preflight import Finding, NodeFacts, SceneFacts, by_severity, check
from farmhand.jobs import ChunkPolicy, JobSpec
from farmhand.presets.progress import alf_scope_for_rop_type

log = logging.getLogger(__name__)

#: Persistent mode: the scene loads once per node and frames stream to it.
WORKER_PRESET = "hython-worker"
#: One hython per chunk, as a TD types it; used for whole-range (cache/simulation) jobs.
HRENDER_PRESET = "hrender"

_FRAME_TOKEN = re.compile(r"\$(?:\{F(\d?)\}|F(\d?))(?![A-Za-z0-9_])")


@dataclass(frozen=True)
class SubmitOptions:
    """What the user chose (shelf defaults, the HDA's parameters or the panel's Submit tab)."""

    preset: Optional[str] = None  # None: hython-worker, or hrender for whole-range jobs
    frames: Optional[str] = None  # None: the ROP's own range
    nodes: tuple[str, ...] = ()
    chunk: ChunkPolicy = field(default_factory=ChunkPolicy)
    priority: int = 50
    single_node: Optional[bool] = None  # None: decided per ROP (caches/sims single)
    dependencies: bool = True  # also render the ROP's input ROPs, first
    name: Optional[str] = None
    take: Optional[str] = None  # render in this take (None: the take each ROP's take parm names)
    wedge: Optional[tuple[str, int]] = None  # set by plan(): the Wedge ROP and wedge number of a chain
    usd: solaris.UsdMode = solaris.UsdMode.ROP  # how Karma / USD Render ROPs go to the farm
    groups: tuple[str, ...] = ()  # node groups every job of the submit asks for (farmhand.labels)
    env: tuple[tuple[str, str], ...] = ()  # environment for the renderer, over each preset's


@dataclass(frozen=True)
class SubmitPlan:
    rop_path: str
    scene: rops.SceneInfo
    rops: tuple[rops.RopInfo, ...]
    specs: tuple[JobSpec, ...]
    findings: tuple[Finding, ...] = field(default=())
    local_usd: tuple[tuple[solaris.UsdRender, FrameSpec], ...] = ()  # write before sending (main thread)

    @property
    def blocked(self) -> bool:
        return any(f.severity is Severity.ERROR for f in self.findings)


def plan(rop_path: str | Sequence[str], options: SubmitOptions, nodes: Sequence[NodeFacts],
         pmap: PathMap) -> SubmitPlan:
    """Read the ROP(s) and the scene, and build the jobs and preflight findings. Main thread only.

    Several ROPs (the Farmhand ROP's inputs) make one plan: one chain of jobs in which a dependency
    they share renders once (two jobs writing the same cache files at once would corrupt them).
    """
    paths = [rop_path] if isinstance(rop_path, str) else list(rop_path)
    if not paths:
        raise UsageError("no ROP to render; pick or connect one")
    if options.wedge is None and any(wedges.is_wedge(hou.node(p)) for p in paths):
        return _wedged(paths, options, nodes, pmap)
    with wedges.numbered(options.wedge[1] if options.wedge else None):
        return _plan(paths, options, nodes, pmap)


def _wedged(paths: Sequence[str], options: SubmitOptions, nodes: Sequence[NodeFacts],
            pmap: PathMap) -> SubmitPlan:
    """One chain per wedge of each Wedge ROP (its driver with that wedge), after the other ROPs' chain."""
    plain = [p for p in paths if not wedges.is_wedge(hou.node(p))]
    parts = [plan(plain, options, nodes, pmap)] if plain else []
    for path in paths:
        node = hou.node(path)
        if isinstance(node, hou.RopNode) and wedges.is_wedge(node):
            driver = wedges.driver(node).path()
            parts += [plan(driver, replace(options, wedge=(path, i)), nodes, pmap)
                      for i in range(wedges.count(node))]
    findings = list(dict.fromkeys(f for part in parts for f in part.findings))
    seen: dict[tuple[Optional[str], Optional[str]], int] = {}
    for spec in (s for part in parts for s in part.specs):
        seen[(spec.target, spec.output)] = seen.get((spec.target, spec.output), 0) + 1
    if any(n > 1 and output for (_t, output), n in seen.items()):
        findings.append(Finding("wedges_share_outputs", Severity.WARNING,
                                "Several wedges write the same output files",
                                "name the outputs with $WEDGENUM (or $WEDGE) so each wedge keeps its own"))
    return SubmitPlan(", ".join(paths), parts[0].scene, tuple(i for p in parts for i in p.rops),
                      tuple(s for p in parts for s in p.specs), tuple(by_severity(findings)),
                      tuple(u for p in parts for u in p.local_usd))


def _plan(paths: Sequence[str], options: SubmitOptions, nodes: Sequence[NodeFacts],
          pmap: PathMap) -> SubmitPlan:
    targets = [rops.find_rop(p) for p in paths]
    frames = FrameSpec.parse(options.frames) if options.frames else None
    if options.take:
        takes.check(options.take)
    order = (graph.render_order(targets, frames, take=options.take) if options.dependencies
             else [rops.read_rop(t, frames, take=options.take) for t in targets])
    target_paths = {t.path() for t in targets}
    scene = rops.scene_info()
    refs = tuple(rops.file_references())
    built = [(info, job_spec(info, scene, options, pmap, is_target=info.path in target_paths))
             for info in order]
    covered, notes = _rendered_by_hrender([(info, spec) for info, (spec, _n) in built])
    infos = tuple(info for info, _ in built if info.path not in covered)
    usd = solaris.plan_jobs(options.usd, [(info.usd, info.frames, spec) for info, (spec, _n) in built
                                          if info.path not in covered], nodes)
    specs = list(usd.specs)
    notes += [note for info, (_s, note) in built if note is not None and info.path not in covered]
    outputs = tuple(path for info in infos for _f, path in info.outputs)
    facts = SceneFacts(scene.hip_path, scene.houdini_version, scene.unsaved, scene.untitled, outputs, refs)
    kinds = {info.path: info.type_name for info in infos}
    jobs = [renderers.JobFacts(s.target or "", kinds.get(s.target or "", ""), s.preset, s.file or "")
            for s in specs]
    findings = by_severity(check(facts, nodes, pmap, options.nodes) + renderers.check(scene.hip_path, jobs)
                           + notes + list(usd.findings))
    return SubmitPlan(", ".join(t.path() for t in targets), scene, infos, tuple(specs), tuple(findings),
                      usd.local)


def write_local_files(plan_: SubmitPlan) -> None:
    """What the plan writes here before its jobs are sent (USD stages written locally). Main thread."""
    for render, frames in plan_.local_usd:
        solaris.write_locally(render, frames)


def _rendered_by_hrender(jobs: list[tuple[rops.RopInfo, JobSpec]]) -> tuple[set[str], list[Finding]]:
    """ROPs an ``hrender`` job renders anyway, and a note naming them.

    The stock ``hrender.py`` calls ``render()`` without ``ignore_inputs``, so it renders the ROP's inputs
    first, in the same job; sent as jobs of their own too, they would render twice (and a cache would be
    rewritten while the next job reads it). The hython worker skips inputs, so only hrender needs this.
    """
    covered: set[str] = set()
    notes: list[Finding] = []
    for info, spec in jobs:
        if spec.preset != HRENDER_PRESET or info.path in covered:
            continue
        inputs = [i.path for i in graph.render_order(rops.find_rop(info.path), info.frames)
                  if i.path != info.path]
        if inputs:
            covered.update(inputs)
            take = dict(spec.params).get("take")
            # hrender's -t sets the take parm of the ROP it renders only: its inputs keep their own.
            own_take = f"; they render in their own takes, not {take!r}" if take else ""
            notes.append(Finding(
                "hrender_inputs", Severity.INFO,
                f"{info.path} renders with hrender, which also renders its inputs ({', '.join(inputs)}) "
                f"in the same job{own_take}", "they are not sent as jobs of their own; pick the "
                "hython-worker preset to spread them over the farm"))
    return covered, notes


def job_spec(info: rops.RopInfo, scene: rops.SceneInfo, options: SubmitOptions, pmap: PathMap,
             *, is_target: bool = True) -> tuple[JobSpec, Optional[Finding]]:
    """One job for one ROP (pure: no ``hou``); ``info.frames`` already holds the frames Houdini would
    render for it (a dependency renders what its output requests)."""
    frames = info.frames
    single = info.single_node if options.single_node is None else options.single_node
    preset = options.preset or (HRENDER_PRESET if single else WORKER_PRESET)
    output, note = output_pattern(info)
    name = options.name or f"{os.path.basename(scene.hip_path)} {info.path}"
    if not is_target:
        name = f"{name} (dependency)" if options.name else name
    if options.take:
        name = f"{name} [take {options.take}]"
    wanted = {"job": scene.job_dir, "take": options.take or ""}
    if options.wedge:
        name = f"{name} [wedge {options.wedge[1]}]"
        wanted.update(wedge=options.wedge[0], wedgenum=str(options.wedge[1]))
        if output and "$WEDGE" in output:  # set by the Wedge ROP on the node only: unknown here
            output, note = None, Finding("outputs_unverifiable", Severity.INFO,
                                         f"{info.path}: the output name uses $WEDGE",
                                         "frames are trusted on the renderer's word, without file checks")
    params, missing = preset_params(preset, wanted)
    if {"wedge", "wedgenum"} & missing:
        note = Finding("wedge_not_passed", Severity.ERROR,
                       f"{info.path}: the {preset} preset cannot apply a Wedge ROP's wedges "
                       "(it has no 'wedge' and 'wedgenum' parameters)",
                       "use a preset with 'wedge' and 'wedgenum' parameters (the hython worker's --wedge)")
    if "take" in missing:
        note = Finding("take_not_passed", Severity.ERROR,
                       f"{info.path}: the {preset} preset cannot render in the take {options.take!r} "
                       "(it has no 'take' parameter)", "render in the scene's take, or use a preset "
                       "with a 'take' parameter")
    spec = JobSpec(
        preset=preset,
        frames=str(frames),
        # As this machine names it: the dispatcher maps it for each node (general and per-node rules).
        file=scene.hip_path,
        target=info.path,
        output=output,
        nodes=options.nodes,
        chunk=options.chunk,
        priority=options.priority,
        single_node=single,
        houdini_version=scene.houdini_version,
        name=name,
        submitter=_submitter(),
        alf_scope=alf_scope_for_rop_type(info.type_name),
        params=params,
        groups=options.groups,
        env=options.env,
    )
    return spec, note


def preset_params(preset: str, wanted: dict[str, str]) -> tuple[tuple[tuple[str, str], ...], set[str]]:
    """The ``wanted`` values (empty ones left out) the preset declares parameters for, and the names it
    lacks. ``job`` is ``$JOB`` (the worker forces it before loading the scene; the dispatcher maps it per
    node like the .hip); ``take`` the take to render in."""
    from farmhand.errors import FarmhandError
    from farmhand.presets import load_preset

    try:
        declared = {name for name, _ in load_preset(preset).params}
    except FarmhandError:
        return (), set()  # an unknown preset is refused, with its own message, when the job is submitted
    given = {k: v for k, v in wanted.items() if v}
    return tuple((k, v) for k, v in given.items() if k in declared), set(given) - declared


def output_pattern(info: rops.RopInfo) -> tuple[Optional[str], Optional[Finding]]:
    """The output as a pattern the engine expands per frame (``/share/shot/beauty.$F4.exr``).

    Houdini expanded the output parm for every frame (variables, expressions, keyframes); the pattern
    is rebuilt from those paths and checked against every one of them.
    """
    if not info.outputs:
        return None, None
    candidate = _pattern_from(info)
    if candidate is not None:
        return candidate, None
    return None, Finding("outputs_unverifiable", Severity.INFO,
                         f"{info.path}: the output name {info.output_pattern!r} changes in ways other than "
                         "the frame number", "frames are trusted on the renderer's word, without file checks")


def _pattern_from(info: rops.RopInfo) -> Optional[str]:
    """The pattern whose expansion gives every frame's path: found from the paths themselves, so an
    expression-driven or keyframed output name is handled like a plain ``$F4`` one."""
    frame, path = info.outputs[0]
    if all(other == path for _f, other in info.outputs):
        return path  # one file for the whole range (an Alembic, a single image)
    if not float(frame).is_integer():
        return None
    tokens = list(_FRAME_TOKEN.finditer(info.output_pattern))
    widths = ([int(tokens[0].group(1) or tokens[0].group(2) or 0)] if tokens
              else [4, 0, 3, 2, 5, 6, 7, 8, 9])
    for width in widths:
        text = f"{int(frame):0{width}d}" if width else str(int(frame))
        token = f"$F{width}" if width else "$F"
        at = path.rfind(text)
        while at >= 0:  # the frame number nearest the end first: it is rarely in a folder name
            candidate = path[:at] + token + path[at + len(text):]
            if all(expand_output(candidate, f) == other for f, other in info.outputs):
                return candidate
            at = path.rfind(text, 0, at)
    return None


def _submitter() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        return socket.gethostname()


def refuse(plan_: SubmitPlan) -> None:
    """Raise when preflight found errors (for callers without a dialog, e.g. scripts)."""
    errors = [f for f in plan_.findings if f.severity is Severity.ERROR]
    if errors:
        raise JobError("; ".join(f.text for f in errors))


def save_scene(new_version: bool = False) -> str:
    """Save the scene (or save it as the next version) and return the path the nodes will read."""
    try:
        if new_version:
            hou.hipFile.saveAndIncrementFileName()
        else:
            hou.hipFile.save()
    except hou.OperationFailed as exc:
        raise JobError(f"could not save {hou.hipFile.path()}: {str(exc).strip()}; save it by hand and "
                       "submit again") from exc
    return hou.hipFile.path()
