"""A fake of the SSH executor with simulated renderers, for driving the dispatcher step by step.

``FakeExecutor`` implements :class:`farmhand.remote.Executor`. Each ``start`` of a chunk (the node
wrapper around the ``demo`` preset's argv) creates a :class:`FakeRender`; like the real wrapper it says
nothing until the dispatcher has written the chunk's nonce on its stdin, then prints its own lines with
that nonce (``PGID``, or ``BUSY`` / ``MISSING``) and, as the test advances
simulated time, prints the lines the stand-in renderer prints (``Fra:N``, ``ALF_PROGRESS``, ``Saved:``)
and writes real output files, at the node's configured speed. Faults are per node. ``run`` answers the
dispatcher's kill / orphan-check / output-check scripts. Nothing sleeps: tests call ``advance(now)``.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from farmhand.engine import nodescripts
from farmhand.errors import NodeUnreachable
from farmhand.frames import expand_output, normalise
from farmhand.presets import worker_protocol
from farmhand.remote import OnLine, RunResult


def png(text: str) -> bytes:
    """A real 1x1 grey PNG naming who wrote it (verification reads image outputs whole)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"tEXt", b"Comment\0" + text.encode()) + chunk(b"IDAT", zlib.compress(b"\0\x80"))
            + chunk(b"IEND", b""))


@dataclass
class NodeBehaviour:
    spf: float = 1.0  # simulated seconds per frame
    startup: float = 0.0  # seconds before the first frame starts
    dead: bool = False  # start() raises NodeUnreachable
    crash_at: Optional[float] = None  # frame at which the renderer segfaults (once per flag)
    crash_after: Optional[int] = None  # segfault on the frame after this many frames done (once)
    done_count: int = 0
    hang_at: Optional[float] = None  # frame at which it stops printing anything
    licence: int = 0  # the next N starts fail with a licence error
    missing_file: bool = False  # the scene cannot be found (deterministic)
    busy: int = 0  # the next N starts find the node locked
    skip_write: set[float] = field(default_factory=set)  # frames reported done without a file (once)
    exit_delay: float = 0.0  # seconds the renderer takes to exit after its last frame
    term_delay: float = 0.0  # seconds a TERMed process group takes to die (reaped in a later step)
    private_disk: Optional[Path] = None  # outputs land here (+ their path), not on the share: not shared
    preamble: list[tuple[str, str]] = field(default_factory=list)  # lines printed before the wrapper's
    share_lag: float = 0.0  # seconds before a file the node wrote shows on the share (NFS caching)
    late_write: float = 0.0  # seconds after its "Saved" line a frame's file is complete (closed late)
    print_before_crash: list[str] = field(default_factory=list)  # lines a crashing frame prints first


