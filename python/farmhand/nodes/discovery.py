"""Discovery: find SSH servers in IPv4 ranges with a bounded pool of non-blocking connects.

One selector (epoll/kqueue) drives at most ``concurrency`` sockets; there is no thread or task per
address. Each address is probed exactly once per run (OpenSSH >= 9.8 penalises repeated bare connects)
and classified:

``ssh``          connected and sent an ``SSH-`` banner (kept in the result);
``open``         connected but is not SSH (its first bytes, if any, are kept);
``refused``      RST: the host is up, nothing listens on the port;
``unreachable``  ICMP unreachable / ARP failure reported by the kernel;
``silent``       nothing before the deadline (firewall DROP, or an absent host whose ARP had not yet
                 failed).

The deadline is ``timeout`` seconds; with ``adaptive`` (default) it shrinks, once hosts have answered, to
``max(min_timeout, 20 x the slowest answer seen)`` — on a LAN that ends a /24 in a fraction of a second
instead of waiting the full timeout for every silent address.
Concurrency comes from the open-file limit; running out of descriptors (EMFILE) lowers it and requeues
the address, it is never reported as a result.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import resource
import selectors
import socket
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Optional

from farmhand.errors import UsageError

log = logging.getLogger(__name__)

BIG_SCAN = 65536  # more addresses than a /16 needs an explicit confirmation


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


# ------------------------------------------------------------------------------------------ targets
def _parse_one(text: str) -> list[tuple[int, int]]:
    t = text.strip()
    if not t:
        raise UsageError("empty scan target")
    try:
        if "/" in t:
            net = ipaddress.ip_network(t, strict=False)
            if net.version != 4:
                raise UsageError(f"{t}: only IPv4 ranges can be scanned")
            if net.prefixlen >= 31:
                return [(int(net.network_address), int(net.broadcast_address))]
            return [(int(net.network_address) + 1, int(net.broadcast_address) - 1)]
        if "-" in t and _looks_numeric(t.split("-", 1)[0]):
            a, b = (s.strip() for s in t.split("-", 1))
            first = ipaddress.IPv4Address(a)
            if b.isdigit() and "." not in b:  # 10.0.0.10-80: last octet shorthand
                last = ipaddress.IPv4Address((int(first) & 0xFFFFFF00) | _octet(b, t))
            else:
                last = ipaddress.IPv4Address(b)
            if int(last) < int(first):
                raise UsageError(f"range {t} is backwards: write the lower address first")
            return [(int(first), int(last))]
        addr = ipaddress.ip_address(t)
        if addr.version != 4:
            raise UsageError(f"{t}: only IPv4 addresses can be scanned")
        return [(int(addr), int(addr))]
    except ValueError as exc:
        if "/" in t or _looks_numeric(t.split("-", 1)[0]):
            raise UsageError(
                f"invalid scan target '{t}': use a CIDR (10.0.0.0/24), a range (10.0.0.10-10.0.0.80) "
                "or a host"
            ) from exc
    try:
        infos = socket.getaddrinfo(t, None, socket.AF_INET, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"cannot resolve scan target '{t}': check the name or give an address") from exc
    ip = int(ipaddress.IPv4Address(infos[0][4][0]))
    return [(ip, ip)]


def _looks_numeric(text: str) -> bool:
    return text.strip().replace(".", "").isdigit()


def _octet(text: str, whole: str) -> int:
    value = int(text)
    if not 0 <= value <= 255:
        raise UsageError(f"range {whole}: {value} is not an address octet (0-255)")
    return value


def parse_targets(targets: Sequence[str]) -> list[tuple[int, int]]:
    """Targets → inclusive integer address spans (validated; not yet expanded)."""
    if not targets:
        raise UsageError("nothing to scan: give a CIDR, a range or a host")
    spans: list[tuple[int, int]] = []
    for t in targets:
        spans.extend(_parse_one(t))
    return spans


def count(spans: Sequence[tuple[int, int]]) -> int:
    """Addresses in the spans, each counted once even where targets overlap."""
    return sum(b - a + 1 for a, b in merge(spans))


def merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping spans covering the same addresses."""
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def iter_addresses(spans: Iterable[tuple[int, int]]) -> Iterator[str]:
    """Every address once, in address order, without holding them all in memory."""
    for a, b in merge(spans):
        for ip in range(a, b + 1):
            yield str(ipaddress.IPv4Address(ip))


