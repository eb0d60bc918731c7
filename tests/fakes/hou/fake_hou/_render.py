"""What a fake ROP does when it renders: frames, inputs first, progress lines, outputs, scripted failures."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fake_hou import _images
from fake_hou._nodes import LopNode, OpNode, RopNode, SopNode
from fake_hou._session import SESSION
from fake_hou._types import PER_FRAME_PROGRESS
from fake_hou._values import EnumValue, OperationFailed, renderMethod, ropRenderEventType

#: Output parameter per ROP type (what the glue must also know).
OUTPUT_PARMS = {
    "ifd": "vm_picture", "karma": "picture", "usdrender": "outputimage", "geometry": "sopoutput",
    "rop_geometry": "sopoutput", "alembic": "filename", "rop_alembic": "filename", "opengl": "picture",
    "Redshift_ROP": "RS_outputFileNamePrefix", "arnold": "ar_picture", "usd": "lopoutput",
}
LICENCE_MESSAGE = "No licenses could be found to run this application."


def rop_frames(rop: OpNode, frame_range: Sequence[float] = ()) -> list[float]:
    """The frames ``rop`` renders for ``frame_range`` (2 or 3 values) or, without one, its own parms."""
    if frame_range:
        if len(frame_range) not in (2, 3):
            raise OperationFailed("frame_range must have 2 or 3 values")
        start, end = float(frame_range[0]), float(frame_range[1])
        step = float(frame_range[2]) if len(frame_range) == 3 else _step(rop)
    else:
        if rop.parm("trange") is None and rop.parm("f1") is None:
            # Merge and Fetch have no range: a Fetch renders its source's, a Merge requests the span of
            # its inputs' ranges (earliest start, latest end, smallest step).
            return _span_of_inputs(rop)
        trange = _int_parm(rop, "trange", 0)
        if trange == 0:
            return [SESSION.frame]
        if trange == 3:
            start, end, step = (float(v) for v in rop._spec.get("stage_frame_range", (1, 1, 1)))
        else:
            start = _float_parm(rop, "f1", SESSION.frame)
            end = _float_parm(rop, "f2", SESSION.frame)
            step = _step(rop)
    if step <= 0:
        raise OperationFailed("Frame increment must be positive")
    frames: list[float] = []
    f = start
    while f <= end + 1e-9:
        frames.append(round(f, 6))
        f += step
    return frames


def _step(rop: OpNode) -> float:
    return _float_parm(rop, "f3", 1.0) or 1.0


def _int_parm(node: OpNode, name: str, default: int) -> int:
    parm = node.parm(name)
    return parm.evalAsInt() if parm is not None else default


def _float_parm(node: OpNode, name: str, default: float) -> float:
    parm = node.parm(name)
    return parm.evalAsFloat() if parm is not None else default


def dependency_plan(rop: RopNode, frames: Sequence[float] = ()) -> list[tuple[RopNode, tuple[float, ...]]]:
    """Inputs first (depth first, each once), then ``rop``, each with the frames it renders.

    Like Houdini, an input renders the frames its output requests, not its own range, unless its
    ``trange`` is 2 (strict): then only the requested frames inside its own range. A Switch ROP renders
    only the input its ``index`` parm selects.
    """
    requested: dict[str, list[float]] = {}
    nodes: dict[str, RopNode] = {}
    active: set[str] = set()

    def visit(node: RopNode, wanted: list[float]) -> None:
        if node.path() in active:
            return
        if _int_parm(node, "trange", 0) == 2:
            own = rop_frames(node)
            wanted = [f for f in wanted if any(abs(f - o) < 1e-6 for o in own)]
        active.add(node.path())
        for upstream in _routed_inputs(node):
            if isinstance(upstream, RopNode):
                visit(upstream, wanted)
        source = _fetch_source(node)
        if source is not None:
            visit(source, wanted)
        active.discard(node.path())
        frames_so_far = requested.setdefault(node.path(), [])
        frames_so_far.extend(f for f in wanted if f not in frames_so_far)
        nodes[node.path()] = node

    visit(rop, list(frames) or rop_frames(rop))
    return [(nodes[p], tuple(sorted(fs))) for p, fs in requested.items() if fs]


def _routed_inputs(node: RopNode) -> tuple[RopNode | None, ...]:
    inputs = node.inputs()
    if node.type().name() != "switch":
        return inputs
    index = int(node.evalParm("index"))
    return (inputs[index],) if 0 <= index < len(inputs) else ()


def _span_of_inputs(rop: OpNode) -> list[float]:
    source = _fetch_source(rop) if isinstance(rop, RopNode) else None
    sources = [source] if source is not None else [n for n in rop.inputs() if isinstance(n, RopNode)]
    spans = [rop_frames(s) for s in sources]
    spans = [f for f in spans if f]
    if not spans:
        return [SESSION.frame]
    steps = [f[1] - f[0] for f in spans if len(f) > 1] or [1.0]
    return rop_frames(rop, (min(f[0] for f in spans), max(f[-1] for f in spans), min(steps)))


def _fetch_source(node: RopNode) -> RopNode | None:
    if node.type().name() != "fetch":
        return None
    source = node.node(str(node.evalParm("source")))
    return source if isinstance(source, RopNode) else None


def render(
    rop: RopNode,
    *,
    frame_range: tuple[float, ...],
    output_file: str | None,
    ignore_inputs: bool,
    method: Any,
    ignore_bypass_flags: bool,
    verbose: bool,
    output_progress: bool,
) -> None:
    take = rop.parm("take")
    chosen = take.evalAsString() if take is not None else ""
    if chosen not in ("", "_current_"):
        # A ROP set to render in a take renders with that take's parameter values.
        previous, SESSION.current_take = SESSION.current_take, chosen
        try:
            _render_steps(rop, frame_range, output_file, ignore_inputs, method, verbose, output_progress)
        finally:
            SESSION.current_take = previous
        return
    _render_steps(rop, frame_range, output_file, ignore_inputs, method, verbose, output_progress)


def _render_steps(rop: RopNode, frame_range: tuple[float, ...], output_file: str | None, ignore_inputs: bool,
                  method: Any, verbose: bool, output_progress: bool) -> None:
    frames = rop_frames(rop, frame_range)
    if ignore_inputs:
        steps = [(rop, frames)]
    else:
        steps = [(node, list(own)) for node, own in dependency_plan(rop, frames)]
    if method == renderMethod.FrameByFrame:
        # Interleaved: every ROP renders frame 1, then every ROP frame 2, ...
        for frame in frames:
            for node, _own in steps:
                _render_frames(node, [frame], output_file if node is rop else None, verbose, output_progress)
    else:
        for node, own in steps:
            _render_frames(node, own, output_file if node is rop else None, verbose, output_progress)


def _render_frames(
    rop: RopNode, frames: list[float], output_file: str | None, verbose: bool, output_progress: bool
) -> None:
    kind = rop.type().name()
    rop._errors.clear()
    if rop.isBypassed() or kind in ("merge", "fetch", "null", "ropnet", "switch", "batch", "wedge"):
        return
    alf = (output_progress and verbose) or any(
        _int_parm(rop, name, 0) == 1 for name in ("vm_alfprogress", "alfprogress")
    )
    per_frame = kind in PER_FRAME_PROGRESS
    seconds = float(rop._spec.get("seconds_per_frame", 0.0)) / _speed()
    _fire(rop, ropRenderEventType.PreRender, frames[0])
    for index, frame in enumerate(frames):
        SESSION.frame = frame
        _fire(rop, ropRenderEventType.PreFrame, frame)
        if verbose:
            _out(f"{time.strftime('%H:%M:%S')}  {rop.name()} frame {_fmt(frame)}")
        failure = _failure(rop, frame)
        if failure is not None and failure["kind"] in ("licence", "exception", "missing_file", "crash", "oom",
                                                      "hang"):
            _fail_before_output(rop, frame, failure)
            return
        if alf and per_frame:
            for percent in (0, 25, 50, 75):
                _out(f"ALF_PROGRESS {percent}%")
                time.sleep(seconds / 4)
            _out("ALF_PROGRESS 100%")
        else:
            time.sleep(seconds)
        if failure is None or failure["kind"] not in ("no_output",):
            empty = failure is not None and failure["kind"] == "empty_output"
            _write_output(rop, frame, output_file, empty=empty)
        if alf and not per_frame:
            done = 100 if len(frames) == 1 else round(100 * index / (len(frames) - 1))
            _out(f"ALF_PROGRESS {done}%")
        _fire(rop, ropRenderEventType.PostFrame, frame)
        _fire(rop, ropRenderEventType.PostWrite, frame)
        if failure is not None and failure["kind"] == "error_after_render":
            default = f"Error: {rop.name()} failed after writing frame {_fmt(frame)}"
            message = str(failure.get("message", default))
            rop._errors.append(message)
            print(message, file=sys.stderr, flush=True)
            return
    _fire(rop, ropRenderEventType.PostRender, frames[-1])


def _fail_before_output(rop: RopNode, frame: float, failure: dict[str, Any]) -> None:
    kind = failure["kind"]
    sys.stdout.flush()
    if kind == "licence":
        # The documented trap: the ROP fails, render() returns normally, only errors() tells.
        message = str(failure.get("message", LICENCE_MESSAGE))
        print(message, file=sys.stderr, flush=True)
        rop._errors.append(message)
        return
    if kind == "missing_file":
        path = str(failure.get("path", "$HIP/tex/missing.rat"))
        message = f"Unable to open file: {SESSION.expand(path, frame, rop.name())}"
        rop._errors.append(message)
        raise OperationFailed(f"The attempted operation failed.\nError: {message}")
    if kind == "exception":
        raise OperationFailed(str(failure.get("message", f"Error: render of {rop.path()} failed")))
    if kind == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    if kind == "oom":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "hang":
        while True:
            time.sleep(3600)


def _failure(rop: OpNode, frame: float) -> dict[str, Any] | None:
    for failure in rop._spec.get("failures", []):
        frames = failure.get("frames")
        if frames is not None and not any(abs(float(f) - frame) < 1e-6 for f in frames):
            continue
        times = failure.get("times")
        if times is not None and _attempt(rop, frame, failure) > int(times):
            continue
        return dict(failure)
    return None


def _attempt(rop: OpNode, frame: float, failure: dict[str, Any]) -> int:
    """Count attempts across processes (every render node shares the scene's directory)."""
    hip = Path(SESSION.hip_path)
    key = f"{rop.path().strip('/').replace('/', '_')}.{failure['kind']}.{_fmt(frame)}"
    directory = hip.parent / f".{hip.name}.fake-attempts"
    directory.mkdir(exist_ok=True)
    n = 1
    while True:
        try:
            os.close(os.open(directory / f"{key}.{n}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return n
        except FileExistsError:
            n += 1


def _speed() -> float:
    speeds = SESSION.doc.get("speed_by_host", {})
    return float(speeds.get(socket.gethostname(), 1.0)) or 1.0


def output_path(rop: OpNode, frame: float, output_file: str | None = None) -> str | None:
    if output_file:
        return SESSION.expand(output_file, frame, rop.name())
    name = OUTPUT_PARMS.get(rop.type().name())
    parm = rop.parm(name) if name else None
    return parm.evalAsStringAtFrame(frame) if parm is not None else None


def _write_output(rop: RopNode, frame: float, output_file: str | None, *, empty: bool) -> None:
    path = output_path(rop, frame, output_file)
    if not path:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not empty and _images.write(target, f"{rop.path()} {_fmt(frame)}"):
        return  # a real (tiny) image, as a renderer writes: the dispatcher reads every output image
    body = b"" if empty else f"FAKE HOUDINI OUTPUT rop={rop.path()} frame={_fmt(frame)}\n".encode()
    if body and rop.type().name() == "usd":
        body += _usd_products(rop, frame)
    with open(target, "ab" if "$F" not in _raw_output(rop) and output_file is None else "wb") as fh:
        fh.write(body)


def _usd_products(rop: RopNode, frame: float) -> bytes:
    """What a written USD file holds for ``frame`` that the fake husk reads: the RenderProduct names of
    the stage's render settings, as the LOP node cooks them at that frame."""
    lop = rop.node(str(rop.evalParm("loppath")))
    if not isinstance(lop, LopNode):
        return b""
    stage = lop.stage(frame=frame)
    settings = stage.GetPrimAtPath(stage.GetMetadata("renderSettingsPrimPath"))
    names = [stage.GetPrimAtPath(target).GetAttribute("productName").Get(frame)
             for target in settings.GetRelationship("products").GetForwardedTargets()]
    return "".join(f"FAKE USD frame={_fmt(frame)} product={name}\n" for name in names).encode()


def _raw_output(rop: OpNode) -> str:
    name = OUTPUT_PARMS.get(rop.type().name())
    parm = rop.parm(name) if name else None
    return parm.rawValue() if parm is not None else ""


def _fire(rop: RopNode, event: EnumValue, frame: float) -> None:
    fps = float(SESSION.doc.get("fps", 24))
    for callback in list(rop._callbacks):
        callback(rop, event, (frame - 1) / fps)


def _out(line: str) -> None:
    print(line, flush=True)


def _fmt(frame: float) -> str:
    return str(int(frame)) if float(frame).is_integer() else f"{frame:g}"


__all__ = ["OUTPUT_PARMS", "SopNode", "dependency_plan", "output_path", "render", "rop_frames"]