class FakeRender:
    def __init__(
        self, executor: FakeExecutor, host: str, argv: Sequence[str], on_line: OnLine, now: float, pgid: int
    ) -> None:
        self.ex, self.host, self.on_line = executor, host, on_line
        self.pgid = pgid
        self.argv = list(argv)
        self.result: Optional[RunResult] = None
        self.killed = False
        self.term_at: Optional[float] = None
        self.closed = False
        self.stdin: list[str] = []
        self.require = self.argv[4]  # sh -c WRAPPER marker REQUIRE render-argv...
        self.inner = inner = self.argv[5:]
        self.worker = "--worker" in inner
        self.frames: list[float] = []
        if not self.worker:
            start = float(_opt(inner, "--start"))
            end = float(_opt(inner, "--end"))
            step = float(_opt(inner, "--step"))
            f = start
            while f <= end + 1e-9:
                self.frames.append(normalise(f))
                f += step
        self.output = _opt(inner, "--output")
        self.t = now
        self.next_at = now + executor.nodes[host].startup
        self.index = 0
        self.current: Optional[float] = None
        self.hung = False
        self.ready = False
        self.exit_at: Optional[float] = None
        self.holds_lock = False
        self.lock_wait_until: Optional[float] = None
        self.nonce: Optional[str] = None
        self.next_at = float("inf")  # nothing happens before the nonce arrives

    def control(self, word: str, arg: str = "") -> None:
        """A line of the chunk wrapper (carrying the nonce, like the real one)."""
        self.on_line("out", nodescripts.control_line(self.nonce or "", word, arg))

    def begin(self, nonce: str) -> None:
        """The wrapper read its nonce: it checks the folder it needs, the node lock, then starts."""
        self.nonce = nonce
        b = self.behaviour
        for stream, line in b.preamble:
            self.on_line(stream, line)
        if self.require and not os.path.isdir(self.require):
            # The node cannot see the folder the render needs (nodes share our files).
            self.control(nodescripts.MISSING_WORD, self.require)
            self.end(nodescripts.MISSING_EXIT)
            return
        if b.busy:
            b.busy -= 1
            self.control(nodescripts.BUSY_WORD, "node is rendering for another dispatcher")
            self.end(nodescripts.BUSY_EXIT)
            return
        self.holds_lock = True
        if any(p is not self and p.result is None and p.holds_lock for p in self.ex.live(self.host)):
            # Like "flock -w 3": the previous render on the node still holds the lock; say nothing yet.
            self.holds_lock = False
            self.lock_wait_until = self.t + 3.0
            return
        self._started()

    def _started(self) -> None:
        """The wrapper has the lock: it says its group, and the render starts."""
        b = self.behaviour
        self.next_at = self.t + b.startup
        self.control(nodescripts.PGID_WORD, str(self.pgid))
        if b.licence:
            b.licence -= 1
            self.on_line("err", "No licenses could be found to run this application.")
            self.end(3)
        elif b.missing_file:
            self.on_line("err", "Error: Cannot read file '/share/missing.blend': No such file or directory")
            self.end(1)

    @property
    def behaviour(self) -> NodeBehaviour:
        return self.ex.nodes[self.host]

    def end(self, exit_code: Optional[int], signal: Optional[str] = None) -> None:
        if self.result is None:
            self.result = RunResult(self.host, " ".join(self.argv), exit_code, "", "", 0.0, signal)

    def advance(self, now: float) -> None:
        if self.term_at is not None:
            if now >= self.term_at:
                self.end(None, "TERM")
            return
        if not self._has_lock(now):
            return
        while self.result is None and not self.hung and self.next_at <= now:
            if self.worker:
                self._worker_tick()
            elif not (self._start_frame(now) if self.current is None else self._finish_frame()):
                return

    def _has_lock(self, now: float) -> bool:
        """Like the wrapper's "flock -w 3": wait for the node's previous render to exit."""
        if self.lock_wait_until is None or self.result is not None:
            return True
        if any(p is not self and p.result is None and p.holds_lock for p in self.ex.live(self.host)):
            if now >= self.lock_wait_until:
                self.control(nodescripts.BUSY_WORD, "node is rendering for another dispatcher")
                self.end(nodescripts.BUSY_EXIT)
            return False
        self.lock_wait_until = None
        self.holds_lock = True
        self._started()
        return self.result is None

    def _start_frame(self, now: float) -> bool:
        """Start the next frame (or exit after the last); False when nothing more happens this step."""
        b = self.behaviour
        if self.index >= len(self.frames):
            if b.exit_delay and self.exit_at is None:
                self.exit_at = now + b.exit_delay
            if self.exit_at is None or now >= self.exit_at:
                self.end(0)
            return False
        self.current = self.frames[self.index]
        self.on_line("out", f"Fra:{self.current:g} Mem:1M | Sample 0/4")
        if b.hang_at is not None and self.current == b.hang_at:
            b.hang_at = None
            self.hung = True
            return False
        self.on_line("out", "ALF_PROGRESS 0%")
        self.next_at += b.spf
        return True

    def _finish_frame(self) -> bool:
        """Finish the current frame (write its file), or crash on it; False when the process died."""
        b = self.behaviour
        frame = self.current
        assert frame is not None
        if (b.crash_at is not None and frame == b.crash_at) or b.crash_after == b.done_count:
            b.crash_at = b.crash_after = None
            for line in b.print_before_crash:
                self.on_line("out", line)
            self.on_line("err", "Segmentation fault (core dumped)")
            self.end(None, "SEGV")
            return False
        self.on_line("out", "ALF_PROGRESS 100%")
        path = expand_output(self.output, frame)
        if frame in b.skip_write:
            b.skip_write.discard(frame)
        else:
            data = png(f"fake {self.host}")
            self.ex.write_at(self.ex.now + b.late_write, _on_node(b, path), data)
            if b.private_disk is not None and b.share_lag:
                self.ex.write_at(self.ex.now + b.late_write + b.share_lag, Path(path), data)
        self.ex.rendered.append((self.host, frame))
        b.done_count += 1
        self.on_line("out", f"Saved: '{path}'")
        self.current = None
        self.index += 1
        return True

    def _worker_tick(self) -> None:
        b = self.behaviour
        if not self.ready:
            self.ready = True
            self.on_line(
                "out", worker_protocol.encode_event("ready", hip="x", rop="y", load_seconds=b.startup)
            )
            return
        if self.current is None:
            while self.stdin:
                line = self.stdin.pop(0)
                if '"quit"' in line:
                    self.end(0)
                    return
                self.current = normalise(float(line.split('"frame":')[1].strip(" }\n")))
                self.on_line("out", worker_protocol.encode_event("start", frame=self.current))
                self.next_at += b.spf
                return
            self.next_at = float("inf")  # idle until the dispatcher writes
            return
        frame = self.current
        path = expand_output(self.output, frame)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(png("fake worker"))
        self.ex.rendered.append((self.host, frame))
        self.on_line("out", worker_protocol.encode_event("done", frame=frame, seconds=b.spf, outputs=[path]))
        self.current = None

    # --- RemoteProcess ---------------------------------------------------------------------------------
    def write(self, data: str) -> None:
        if self.nonce is None:
            self.begin(data.strip())
            return
        self.stdin.append(data)
        if self.worker and self.current is None:
            self.next_at = min(self.next_at, self.t)

    def close_stdin(self) -> None:
        self.close()

    def poll(self) -> Optional[RunResult]:
        return self.result

    def wait(self, timeout: Optional[float] = None) -> Optional[RunResult]:
        return self.result

    def close(self) -> None:
        self.closed = True
        # The watchdog kills the group when the channel closes; with term_delay it takes that long.
        if not self.behaviour.term_delay:
            self.end(None, "TERM")
        elif self.term_at is None:
            self.term_at = self.ex.now + self.behaviour.term_delay


