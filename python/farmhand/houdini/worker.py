"""Farmhand's persistent render worker, run by ``hython`` on a render node.

    hython farmhand_worker.py --hip /share/shot.hip --rop /out/mantra1 [--job /share/proj] [--take NAME]
        [--wedge /out/wedge1 --wedge-num N] [--with-inputs]
    hython farmhand_worker.py --hip /share/shot.hip --rop /out/karma1 --export-usd /share/shot.usd \
        --range 1 240 1

In the second form (one shot, no stdin) it writes the stage a Karma / USD Render ROP renders to a USD
file, for the range, with a temporary USD ROP (the .hip is never saved), and exits: the USD is then
rendered in chunks by husk.

It loads the scene once, then renders the frames the dispatcher sends on stdin, one JSON object per line
(``{"op": "render", "frame": 12}``; ``{"op": "quit"}`` or closing stdin ends it), and prints one
``FARMHAND_EVENT {...}`` line per step: ready, start, done, error, fatal. The protocol is
``python/farmhand/presets/worker_protocol.py``; this file repeats its tiny encoder because Farmhand itself is
not importable inside the node's Houdini.

Why each frame is rendered with its own ``render()`` call and then checked with ``rop.errors()``:
``RopNode.render`` can return normally after a failed render (a licence failure in a Karma/husk child,
for one), so the return value alone would report a failed frame as done.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Optional

import hou

EVENT_PREFIX = "FARMHAND_EVENT "

#: Output parameter per ROP type, to report each frame's files (farmhand.houdini.rops.OUTPUT_PARMS less
#: the file cache SOP, which renders through its inner ROP; a test keeps the two in step).
OUTPUT_PARMS = {
    "ifd": "vm_picture", "karma": "picture", "usdrender": "outputimage", "usdrender_rop": "outputimage",
    "opengl": "picture", "geometry": "sopoutput", "rop_geometry": "sopoutput", "alembic": "filename",
    "rop_alembic": "filename", "Redshift_ROP": "RS_outputFileNamePrefix", "arnold": "ar_picture",
    "vray_renderer": "SettingsOutput_img_file_path", "comp": "copoutput",
}
#: Toggles that make a ROP print ``ALF_PROGRESS N%`` (the dispatcher reads those lines as progress).
ALF_PARMS = ("vm_alfprogress", "alfprogress")

LICENCE_MARKERS = ("No licenses could be found", "No licences could be found", "valid license server",
                   "Error encountered when initializing Houdini")
MISSING_MARKERS = ("Unable to open file", "No such file", "Cannot find file", "Unable to read file")


def emit(event: str, **fields: Any) -> None:
    sys.stdout.flush()
    sys.stdout.write(EVENT_PREFIX + json.dumps({"event": event, **fields}, sort_keys=True) + "\n")
    sys.stdout.flush()


def classify(message: str) -> str:
    if any(m in message for m in LICENCE_MARKERS):
        return "licence"
    if any(m in message for m in MISSING_MARKERS):
        return "missing_file"
    return "render"


def type_name(node: hou.OpNode) -> str:
    parts = node.type().name().split("::")
    if len(parts) > 1 and parts[-1][:1].isdigit():
        parts = parts[:-1]
    return parts[-1]


def force_variables(hip: str, job: Optional[str]) -> None:
    """Make ``$HIP`` (and ``$JOB`` when the submitter set one) what this node sees.

    Both are stored in the .hip; without ``allowEnvironmentToOverwriteVariable`` (called before the
    load) the saved values would win, and paths would point at the artist's machine. ``$JOB`` is only
    overwritten with ``--job``: a node's own ``JOB`` environment variable must not replace the one the
    scene saved.
    """
    os.environ["HIP"] = os.path.dirname(os.path.abspath(hip))
    hou.allowEnvironmentToOverwriteVariable("HIP", True)
    if job:
        os.environ["JOB"] = job
        hou.allowEnvironmentToOverwriteVariable("JOB", True)


def load(hip: str) -> tuple[float, list[str]]:
    started = time.monotonic()
    warnings: list[str] = []
    try:
        hou.hipFile.load(hip, suppress_save_prompt=True)
    except hou.LoadWarning as warning:
        # The scene did load; Houdini only reports what it skipped.
        warnings = [line for line in str(warning).splitlines() if line.strip()]
    return time.monotonic() - started, warnings


def find_rop(path: str) -> hou.RopNode:
    node = hou.node(path)
    if isinstance(node, hou.RopNode):
        return node
    # hou.OpNode exists from Houdini 20.0; in 19.5 every node is a hou.Node.
    if node is not None and isinstance(node, getattr(hou, "OpNode", hou.Node)):
        inner = node.node("render")  # a file cache SOP renders through the ROP inside it
        if isinstance(inner, hou.RopNode):
            return inner
    raise LookupError(f"no ROP at {path} in the scene; check the ROP path")


def render_given_frames(rop: hou.RopNode) -> None:
    """Set *Valid Frame Range* to *Render Frame Range* (``trange`` 1), as the stock ``hrender.py`` does
    before it passes ``frame_range``: a ROP left on *Render Current Frame* would otherwise be asked to
    render the frame the scene was saved on. Only this session changes; the .hip is never saved."""
    parm = rop.parm("trange")
    if parm is None or parm.evalAsInt() == 1:
        return
    try:
        parm.set(1)
    except hou.Error:  # locked or driven by an expression: render with what the scene says
        pass


def use_take(rop: hou.RopNode, name: str) -> bool:
    """Render ``rop`` in the take ``name``: its ``take`` parm (as the stock ``hrender.py -t`` sets it), and
    the current take too, so the outputs this worker reports are read with that take's values."""
    parm = rop.parm("take")
    take = hou.takes.findTake(name)
    if take is None or parm is None:
        what = f"no take {name!r}" if parm is not None else f"no take parameter on {rop.path()}"
        emit("fatal", message=f"this scene has {what}", kind="load")
        return False
    parm.set(name)
    hou.takes.setCurrentTake(take)
    return True


