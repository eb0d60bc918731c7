"""`farmhand demo`: a throwaway farm of real sshd nodes on this machine renders a short sequence.

Steps: start a :class:`farmhand.lab.LocalFarm` (network namespaces as root, loopback sshd otherwise),
trust its host keys in a temporary ``FARMHAND_HOME``, register and inventory the nodes over SSH, start a
dispatcher where it can reach them, submit a job — Blender when it is installed (a tiny Cycles scene
generated with ``blender -b --python-expr``), otherwise Farmhand's stand-in renderer — follow it with
live per-node progress, verify every image, print where they are, and tear everything down.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

from farmhand.cli import args as types
from farmhand.display import safe_text
from farmhand.errors import FarmhandError, JobError

log = logging.getLogger(__name__)

MAX_NODES = 16  # one sshd (and renderer) per node on this machine

SCENE_SCRIPT = """
import bpy, sys
s = bpy.context.scene
s.render.engine = 'CYCLES'
s.cycles.samples = 4
s.cycles.use_denoising = False
s.render.resolution_x, s.render.resolution_y, s.render.resolution_percentage = 96, 54, 100
s.render.image_settings.file_format = 'PNG'
cube = bpy.data.objects.get('Cube')
if cube is not None:
    cube.rotation_euler = (0.0, 0.0, 0.0)
    cube.keyframe_insert('rotation_euler', frame=1)
    cube.rotation_euler = (0.0, 0.0, 3.14159)
    cube.keyframe_insert('rotation_euler', frame=48)
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[sys.argv.index('--') + 1])
"""


def register(sub: Any) -> None:
    p = types.command(sub, "demo", "render a short sequence on a throwaway local farm of real sshd nodes",
                      "sudo farmhand demo", "farmhand demo --nodes 2 --frames 1-8 --renderer demo")
    # Bad input fails here, before any sshd starts (0 nodes would leave the job waiting forever).
    p.add_argument("--nodes", type=types.count(1, MAX_NODES), default=3,
                   help=f"how many local nodes, 1 to {MAX_NODES} (default 3)")
    p.add_argument("--frames", type=types.frames, default="1-24", help="frames to render (default 1-24)")
    p.add_argument(
        "--renderer",
        choices=("auto", "blender", "demo"),
        default="auto",
        help="Blender when installed (auto), or the built-in stand-in renderer",
    )
    p.add_argument("--output-dir", help="where the images go (default: a new directory under /tmp)")
    p.add_argument(
        "--mode",
        choices=("auto", "netns", "loopback"),
        default="auto",
        help="network namespaces (root) or loopback sshd (any user)",
    )
    p.set_defaults(func=_demo)


def make_blender_scene(blender: str, path: Path) -> Path:
    """Write a tiny Cycles scene (4 samples, 96×54, denoising off: Debian's Blender has no OIDN)."""
    result = subprocess.run(
        [blender, "-b", "--factory-startup", "--python-expr", SCENE_SCRIPT, "--", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0 or not path.exists():
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise FarmhandError(f"could not create the Blender demo scene ({tail[0]}); try --renderer demo")
    return path


def _say(text: str) -> None:
    print(f"farmhand demo: {text}", file=sys.stderr, flush=True)


def _demo(args: argparse.Namespace) -> int:
    from farmhand.lab import LocalFarm, can_use

    mode = args.mode
    if mode == "auto":
        mode = "netns" if os.geteuid() == 0 and can_use() is None else "loopback"
    blender = shutil.which("blender") if args.renderer in ("auto", "blender") else None
    if args.renderer == "blender" and not blender:
        raise FarmhandError("Blender is not installed; install it or use --renderer demo")
    work = Path(tempfile.mkdtemp(prefix="farmhand-demo-"))
    out_dir = Path(args.output_dir).resolve() if args.output_dir else work / "frames"
    out_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(out_dir, 0o777)  # noqa: S103 - node users (root or you) write here, like a share
    old_home = os.environ.get("FARMHAND_HOME")
    os.environ["FARMHAND_HOME"] = str(work / "home")
    dispatcher: Optional[subprocess.Popen[bytes]] = None
    _say(f"starting {args.nodes} sshd nodes ({mode} mode) ...")
    try:
        with LocalFarm(n=args.nodes, mode=mode) as lab:
            _register(lab)
            dispatcher = _start_dispatcher(lab, work)
            spec = _job(args, lab, blender, out_dir)
            return _run(spec, out_dir)
    finally:
        if dispatcher is not None:
            _stop(dispatcher)
        if old_home is None:
            os.environ.pop("FARMHAND_HOME", None)
        else:
            os.environ["FARMHAND_HOME"] = old_home
        shutil.rmtree(work / "home", ignore_errors=True)


def _register(lab: Any) -> None:
    from farmhand.nodes.inventory import probe_many
    from farmhand.nodes.registry import Registry

    lab.trust()
    _say("trusted the nodes' host keys (in a temporary FARMHAND_HOME)")
    registry = Registry()
    for node in lab.nodes:
        registry.add(node.name, node.address, port=node.port, user=lab.user, identity=str(lab.identity_file))
    executor = registry.executor(use_agent=False)
    try:
        results = lab.call_in_lab(lambda: probe_many(executor, [n.name for n in lab.nodes]), timeout=60)
    finally:
        close = getattr(executor, "close", None)
        if callable(close):
            close()
    for name, inv in results.succeeded.items():
        registry.record_inventory(name, inv.to_dict())
        _say(f"{name}: {inv.cpus_logical} cores, {inv.mem_total_mb} MB, {safe_text(inv.os_name or inv.os)}")
    for name, exc in results.failed.items():
        raise FarmhandError(f"could not inventory demo node {name}: {exc}")  # main() escapes messages


def _start_dispatcher(lab: Any, work: Path) -> subprocess.Popen[bytes]:
    from farmhand import client

    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    )
    # The child writes to its own copy of the descriptor; ours closes once it is started.
    with open(work / "dispatcher.log", "ab") as log_file:
        proc: subprocess.Popen[bytes] = lab.popen_in_lab(
            [client.dispatcher_python(), "-m", "farmhand", "dispatcher"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
        )
    deadline = time.monotonic() + 10
    while not client.dispatcher_running():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise FarmhandError(f"the demo dispatcher did not start; see {work / 'dispatcher.log'}")
        time.sleep(0.05)
    return proc


def _job(args: argparse.Namespace, lab: Any, blender: Optional[str], out_dir: Path) -> Any:
    from farmhand.jobs import JobSpec

    if blender:
        scene = make_blender_scene(blender, lab.share_dir / "demo.blend")
        _say(f"rendering {args.frames} with Blender ({scene.name}: Cycles, 4 samples, 96x54)")
        return JobSpec(
            preset="blender",
            file=str(scene),
            frames=args.frames,
            output=str(out_dir / "demo_$F4.png"),
            params=(("blender", blender),),
            name="farmhand demo (Blender)",
        )
    why = "as asked" if args.renderer == "demo" else "Blender not found"
    _say(f"rendering {args.frames} with Farmhand's stand-in renderer ({why})")
    return JobSpec(
        preset="demo",
        frames=args.frames,
        output=str(out_dir / "demo_$F4.png"),
        params=(("seconds_per_frame", "0.3"), ("python", sys.executable)),
        name="farmhand demo",
    )


def _run(spec: Any, out_dir: Path) -> int:
    from farmhand.cli.live import follow, render_status
    from farmhand.client import Client
    from farmhand.jobs import JobState

    client = Client(autostart=False)
    job_id = client.submit(spec)
    snap = follow(client, job_id, detached=False)
    if not sys.stderr.isatty():
        print(render_status(snap), file=sys.stderr)
    if snap.state is not JobState.DONE:
        raise JobError(f"demo job {snap.state.value}: {snap.summary.error or 'see the events above'}")
    images = sorted(out_dir.glob("demo_*.png"))
    empty = [p for p in images if p.stat().st_size == 0]
    if len(images) != snap.summary.frames_total or empty:
        raise JobError(f"expected {snap.summary.frames_total} images in {out_dir}, found {len(images)}")
    nodes = sorted({f.node for f in snap.frames if f.node})
    print(f"{len(images)} frames rendered on {len(nodes)} nodes ({safe_text(', '.join(nodes))}) and "
          f"verified: {out_dir}")
    return 0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    from farmhand.client import dispatcher_pid

    pid = dispatcher_pid()
    try:
        if pid is not None:
            os.kill(pid, signal.SIGTERM)
        proc.terminate()
        proc.wait(timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()
