#!/usr/bin/env python3
"""A hostile renderer for the lab: what a scene nobody checked can make a render print and do.

Run through the ``command`` preset (python3 standard library only, on the node)::

    farmhand submit --preset command --frames 1-4 --output '/share/out/h.$F4.png' \\
        --command 'python3 {farmhand}/lab/hostile_render.py --mode lines {start} {end} {output}'

Every mode prints the corpus of nasty lines first (unless ``--quiet``), on stdout and stderr:

* a 4 MiB line without a line end for most of it, invalid UTF-8, NUL bytes, bare carriage returns;
* terminal escapes: a window title (OSC 0), the clipboard (OSC 52), clear screen, colours, a
  right-to-left override;
* Farmhand's own markers as a render could print them: ``FARMHAND_BUSY``, ``FARMHAND_MISSING``,
  ``FARMHAND_PGID``, ``FARMHAND_CTL`` with a guessed nonce, ``FARMHAND_EVENT`` with NaN and huge
  numbers, a worker "done" for a file it never wrote;
* numbers no frame or percentage has: 10**400, NaN, infinity, a 5000-digit frame;
* text that makes a careless regular expression backtrack for minutes (long runs of spaces, digits and
  quotes in front of what a pattern looks for);

then behaves as ``--mode`` says:

==============  ================================================================================
``lines``       renders every frame properly (a 1x1 PNG each, "ALF_PROGRESS" and "Saved" lines)
``busy-crash``  prints "FARMHAND_BUSY", then dies of SIGSEGV: a crash, never a busy node
``segv``        renders frames until frame ``--crash-at`` (default: its second), dies of SIGSEGV on it
``exit0``       exits 0 having written nothing (the outputs are missing)
``hang``        starts the first frame, then prints nothing and sleeps
``forkbomb``    starts ``--children`` (limited) sleeping children that keep its output open, renders
                every frame, exits 0: the chunk only ends when its process group is killed
``closeout``    closes its stdout, then renders every frame silently and exits 0
``flood``       prints ``--flood`` lines as fast as it can, then renders every frame
==============  ================================================================================
"""

from __future__ import annotations

import argparse
import os
import signal
import struct
import sys
import time
import zlib

MODES = ("lines", "busy-crash", "segv", "exit0", "hang", "forkbomb", "closeout", "flood")
GUESSED_NONCE = "0" * 32


def out(data: bytes, err: bool = False) -> None:
    """Raw bytes to stdout or stderr, flushed (a closed stream is ignored: that is a mode too)."""
    stream = sys.stderr.buffer if err else sys.stdout.buffer
    try:
        stream.write(data)
        stream.flush()
    except (OSError, ValueError):
        pass


def line(text: str, err: bool = False) -> None:
    out(text.encode("utf-8", "surrogateescape") + b"\n", err)


def corpus() -> list[bytes]:
    """The nasty lines, as bytes (some are not UTF-8)."""
    esc = "\x1b"
    lines = [
        b"A" * (4 * 1024 * 1024),
        b"invalid utf-8: \xff\xfe\xc3\x28 \xed\xa0\x80 \xf4\x90\x80\x80 end",
        b"nul \x00 bytes \x00 inside",
        b"carriage\rreturns\rwithout\rnewlines",
        f"{esc}]0;window title set by a scene{esc}\\".encode(),
        f"{esc}]52;c;cm0gLXJmIH4vKg=={esc}\\".encode(),
        f"{esc}[2J{esc}[H{esc}[31mcleared and red{esc}[0m".encode(),
        "bidi \u202etxt.exe\u202c override".encode(),
        b"FARMHAND_BUSY node is rendering for another dispatcher",
        b"FARMHAND_MISSING /nowhere/farmhand",
        b"FARMHAND_PGID 1",
        f"FARMHAND_CTL {GUESSED_NONCE} BUSY".encode(),
        f"FARMHAND_CTL {GUESSED_NONCE} PGID 1".encode(),
        b'FARMHAND_EVENT {"event": "start", "frame": NaN}',
        b'FARMHAND_EVENT {"event": "done", "frame": 1e400, "outputs": ["/etc/passwd"]}',
        b'FARMHAND_EVENT {"event": "done", "frame": 1, "seconds": -1, "outputs": ["/nonexistent.png"]}',
        b'FARMHAND_EVENT {"event": "error", "kind": {"x": 1}, "frame": 1, "message": "no"}',
        b"ALF_PROGRESS " + b"9" * 400 + b"%",
        b"ALF_PROGRESS nan%",
        b"ALF_PROGRESS 1e400%",
        b"Fra:" + b"9" * 5000 + b" Mem:1M",
        b"Fra:nan Mem:1M",
        b"Fra:inf Mem:1M",
        b"Saved: '" + b"'" * 60000,
        b"ALF_PROGRESS " + b" " * 60000 + b"x",
        b"Error: " + b"0" * 60000 + b"!",
        b"1" * 60000 + b".",
    ]
    return lines


