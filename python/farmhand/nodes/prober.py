"""The scanner's engine: one selector driving a bounded pool of non-blocking connects.

:class:`Prober` takes addresses from an iterator, keeps at most ``limit`` sockets in flight and turns
each into one :class:`ProbeResult`. A probe moves through two queues, each in the order its wait began,
so the oldest entry always expires first: *connecting* (until the connect deadline) and *reading* (the
first line after the connect, until the banner deadline). The deadlines come from :class:`Deadlines`,
which learns from the answers seen. :func:`read_banner` decides what a peer's first bytes mean.
"""

from __future__ import annotations

import errno
import logging
import selectors
import socket
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Optional

from farmhand.errors import FarmhandError

log = logging.getLogger(__name__)

_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}
#: Errors of this machine, not of the address: never a result while our own probes could be the cause.
_RESOURCE = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.EADDRNOTAVAIL, errno.ENOMEM}
_IN_PROGRESS = {0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY, errno.EINTR}
#: Resource errors in a row, with nothing of ours in flight, before they count as the machine's state
#: (then an address without a local route is settled as unreachable at once: the scan must end).
MAX_TRIES = 5
#: What OpenSSH's sshd writes instead of its banner when it turns a connection away.
SSHD_REFUSALS = frozenset({"Exceeded MaxStartups", "Not allowed at this time"})
_BANNER_BYTES = 1024
_TICK = 0.05  # longest selector wait: how quickly a stop request is seen


class ProbeState(str, Enum):
    SSH = "ssh"
    OPEN = "open"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    SILENT = "silent"


@dataclass(frozen=True)
class ProbeResult:
    address: str
    state: ProbeState
    banner: Optional[str] = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"address": self.address, "state": self.state.value}
        if self.banner is not None:
            out["banner"] = self.banner
        return out


@dataclass
class Deadlines:
    """How long a probe may wait, learnt from the answers seen so far in this scan (seconds).

    ``timeout`` bounds the connect and ``banner_timeout`` the wait for the first line after it; with
    ``adaptive`` each shrinks to ``factor`` x the slowest such answer seen, never below its floor."""

    timeout: float = 1.0
    min_timeout: float = 0.25
    banner_timeout: float = 2.0
    min_banner: float = 0.25
    adaptive: bool = True
    factor: float = 20.0
    slowest_connect: float = 0.0
    slowest_banner: float = 0.0

    def connect(self) -> float:
        return self._shrunk(self.timeout, self.min_timeout, self.slowest_connect)

    def banner(self) -> float:
        return self._shrunk(self.banner_timeout, self.min_banner, self.slowest_banner)

    def answered(self, seconds: float) -> None:
        """A host answered the connect (accepted or refused) after ``seconds``."""
        self.slowest_connect = max(self.slowest_connect, seconds)

    def banner_seen(self, seconds: float) -> None:
        """An SSH server sent its banner ``seconds`` after the connection was accepted."""
        self.slowest_banner = max(self.slowest_banner, seconds)

    def _shrunk(self, limit: float, floor: float, slowest: float) -> float:
        if not self.adaptive or slowest <= 0:
            return limit
        return min(limit, max(floor, self.factor * slowest))


def classify_error(code: int) -> ProbeState:
    """What a failed connect's errno says about the address."""
    if code == errno.ECONNREFUSED:
        return ProbeState.REFUSED
    if code == errno.ETIMEDOUT:
        return ProbeState.SILENT
    return ProbeState.UNREACHABLE  # _UNREACHABLE, and anything stranger (EACCES for a broadcast address)


def read_banner(data: bytes, eof: bool) -> Optional[tuple[ProbeState, Optional[str]]]:
    """The verdict on a connected peer's first bytes, or None while more may come.

    Decided at the first complete line: ``SSH-…`` (anywhere among the lines received) or an sshd
    refusal is SSH, anything else is ``open`` with that line. At EOF or after 1 KiB without a line end,
    what arrived is ``open``."""
    lines = data.split(b"\n")
    complete = lines if eof else lines[:-1]
    texts = [line.decode("latin-1").strip("\r")[:255] for line in complete]
    for text in texts:
        if text.startswith("SSH-"):
            return ProbeState.SSH, text.strip()
    first = next((t.strip() for t in texts if t.strip()), None)
    if first in SSHD_REFUSALS:
        return ProbeState.SSH, first
    if texts or eof or len(data) >= _BANNER_BYTES:
        return ProbeState.OPEN, first if first is not None else _partial(data)
    return None