def apply_wedge(path: str, number: Optional[int]) -> bool:
    """Apply wedge ``number`` of the Wedge ROP at ``path`` with that asset's own functions (``getwedges``,
    ``setenvvariable("WEDGENUM")``, ``applyspecificwedge``), before rendering."""
    node = hou.node(path)
    if not isinstance(node, hou.RopNode) or number is None:
        emit("fatal", message="--wedge needs --wedge-num" if node is not None else f"no Wedge ROP at {path}",
             kind="load")
        return False
    module = node.hdaModule()
    allwedge, _stashed, error = module.getwedges(node)
    if error or not 0 <= number < len(allwedge):
        emit("fatal", message=str(error).strip() or f"{path} has no wedge {number} (it has {len(allwedge)})",
             kind="load")
        return False
    module.setenvvariable("WEDGENUM", str(number))
    module.applyspecificwedge(node, allwedge[number])
    return True


def enable_alf_progress(rop: hou.RopNode) -> None:
    for name in ALF_PARMS:
        parm = rop.parm(name)
        if parm is None:
            continue
        try:
            parm.set(1)
        except hou.Error:  # locked inside an asset, or driven by an expression: progress is optional
            pass


def outputs(rop: hou.RopNode, frame: float) -> list[str]:
    name = OUTPUT_PARMS.get(type_name(rop))
    parm = rop.parm(name) if name else None
    if parm is None:
        return []
    path = parm.evalAsStringAtFrame(frame)
    return [path] if path else []


def render_frame(rop: hou.RopNode, frame: float, with_inputs: bool) -> None:
    emit("start", frame=frame)
    started = time.monotonic()
    try:
        rop.render(frame_range=(frame, frame, 1), verbose=True, output_progress=True,
                   ignore_inputs=not with_inputs)
    except hou.Error as exc:  # OperationFailed mostly; any hou error fails this frame, not the worker
        message = str(exc).strip() or "render failed"
        errors = [e for e in rop.errors() if e]
        text = "; ".join(errors) if errors else message
        emit("error", frame=frame, message=text, kind=classify(text + " " + message))
        return
    errors = [e for e in rop.errors() if e]
    if errors:
        text = "; ".join(errors)
        emit("error", frame=frame, message=text, kind=classify(text))
        return
    emit("done", frame=frame, seconds=round(time.monotonic() - started, 3), outputs=outputs(rop, frame))


