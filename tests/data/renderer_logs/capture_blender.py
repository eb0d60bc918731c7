#!/usr/bin/env python3
"""Regenerate the real Blender captures in this directory (run with the system python3 and Blender).

    python3 tests/data/renderer_logs/capture_blender.py [/usr/bin/blender]

It builds two tiny Cycles scenes from code (4 samples, 96x54; one with denoising on, which Debian's
Blender cannot do), renders them, and writes each run's combined stdout+stderr with a ``#|`` header
holding what the tests expect: exit status, failure kind, frames done and files written.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = Path("/tmp/farmhand-blender-capture")

SCENE = HERE / "blender_scene.py"  # builds the scene inside Blender


def run(argv: list[str]) -> tuple[int, str]:
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    return proc.returncode, proc.stdout


def capture(name: str, blender: str, argv: list[str], expect: str, done: str, outputs: list[str]) -> None:
    code, text = run([blender, *argv])
    version = text.splitlines()[0] if text else "Blender"
    header = [
        f"source: real capture, {version} (Debian package), made by capture_blender.py",
        "command: blender " + " ".join(argv),
        "preset: blender",
        f"exit: {code}",
        f"expect: {expect}",
        f"done: {done}",
        "outputs: " + ",".join(outputs),
    ]
    body = "".join(f"#| {line}\n" for line in header) + text
    (HERE / name).write_text(body, encoding="utf-8")
    print(f"{name}: exit {code}, {len(text.splitlines())} lines")


def main() -> int:
    blender = sys.argv[1] if len(sys.argv) > 1 else "/usr/bin/blender"
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    for kind in ("ok", "denoise"):
        code, text = run([blender, "-b", "--factory-startup", "--python", str(SCENE), "--",
                          str(WORK / f"{kind}.blend"), kind, "4", "96x54"])
        if code != 0:
            print(text)
            return 1
    out = WORK / "out"
    capture("blender-cycles-3frames.ok.log", blender,
            ["-b", str(WORK / "ok.blend"), "-o", f"{out}/frame_####", "-s", "1", "-e", "3", "-j", "1", "-a"],
            "ok", "1,2,3", [f"{out}/frame_{i:04d}.png" for i in (1, 2, 3)])
    # Blender reads a leading +/- in -s/-e as RELATIVE to the scene's own value: "-s -2" on a scene
    # starting at 1 starts at -1. So negative frames cannot be passed on the command line (the blender
    # preset refuses them), and a negative frame's # padding is "-0001" (digits padded, then the sign).
    capture("blender-relative-start.ok.log", blender,
            ["-b", str(WORK / "ok.blend"), "-o", f"{out}/step_####", "-s", "-2", "-e", "2", "-j", "2", "-a"],
            "ok", "-1,1", [f"{out}/step_-0001.png", f"{out}/step_0001.png"])
    capture("blender-denoise.scene_load.log", blender,
            ["-b", str(WORK / "denoise.blend"), "-o", f"{out}/dn_####", "-s", "1", "-e", "2", "-a"],
            "scene_load", "", [])
    capture("blender-missing-file.missing_file.log", blender,
            ["-b", str(WORK / "nonexistent.blend"), "-o", f"{out}/miss_####", "-s", "1", "-e", "2", "-a"],
            "missing_file", "", [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