class FakeExecutor:
    def __init__(self, nodes: dict[str, NodeBehaviour]) -> None:
        self.nodes = nodes
        self.procs: list[FakeRender] = []
        self.rendered: list[tuple[str, float]] = []
        self.runs: list[tuple[str, list[str]]] = []
        self.now = 0.0
        self._pgid = 1000
        self.later: list[tuple[float, Path, bytes]] = []  # files that appear at a given time

    def write_at(self, when: float, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` at simulated time ``when`` (now, or once the test advances to it)."""
        self.later.append((when, path, data))
        self._write_due(self.now)

    def _write_due(self, now: float) -> None:
        for item in [i for i in self.later if i[0] <= now]:
            self.later.remove(item)
            item[1].parent.mkdir(parents=True, exist_ok=True)
            item[1].write_bytes(item[2])

    def advance(self, now: float) -> None:
        self.now = now
        self._write_due(now)
        for proc in self.procs:
            proc.t = now
            proc.advance(now)

    def live(self, host: Optional[str] = None) -> list[FakeRender]:
        return [p for p in self.procs if p.result is None and (host is None or p.host == host)]

    def start(self, host: str, argv: Sequence[str], *, on_line: OnLine, watchdog: bool = True) -> FakeRender:
        b = self.nodes[host]
        if b.dead:
            raise NodeUnreachable(host, "connection refused (fake)")
        self._pgid += 1
        proc = FakeRender(self, host, argv, on_line, self.now, self._pgid)
        self.procs.append(proc)
        return proc

    def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        timeout: Optional[float] = None,
        on_line: Optional[OnLine] = None,
        stdin: Optional[str] = None,
    ) -> RunResult:
        argv = list(argv)
        self.runs.append((host, argv))
        out = ""
        if argv[:3] == ["sh", "-c", nodescripts.KILL_GROUP] or argv[:3] == [
            "sh",
            "-c",
            nodescripts.CHECK_ORPHAN,
        ]:
            pgid = int(argv[4])
            hit = [p for p in self.live(host) if p.pgid == pgid]
            for p in hit:
                p.killed = True
                delay = self.nodes[host].term_delay
                if delay:
                    p.term_at = self.now + delay  # silent from now on, dies later
                else:
                    p.end(None, "TERM")
            out = "terminated\n" if hit else "gone\n"
        elif argv[:3] == ["sh", "-c", nodescripts.CHECK_OUTPUTS]:
            b = self.nodes[host]
            out = "".join(
                "ok\n" if _on_node(b, p).exists() and _on_node(b, p).stat().st_size > 0 else "missing\n"
                for p in argv[4:]
            )
        return RunResult(host, " ".join(argv), 0, out, "", 0.0)


def _on_node(b: NodeBehaviour, path: str) -> Path:
    """Where ``path`` is on the node's disk: the shared path itself, or under its private disk."""
    return b.private_disk / path.lstrip("/") if b.private_disk is not None else Path(path)


def _opt(argv: Sequence[str], name: str) -> str:
    return argv[argv.index(name) + 1]