def expand(spans: Iterable[tuple[int, int]]) -> list[str]:
    """Every address once, in the order given."""
    seen: set[int] = set()
    out: list[str] = []
    for a, b in spans:
        for ip in range(a, b + 1):
            if ip not in seen:
                seen.add(ip)
                out.append(str(ipaddress.IPv4Address(ip)))
    return out


# ------------------------------------------------------------------------------------------ limits
def default_concurrency(cap: int = 4096) -> int:
    """How many probes may be in flight: from RLIMIT_NOFILE (raised to the hard limit if allowed)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        want = min(hard if hard != resource.RLIM_INFINITY else 65536, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError:
        used = 64
    limit = max(1, soft - used - 64)
    if sys.platform == "win32":  # select() there handles at most 512 sockets
        limit = min(limit, 500)
    return min(cap, limit)


# ------------------------------------------------------------------------------------------ the scan
class _Probe:
    __slots__ = ("address", "banner_deadline", "connected", "done", "sock", "started")

    def __init__(self, address: str, sock: socket.socket, started: float) -> None:
        self.address = address
        self.sock = sock
        self.started = started
        self.connected = False
        self.done = False
        self.banner_deadline = 0.0


_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}
_RESOURCE = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.EADDRNOTAVAIL, errno.ENOMEM}


def scan(
    addresses: Sequence[str],
    *,
    port: int = 22,
    timeout: float = 1.0,
    min_timeout: float = 0.25,
    adaptive: bool = True,
    banner_timeout: float = 2.0,
    concurrency: Optional[int] = None,
    on_result: Optional[Callable[[ProbeResult], None]] = None,
    should_stop: Optional[Callable[[], bool]] = None,
) -> list[ProbeResult]:
    """Probe every address once on ``port``; results in the order of ``addresses``.

    Stopped early by ``should_stop`` (see :func:`scan_iter`), only the addresses probed are in the list."""
    results: dict[str, ProbeResult] = {}
    for res in scan_iter(dict.fromkeys(addresses), port=port, timeout=timeout, min_timeout=min_timeout,
                         adaptive=adaptive, banner_timeout=banner_timeout, concurrency=concurrency,
                         should_stop=should_stop):
        results[res.address] = res
        if on_result is not None:
            on_result(res)
    return [results[a] for a in dict.fromkeys(addresses) if a in results]


def scan_iter(
    addresses: Iterable[str],
    *,
    port: int = 22,
    timeout: float = 1.0,
    min_timeout: float = 0.25,
    adaptive: bool = True,
    banner_timeout: float = 2.0,
    concurrency: Optional[int] = None,
    should_stop: Optional[Callable[[], bool]] = None,
) -> Iterator[ProbeResult]:
    """Probe each address of ``addresses`` (which must not repeat) and yield results as they complete.

    Memory stays bounded by the concurrency, whatever the number of addresses (a /8 is 16 M).
    ``should_stop`` (e.g. ``threading.Event().is_set``) is called between selector rounds (at most
    50 ms apart) from the scanning thread; once it returns True no further address is started, the probes
    in flight finish (within ``timeout``, or ``banner_timeout`` for one already connected) and are
    yielded, and the iteration ends."""
    limit = concurrency or default_concurrency()
    source = iter(addresses)
    retry: deque[str] = deque()  # addresses whose socket could not be created (EMFILE): try again
    exhausted = False
    inflight: dict[int, _Probe] = {}
    connecting: deque[_Probe] = deque()  # FIFO by start time: all share one deadline length
    reading: deque[_Probe] = deque()
    ready: list[ProbeResult] = []
    sel = selectors.DefaultSelector()
    slowest = 0.0

    def finish(p: _Probe, state: ProbeState, banner: Optional[str] = None) -> None:
        fd = p.sock.fileno()
        if fd in inflight:
            del inflight[fd]
            sel.unregister(p.sock)
        p.sock.close()
        p.done = True
        ready.append(ProbeResult(p.address, state, banner, time.monotonic() - p.started))

    def requeue(p: _Probe) -> None:
        inflight.pop(p.sock.fileno(), None)
        sel.unregister(p.sock)
        p.sock.close()
        p.done = True
        retry.append(p.address)

    def next_address() -> Optional[str]:
        nonlocal exhausted
        if retry:
            return retry.popleft()
        if exhausted:
            return None
        try:
            return next(source)
        except StopIteration:
            exhausted = True
            return None

    try:
        while True:
            if not exhausted and should_stop is not None and should_stop():
                log.info("scan stopped: %d probes in flight finish, no more are started", len(inflight))
                exhausted = True
                retry.clear()
            while len(inflight) < limit:
                address = next_address()
                if address is None:
                    break
                try:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                except OSError as exc:
                    if exc.errno not in _RESOURCE:
                        raise
                    retry.appendleft(address)
                    limit = max(1, len(inflight) - 8)
                    log.warning("out of sockets (%s): lowering scan concurrency to %d", exc.strerror, limit)
                    break
                sock.setblocking(False)
                p = _Probe(address, sock, time.monotonic())
                code = sock.connect_ex((address, port))
                if code in _RESOURCE:
                    sock.close()
                    retry.appendleft(address)
                    limit = max(1, len(inflight) - 8)
                    break
                inflight[sock.fileno()] = p
                sel.register(sock, selectors.EVENT_WRITE, p)
                if code in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY):
                    connecting.append(p)
                else:
                    finish(p, _classify_error(code))
            if not inflight and not retry and exhausted:
                break
            now = time.monotonic()
            deadline = timeout
            if adaptive and slowest > 0:
                deadline = min(timeout, max(min_timeout, 20 * slowest))
            wake = 0.05
            if connecting:
                wake = min(wake, connecting[0].started + deadline - now)
            if reading:
                wake = min(wake, reading[0].banner_deadline - now)
            for key, _mask in sel.select(max(0.0, wake)) if inflight else []:
                p = key.data
                if p.done:
                    continue
                if not p.connected:
                    err = p.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err == 0:
                        p.connected = True
                        slowest = max(slowest, time.monotonic() - p.started)
                        p.banner_deadline = time.monotonic() + banner_timeout
                        reading.append(p)
                        sel.modify(p.sock, selectors.EVENT_READ, p)
                    elif err in _RESOURCE:
                        requeue(p)
                    else:
                        if err == errno.ECONNREFUSED:
                            slowest = max(slowest, time.monotonic() - p.started)
                        finish(p, _classify_error(err))
                else:
                    try:
                        data = p.sock.recv(256)
                    except OSError:
                        data = b""
                    finish(p, *_classify_banner(data))
            now = time.monotonic()
            while connecting and (connecting[0].connected or connecting[0].done
                                  or connecting[0].started + deadline <= now):
                p = connecting.popleft()
                if not p.connected and not p.done:
                    finish(p, ProbeState.SILENT)
            while reading and (reading[0].done or reading[0].banner_deadline <= now):
                p = reading.popleft()
                if not p.done:
                    finish(p, ProbeState.OPEN)
            if ready:
                yield from ready
                ready.clear()
    finally:
        for p in list(inflight.values()):
            p.sock.close()
        sel.close()
    yield from ready


def _classify_error(code: int) -> ProbeState:
    if code == errno.ECONNREFUSED:
        return ProbeState.REFUSED
    if code in _UNREACHABLE:
        return ProbeState.UNREACHABLE
    if code in (errno.ETIMEDOUT,):
        return ProbeState.SILENT
    return ProbeState.UNREACHABLE


def _classify_banner(data: bytes) -> tuple[ProbeState, Optional[str]]:
    text = data.decode("latin-1", "replace")
    for line in text.splitlines():
        if line.startswith("SSH-"):
            return ProbeState.SSH, line.strip()
    first = text.splitlines()[0].strip() if text.strip() else None
    if first in ("Exceeded MaxStartups", "Not allowed at this time"):
        # OpenSSH's sshd turning away a burst (or a penalised source): it is an SSH server.
        return ProbeState.SSH, first
    return ProbeState.OPEN, first
