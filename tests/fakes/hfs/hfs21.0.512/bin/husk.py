"""Fake of Houdini's husk (tests only), run by this install's bundled Python through ``bin/husk``.

It follows husk's documented command line (``husk [options] usd_file``; SideFX's husk page and the
``husk --help`` text quoted in docs/houdini.md's sources): ``-f/--frame START`` (default 1),
``-n/--frame-count COUNT`` (a count, not an end frame), ``-i/--frame-inc STEP``, ``-V/--verbose SPEC``
(``a`` in it turns on Alfred progress: ``ALF_PROGRESS NN%``), ``-s/--settings PRIM``, ``-o/--output
IMAGE`` (``$F4``, ``$F``, ``$FF``, ``<F4>``, ``%04d`` expanded per frame), ``--make-output-path``,
``-R/--renderer``, ``--no-mplay``, ``-j/--threads``. Without ``-o`` each frame is written to the
RenderProduct names the USD file lists (the fake USD ROP writes ``FAKE USD product=NAME`` lines).

A USD file that cannot be opened is an error; husk of a release before 20.5 still exits 0 after it
(the table in docs/houdini.md), 20.5 and later exit 1. ``FAKE_HUSK_SECONDS`` is the time per frame.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import time
from pathlib import Path
from types import ModuleType

_TOKEN = re.compile(r"\$\{F(\d?)\}|\$F(\d?)(?![A-Za-z0-9_])|<F(\d?)>|%0?(\d*)d")
_PRODUCT = re.compile(r"^FAKE USD frame=(\S+) product=(.+)$")


def _images() -> ModuleType:
    """The fake renderers' image writer (tests/fakes/hou/fake_hou/_images.py), loaded from its file: the
    fake hou package itself is not needed here."""
    path = Path(__file__).parents[3] / "hou" / "fake_hou" / "_images.py"
    spec = importlib.util.spec_from_file_location("fake_images", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expand(pattern: str, frame: float) -> str:
    """``pattern`` for ``frame``: ``$FF`` is the fractional frame, the other tokens its padded integer."""
    pattern = pattern.replace("$FF", f"{frame:g}")

    def sub(match: re.Match[str]) -> str:
        width = next((g for g in match.groups() if g is not None), "") or "0"
        return f"{int(frame):0{int(width)}d}"

    return _TOKEN.sub(sub, pattern)


def error(message: str) -> int:
    """Print husk's error line; the exit status: before Houdini 20.5 husk could exit 0 after an error,
    from 20.5 it reports one."""
    print(f"[{time.strftime('%H:%M:%S')}] Error: {message}", flush=True)
    build = Path(os.environ.get("HFS", "hfs21.0.512")).name[len("hfs"):]
    major_minor = tuple(int(p) for p in build.split(".")[:2] if p.isdigit())
    return 1 if major_minor >= (20, 5) else 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="husk", add_help=False)
    parser.add_argument("-f", "--frame", type=float, default=1.0)
    parser.add_argument("-n", "--frame-count", type=int, default=1)
    parser.add_argument("-i", "--frame-inc", type=float, default=1.0)
    parser.add_argument("-V", "--verbose", default="")
    parser.add_argument("-s", "--settings", default="")
    parser.add_argument("-o", "--output", default="")
    parser.add_argument("-R", "--renderer", default="BRAY_HdKarma")
    parser.add_argument("-j", "--threads", type=int, default=0)
    parser.add_argument("--make-output-path", action="store_true")
    parser.add_argument("--no-mplay", action="store_true")
    parser.add_argument("usd_file")
    return parser.parse_args(argv)


def outputs(args: argparse.Namespace, usd_text: str, frame: float) -> list[str]:
    """What ``frame`` writes: ``-o``, else the RenderProducts the USD file names for that frame."""
    if args.output:
        return [args.output]
    found = (_PRODUCT.match(line) for line in usd_text.splitlines())
    return [m.group(2) for m in found if m and m.group(1) == f"{frame:g}"]


def render(args: argparse.Namespace, usd_text: str) -> int:
    seconds = float(os.environ.get("FAKE_HUSK_SECONDS", "0.02"))
    alf = "a" in args.verbose
    images = _images()
    for n in range(args.frame_count):
        frame = args.frame + n * args.frame_inc
        print(f"[{time.strftime('%H:%M:%S')}] Rendering frame {frame:g}", flush=True)
        for percent in (0, 50, 100) if alf else ():
            print(f"ALF_PROGRESS {percent}%", flush=True)
            time.sleep(seconds / 3)
        names = outputs(args, usd_text, frame)
        if not names:
            return error(f"no RenderProduct for frame {frame:g} and no -o: nothing to write")
        for name in names:
            path = Path(expand(name, frame))
            if args.make_output_path:
                path.parent.mkdir(parents=True, exist_ok=True)
            try:
                if not images.write(path, f"{args.settings} {frame:g}"):
                    path.write_text(f"FAKE HUSK OUTPUT settings={args.settings} frame={frame:g}\n")
            except OSError as exc:
                return error(f"Unable to write {path}: {exc.strerror}")
    return 0


def main(argv: list[str]) -> int:
    args = parse(argv)
    print(f"husk version {Path(os.environ.get('HFS', 'hfs')).name[len('hfs'):]}", flush=True)
    try:
        text = Path(args.usd_file).read_text()
    except (OSError, UnicodeError):
        return error(f"Unable to open {args.usd_file}")
    print(f"Loading {args.usd_file}", flush=True)
    return render(args, text)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