def export_usd(rop: hou.RopNode, path: str, start: float, end: float, step: float) -> int:
    """Write the stage ``rop`` renders (its ``loppath``) to ``path`` for the range; 0 when written."""
    loppath = rop.parm("loppath")
    lop = rop.node(loppath.evalAsString()) if loppath is not None else None
    out = hou.node("/out")
    if lop is None or out is None:
        emit("fatal", message=f"{rop.path()} names no LOP node to write USD from", kind="load")
        return 1
    writer = out.createNode("usd", "farmhand_usd_export")
    try:
        problem = _write_usd(writer, lop.path(), path, (start, end, step))
    finally:
        writer.destroy()
    if problem:
        emit("fatal", message=problem, kind=classify(problem))
        return 1
    emit("done", frame=None, outputs=[path])
    return 0


def _write_usd(writer: hou.Node, lop: str, path: str, frames: tuple[float, float, float]) -> str:
    """Render the temporary USD ROP; what went wrong, or "" when the file was written."""
    if not isinstance(writer, hou.RopNode):
        return "Houdini made no USD ROP to write the stage with"
    for name, value in (("loppath", lop), ("lopoutput", path), ("trange", 1)):
        parm = writer.parm(name)
        if parm is None:
            return f"the USD ROP has no {name} parameter in this Houdini"
        parm.set(value)
    try:
        writer.render(frame_range=frames, verbose=True)
    except hou.Error as exc:
        return str(exc).strip() or "writing the USD failed"
    return "; ".join(e for e in writer.errors() if e)


def serve(rop: hou.RopNode, with_inputs: bool) -> None:
    for raw in sys.stdin:
        line = raw.strip()
        if not line:
            continue
        try:
            command = json.loads(line)
            op = command.get("op") if isinstance(command, dict) else None
        except ValueError:
            op = None
        if op == "quit":
            return
        if op != "render" or not isinstance(command.get("frame"), (int, float)):
            emit("error", frame=None, message=f"unknown command {line[:200]!r}", kind="render")
            continue
        render_frame(rop, command["frame"], with_inputs)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Farmhand's persistent hython render worker")
    parser.add_argument("--hip", required=True, help="the scene, as this node sees it")
    parser.add_argument("--rop", required=True, help="the ROP to render, e.g. /out/mantra1")
    parser.add_argument("--job", help="force $JOB to this directory")
    parser.add_argument("--with-inputs", action="store_true", help="also render the ROP's inputs per frame")
    parser.add_argument("--take", help="render in this take (sets the ROP's take parm, as hrender -t does)")
    parser.add_argument("--wedge", metavar="ROP", help="a Wedge ROP whose wedge --wedge-num applies")
    parser.add_argument("--wedge-num", type=int, metavar="N", help="the wedge to apply (0 is the first)")
    parser.add_argument("--export-usd", metavar="PATH",
                        help="write the ROP's stage to this USD file, then exit")
    parser.add_argument("--range", nargs=3, type=float, metavar=("START", "END", "STEP"), default=None,
                        help="the frames --export-usd writes")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.hip):
        emit("fatal", message=f"Cannot find file {args.hip} on this node", kind="missing_file")
        return 1
    force_variables(args.hip, args.job)
    try:
        seconds, warnings = load(args.hip)
        rop = find_rop(args.rop)
    except (hou.Error, LookupError) as exc:
        message = str(exc).strip()
        kind = classify(message)
        emit("fatal", message=message, kind="load" if kind == "render" else kind)
        return 1
    if args.take and not use_take(rop, args.take):
        return 1
    if args.wedge and not apply_wedge(args.wedge, args.wedge_num):
        return 1
    if args.export_usd:
        start, end, step = args.range or (hou.frame(), hou.frame(), 1.0)
        return export_usd(rop, args.export_usd, start, end, step)
    enable_alf_progress(rop)
    render_given_frames(rop)
    emit("ready", hip=hou.hipFile.path(), rop=rop.path(), load_seconds=round(seconds, 3), warnings=warnings)
    serve(rop, args.with_inputs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
