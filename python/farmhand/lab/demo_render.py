#!/usr/bin/env python3
"""Farmhand's stand-in renderer: renders a frame range to real PNG images, printing renderer-like output.

It runs on render nodes with nothing but a python3 (3.7+ standard library), so the demo, the benchmarks
and the fault tests work without Houdini or Blender. Output, line by line:

    Fra:12 rendering frame 12 (3 of 10) on render01           a frame starts
    ALF_PROGRESS 40%                                           progress of the current frame
    Saved: '/share/out/demo.0012.png'                          the frame's image is written (atomically)
     Time: 00:00.50                                            the frame's wall time

Knobs (also readable from a JSON ``--scene`` file with the same names, underscores for dashes):
    --seconds-per-frame S   render time of one frame at speed 1 (default 0.2)
    --speed-map H=F,...     speed factor per host name (socket.gethostname()); ``*`` = everyone else
    --speed-file PATH       a file holding a factor, or ``host=factor`` lines (read at start)
    FARMHAND_DEMO_SPEED     environment factor, used when neither map nor file names this host
    --scene-load-seconds S  time spent "loading the scene" before the first frame
    --fail-at FRAME --fail-mode MODE   misbehave when FRAME starts:
        segfault  kill itself with SIGSEGV         oom       print "Killed", exit 137
        licence   print a licence error, exit 3    hang      stop printing and sleep
        disk_full print ENOSPC error, exit 1       error     print "Error: ..." , exit 1
    --fail-hosts H,...      only these hosts misbehave
    --fail-once-file PATH   misbehave only if PATH does not exist yet (it is created): the retry succeeds

Exit status: 0 done, 1 error, 2 bad arguments, 3 licence, 137 "out of memory".
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import re
import signal
import socket
import struct
import sys
import time
import zlib
from collections.abc import Sequence
from typing import Optional, TextIO

FAIL_MODES = ("segfault", "oom", "licence", "hang", "disk_full", "error")

# 3x5 bitmap glyphs for the frame number stamped on every image.
GLYPHS = {
    "0": "111101101101111", "1": "010110010010111", "2": "111001111100111", "3": "111001111001111",
    "4": "101101111001001", "5": "111100111001111", "6": "111100111101111", "7": "111001001001001",
    "8": "111101111101111", "9": "111101111001111", "-": "000000111000000", ".": "000000000000010",
}


def say(text: str, stream: Optional[TextIO] = None) -> None:
    print(text, file=stream or sys.stdout, flush=True)


def format_frame(frame: float) -> str:
    value = round(frame, 6)
    return str(int(value)) if value == int(value) else repr(value)


def expand_output(pattern: str, frame: float) -> str:
    """Same rules as farmhand.frames.expand_output (-1 is -001 with $F4, -0001 with ####)."""
    whole = math.floor(frame)

    def houdini(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name == "FF":
            return format_frame(frame)
        width = int(name[1:]) if len(name) > 1 else 1
        return f"{whole:0{width}d}"

    text = re.sub(r"\$\{(FF|F[2-9]?)\}|\$(FF|F[2-9]?)(?![A-Za-z0-9_])", houdini, pattern)
    sign = "-" if whole < 0 else ""
    return re.sub(r"#+", lambda m: f"{sign}{abs(whole):0{len(m.group(0))}d}", text)


def png_bytes(width: int, height: int, rows: Sequence[bytes | bytearray]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes(row) for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + \
        chunk(b"IEND", b"")


def _pattern(frame: float, width: int, height: int) -> list[bytearray]:
    """A moving diagonal gradient with a bouncing bar."""
    phase = frame * 7.0
    bar = int((math.sin(frame / 6.0) * 0.5 + 0.5) * (width - width // 8))
    rows = []
    for y in range(height):
        row = bytearray(width * 3)
        for x in range(width):
            v = int((x + y + phase) * 3) % 256
            r, g, b = v, (v * 2 + y) % 256, 255 - v
            if bar <= x < bar + width // 8:
                r, g, b = 250, 200, 40
            row[x * 3:x * 3 + 3] = bytes((r, g, b))
        rows.append(row)
    return rows


def _stamp(rows: list[bytearray], text: str, width: int, height: int) -> None:
    """``text`` in white digits on a dark plate in the top-left corner (readable over the pattern)."""
    scale = max(1, height // 12)
    for y in range(scale, min(height, 8 * scale)):
        for x in range(scale, min(width, (3 + 4 * len(text)) * scale)):
            rows[y][x * 3:x * 3 + 3] = b"\x10\x10\x18"
    for i, ch in enumerate(text):
        glyph = GLYPHS.get(ch, "")
        lit = [(gx, gy) for gy in range(5) for gx in range(3) if glyph[gy * 3 + gx:gy * 3 + gx + 1] == "1"]
        for gx, gy in lit:
            for dy in range(scale):
                for dx in range(scale):
                    x = 2 * scale + (i * 4 + gx) * scale + dx
                    y = 2 * scale + gy * scale + dy
                    if x < width and y < height:
                        rows[y][x * 3:x * 3 + 3] = b"\xff\xff\xff"


def render_image(frame: float, width: int, height: int) -> bytes:
    """A moving diagonal gradient with a bouncing bar and the frame number stamped in the corner."""
    rows = _pattern(frame, width, height)
    _stamp(rows, format_frame(frame), width, height)
    return png_bytes(width, height, rows)


def write_atomic(path: str, data: bytes) -> None:
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, exist_ok=True)
    tmp = f"{path}.part{os.getpid()}"
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def parse_speed_map(text: str, host: str) -> Optional[float]:
    default: Optional[float] = None
    for item in re.split(r"[,\n]", text):
        if "=" not in item:
            continue
        name, _, value = item.partition("=")
        name = name.strip()
        try:
            factor = float(value)
        except ValueError:
            continue
        if name == host or name == host.split(".")[0]:
            return factor
        if name == "*":
            default = factor
    return default


def speed_for(args: argparse.Namespace, host: str) -> float:
    factor: Optional[float] = None
    if args.speed_map:
        factor = parse_speed_map(args.speed_map, host)
    if factor is None and args.speed_file:
        with open(args.speed_file, encoding="utf-8") as handle:
            text = handle.read().strip()
        try:
            factor = float(text)
        except ValueError:
            factor = parse_speed_map(text, host)
    if factor is None and os.environ.get("FARMHAND_DEMO_SPEED"):
        factor = float(os.environ["FARMHAND_DEMO_SPEED"])
    if factor is None:
        return 1.0
    if not factor > 0:
        raise ValueError(f"speed factor for {host} must be positive, not {factor}")
    return factor


def should_fail(args: argparse.Namespace, frame: float, host: str) -> bool:
    if args.fail_at is None or args.fail_mode is None or abs(frame - args.fail_at) > 1e-6:
        return False
    if args.fail_hosts:
        hosts = {h.strip() for h in args.fail_hosts.split(",") if h.strip()}
        if host not in hosts and host.split(".")[0] not in hosts:
            return False
    if args.fail_once_file:
        try:
            fd = os.open(args.fail_once_file, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        os.write(fd, f"{host} {os.getpid()}\n".encode())
        os.close(fd)
    return True


def misbehave(mode: str, frame: float, output: str) -> None:
    if mode == "segfault":
        say(f"Fatal error: Segmentation fault (sent by pid {os.getpid()}) at frame {format_frame(frame)}",
            sys.stderr)
        signal.signal(signal.SIGSEGV, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(5)
    if mode == "oom":
        say("Killed", sys.stderr)
        sys.exit(137)
    if mode == "licence":
        say("No licenses could be found to run this application.", sys.stderr)
        say("Please check for a valid license server host", sys.stderr)
        sys.exit(3)
    if mode == "hang":
        while True:
            time.sleep(3600)
    if mode == "disk_full":
        say(f"Error: cannot write '{output}': [Errno 28] No space left on device", sys.stderr)
        sys.exit(1)
    say(f"Error: demo failure requested at frame {format_frame(frame)}", sys.stderr)
    sys.exit(1)


def frames_of(start: float, end: float, step: float) -> list[float]:
    count = math.floor((end - start) / step + 1e-9) + 1
    return [round(start + i * step, 6) for i in range(max(0, count))]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="farmhand_demo_render", description=__doc__.split("\n")[0])
    parser.add_argument("--scene", help="JSON scene file holding any of the knobs below")
    parser.add_argument("--start", type=float, required=True)
    parser.add_argument("--end", type=float, required=True)
    parser.add_argument("--step", type=float, default=1.0)
    parser.add_argument("--output", required=True, help="image pattern with #### or $F4")
    parser.add_argument("--seconds-per-frame", type=float)
    parser.add_argument("--speed-map")
    parser.add_argument("--speed-file")
    parser.add_argument("--scene-load-seconds", type=float)
    parser.add_argument("--size", help="WIDTHxHEIGHT (default 160x90)")
    parser.add_argument("--fail-at", type=float)
    parser.add_argument("--fail-mode", choices=FAIL_MODES)
    parser.add_argument("--fail-hosts")
    parser.add_argument("--fail-once-file")
    args = parser.parse_args(argv)
    if args.step <= 0 or args.end < args.start:
        parser.error(f"frame range {args.start}-{args.end} step {args.step} is invalid")
    return args


def load_scene(args: argparse.Namespace) -> None:
    """Fill knobs not given on the command line from the JSON scene file."""
    if not args.scene:
        return
    say(f"Loading scene {args.scene}")
    try:
        with open(args.scene, encoding="utf-8") as handle:
            scene = json.load(handle)
    except OSError as exc:
        say(f"Error: Cannot find file '{args.scene}': {exc.strerror}", sys.stderr)
        sys.exit(1)
    except ValueError as exc:
        say(f"Error: scene file '{args.scene}' is not a valid demo scene ({exc})", sys.stderr)
        sys.exit(1)
    if not isinstance(scene, dict):
        say(f"Error: scene file '{args.scene}' is not a valid demo scene (not a JSON object)", sys.stderr)
        sys.exit(1)
    for key, value in scene.items():
        attr = key.replace("-", "_")
        if hasattr(args, attr) and getattr(args, attr) is None:
            setattr(args, attr, value)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    load_scene(args)
    host = socket.gethostname()
    try:
        speed = speed_for(args, host)
        width, height = (int(v) for v in str(args.size or "160x90").lower().split("x"))
    except (OSError, ValueError) as exc:
        say(f"Error: {exc}", sys.stderr)
        return 1
    seconds = float(args.seconds_per_frame if args.seconds_per_frame is not None else 0.2) / speed
    frames = frames_of(args.start, args.end, args.step)
    say(f"farmhand_demo_render: {len(frames)} frame(s) {format_frame(args.start)}-{format_frame(args.end)} "
        f"step {format_frame(args.step)} on {host}, speed {speed:g}, {seconds:.3f} s/frame")
    if args.scene_load_seconds:
        time.sleep(float(args.scene_load_seconds) / speed)
        say(f"Scene loaded in {float(args.scene_load_seconds) / speed:.2f} s")
    for index, frame in enumerate(frames):
        began = time.monotonic()
        path = expand_output(args.output, frame)
        say(f"Fra:{format_frame(frame)} rendering frame {format_frame(frame)} ({index + 1} of {len(frames)}) "
            f"on {host}")
        if should_fail(args, frame, host):
            misbehave(args.fail_mode, frame, path)
        image = render_image(frame, width, height)
        steps = max(1, min(10, int(seconds / 0.05)))
        for i in range(1, steps + 1):
            # Sleep to absolute deadlines so a node's speed stays exact however long encoding took.
            delay = began + seconds * i / steps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            say(f"ALF_PROGRESS {int(100 * i / steps)}%")
        try:
            write_atomic(path, image)
        except OSError as exc:
            reason = "No space left on device" if exc.errno == errno.ENOSPC else (exc.strerror or str(exc))
            say(f"Error: cannot write '{path}': [Errno {exc.errno}] {reason}", sys.stderr)
            return 1
        say(f"Saved: '{path}'")
        elapsed = time.monotonic() - began
        say(f" Time: {int(elapsed // 60):02d}:{elapsed % 60:05.2f}")
    say("farmhand_demo_render: finished")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