def _partial(data: bytes) -> Optional[str]:
    text = data.decode("latin-1").strip()[:255]
    return text or None


class _Probe:
    __slots__ = ("address", "connected_at", "data", "done", "sock", "started")

    def __init__(self, address: str, sock: socket.socket, started: float) -> None:
        self.address = address
        self.sock = sock
        self.started = started
        self.connected_at: Optional[float] = None
        self.data = b""
        self.done = False


class Prober:
    """One scan run over ``source`` (addresses that do not repeat); iterate :meth:`run` once."""

    def __init__(self, source: Iterator[str], port: int, deadlines: Deadlines, limit: int) -> None:
        self.source = source
        self.port = port
        self.deadlines = deadlines
        self.limit = max(1, limit)
        self.exhausted = False
        self._retry: deque[str] = deque()  # addresses that met a resource error: try again
        self._stuck = 0  # resource errors in a row with nothing of ours in flight
        self._inflight: dict[int, _Probe] = {}  # fd -> probe
        self._connecting: deque[_Probe] = deque()
        self._reading: deque[_Probe] = deque()
        self._ready: list[ProbeResult] = []
        self._sel = selectors.DefaultSelector()

    def run(self, should_stop: Optional[Callable[[], bool]] = None) -> Iterator[ProbeResult]:
        """Yield a result per address as it completes; see :func:`farmhand.nodes.discovery.scan_iter`."""
        try:
            while True:
                if not self.exhausted and should_stop is not None and should_stop():
                    self.stop()
                self._start_probes()
                if not self._inflight and not self._retry and self.exhausted:
                    break
                self._wait()
                self._expire()
                yield from self._take()
        finally:
            for p in list(self._inflight.values()):
                p.sock.close()
            self._sel.close()
        yield from self._take()

    def stop(self) -> None:
        """Start no further address; the probes in flight finish by their deadlines."""
        log.info("scan stopped: %d probes in flight finish, no more are started", len(self._inflight))
        self.exhausted = True
        self._retry.clear()

    # ------------------------------------------------------------------ starting probes
    def _next_address(self) -> Optional[str]:
        if self._retry:
            return self._retry.popleft()
        if self.exhausted:
            return None
        try:
            return next(self.source)
        except StopIteration:
            self.exhausted = True
            return None

    def _start_probes(self) -> None:
        while len(self._inflight) < self.limit:
            address = self._next_address()
            if address is None or not self._start(address):
                return

    def _start(self, address: str) -> bool:
        """Begin one connect; False when this machine is out of resources (start no more this round)."""
        started = time.monotonic()
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as exc:
            return self._out_of_resources(address, exc.errno or 0, started)
        sock.setblocking(False)
        try:
            code = sock.connect_ex((address, self.port))
        except OSError as exc:
            code = exc.errno or errno.EINVAL
        if code in _RESOURCE:
            sock.close()
            return self._out_of_resources(address, code, started)
        self._stuck = 0
        p = _Probe(address, sock, started)
        if code not in _IN_PROGRESS:
            sock.close()
            self._result(p, classify_error(code))
            return True
        self._inflight[sock.fileno()] = p
        self._sel.register(sock, selectors.EVENT_WRITE, p)
        self._connecting.append(p)
        return True

    def _out_of_resources(self, address: str, code: int, started: float) -> bool:
        """Requeue ``address`` with a lower concurrency; settle it once retrying cannot help."""
        name = errno.errorcode.get(code, str(code))
        if code not in _RESOURCE:
            raise FarmhandError(f"scan: cannot open a socket for {address}: {name}")
        self._retry.appendleft(address)
        if self._inflight:  # perhaps our own doing: fewer at once, and this address again later
            self.limit = max(1, len(self._inflight) - 8)
            log.warning("out of sockets (%s): lowering scan concurrency to %d", name, self.limit)
            return False
        self._stuck += 1
        if self._stuck < MAX_TRIES:
            return False
        # Nothing of ours in flight and it persists: the machine, not this scan, is the cause.
        self._retry.popleft()
        if code != errno.EADDRNOTAVAIL:
            raise FarmhandError(f"scan stopped: this machine is out of {_what(code)} ({name}); raise the "
                                "limit or scan a smaller range")
        # No local address to connect from (the interface went away): that address cannot be reached.
        self._ready.append(ProbeResult(address, ProbeState.UNREACHABLE, None, time.monotonic() - started))
        return True

    # ------------------------------------------------------------------ waiting and answers
    def _wake_in(self) -> float:
        now = time.monotonic()
        wake = _TICK
        if self._connecting:
            wake = min(wake, self._connecting[0].started + self.deadlines.connect() - now)
        if self._reading:
            first = self._reading[0].connected_at or now
            wake = min(wake, first + self.deadlines.banner() - now)
        return max(0.0, wake)

    def _wait(self) -> None:
        wake = self._wake_in()
        if not self._inflight:
            if self._retry:  # resource errors with nothing in flight: pause before the retry
                time.sleep(_TICK)
            return
        for key, _mask in self._sel.select(wake):
            p: _Probe = key.data
            if p.done:
                continue
            if p.connected_at is None:
                self._on_connect(p)
            else:
                self._on_data(p)

    def _on_connect(self, p: _Probe) -> None:
        now = time.monotonic()
        try:
            err = p.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        except OSError as exc:
            err = exc.errno or errno.EHOSTUNREACH
        if err == 0:
            p.connected_at = now
            self.deadlines.answered(now - p.started)
            self._reading.append(p)
            self._sel.modify(p.sock, selectors.EVENT_READ, p)
            return
        if err in _RESOURCE:
            self._close(p)
            self._out_of_resources(p.address, err, p.started)
            return
        if err == errno.ECONNREFUSED:
            self.deadlines.answered(now - p.started)
        self._finish(p, classify_error(err))

    def _on_data(self, p: _Probe) -> None:
        try:
            chunk = p.sock.recv(_BANNER_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        p.data += chunk
        verdict = read_banner(p.data, eof=not chunk)
        if verdict is None:
            return
        state, banner = verdict
        if state is ProbeState.SSH and p.connected_at is not None:
            self.deadlines.banner_seen(time.monotonic() - p.connected_at)
        self._finish(p, state, banner)

    def _expire(self) -> None:
        now = time.monotonic()
        limit = self.deadlines.connect()
        while self._connecting:
            p = self._connecting[0]
            if not (p.done or p.connected_at is not None or p.started + limit <= now):
                break
            self._connecting.popleft()
            if not p.done and p.connected_at is None:
                self._finish(p, ProbeState.SILENT)
        limit = self.deadlines.banner()
        while self._reading:
            p = self._reading[0]
            if not (p.done or (p.connected_at or now) + limit <= now):
                break
            self._reading.popleft()
            if not p.done:
                # Accepted and silent (or half a line): not SSH as far as anyone can tell.
                self._finish(p, ProbeState.OPEN, _partial(p.data))

    # ------------------------------------------------------------------ results
    def _close(self, p: _Probe) -> None:
        fd = p.sock.fileno()
        if self._inflight.get(fd) is p:
            del self._inflight[fd]
            self._sel.unregister(p.sock)
        p.sock.close()
        p.done = True

    def _finish(self, p: _Probe, state: ProbeState, banner: Optional[str] = None) -> None:
        self._close(p)
        self._result(p, state, banner)

    def _result(self, p: _Probe, state: ProbeState, banner: Optional[str] = None) -> None:
        p.done = True
        self._ready.append(ProbeResult(p.address, state, banner, time.monotonic() - p.started))

    def _take(self) -> list[ProbeResult]:
        out, self._ready = self._ready, []
        return out


def _what(code: int) -> str:
    if code in (errno.EMFILE, errno.ENFILE):
        return "file descriptors (ulimit -n)"
    return "kernel memory for sockets"