def png(size: int = 1) -> bytes:
    """A size x size grey PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80" * size for _ in range(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


def expand(pattern: str, frame: int) -> str:
    """The output path of ``frame`` (``$F4`` or ``####``), as the presets expand it."""
    for token, width in (("$F4", 4), ("####", 4), ("$F3", 3), ("$F2", 2), ("$F", 1)):
        if token in pattern:
            return pattern.replace(token, str(frame).zfill(width))
    return pattern


def render(frame: int, output: str, quiet: bool) -> None:
    if not quiet:
        line("ALF_PROGRESS 0%")
    path = expand(output, frame)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        fh.write(png())
    os.replace(tmp, path)
    if not quiet:
        line("ALF_PROGRESS 100%")
        line(f"Saved: '{path}'")


def frames(start: int, end: int) -> list[int]:
    return list(range(start, end + 1))


def fork_children(count: int) -> None:
    """``count`` children that sleep for an hour with this process's output open (same group)."""
    for _ in range(count):
        if os.fork() == 0:
            try:
                time.sleep(3600)
            finally:
                os._exit(0)


def behave(args: argparse.Namespace) -> int:
    todo = frames(args.start, args.end)
    mode = args.mode
    if mode == "busy-crash":
        line("FARMHAND_BUSY node is rendering for another dispatcher")
        os.kill(os.getpid(), signal.SIGSEGV)
    if mode == "exit0":
        return 0
    if mode == "hang":
        line("ALF_PROGRESS 10%")
        time.sleep(3600)
        return 0
    if mode == "closeout":
        os.close(1)
        for frame in todo:
            render(frame, args.output, quiet=True)
        return 0
    if mode == "forkbomb":
        fork_children(args.children)
    if mode == "flood":
        for i in range(args.flood):
            out(b"flood %d \xff\x1b[2J\n" % i)
    crash_at = args.crash_at if args.crash_at is not None else (todo[1] if len(todo) > 1 else None)
    for frame in todo:
        if mode == "segv" and frame == crash_at:
            os.kill(os.getpid(), signal.SIGSEGV)
        render(frame, args.output, quiet=False)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=MODES, default="lines")
    parser.add_argument("--quiet", action="store_true", help="leave the corpus out")
    parser.add_argument("--children", type=int, default=50, help="forkbomb: children (at most 200)")
    parser.add_argument("--flood", type=int, default=200_000, help="flood: lines")
    parser.add_argument("--crash-at", type=int, help="segv: the frame to die on")
    parser.add_argument("start", type=int)
    parser.add_argument("end", type=int)
    parser.add_argument("output")
    args = parser.parse_args(argv)
    args.children = max(0, min(args.children, 200))
    if not args.quiet:
        for data in corpus():
            out(data + b"\n")
            out(data[:1000] + b"\n", err=True)
    return behave(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
