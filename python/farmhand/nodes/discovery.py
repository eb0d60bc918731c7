"""Discovery: find SSH servers in IPv4 ranges with a bounded pool of non-blocking connects.

One selector (epoll/kqueue) drives at most ``concurrency`` sockets; there is no thread or task per
address. Each address is probed exactly once per run (OpenSSH >= 9.8 penalises repeated bare connects)
and classified:

``ssh``          connected and sent an ``SSH-`` banner (kept in the result);
``open``         connected but is not SSH: its first line, or nothing before the banner deadline;
``refused``      RST: the host is up, nothing listens on the port;
``unreachable``  ICMP unreachable / ARP failure / no route, reported by the kernel;
``silent``       nothing before the deadline (firewall DROP, or an absent host whose ARP had not yet
                 failed).

Both waits adapt (:class:`Deadlines`): the connect deadline shrinks, once hosts have answered, to
``max(min_timeout, 20 x the slowest answer seen)``, and the banner deadline likewise follows the slowest
SSH banner seen — on a LAN a /24 ends in a fraction of a second, and one service that accepts and
stays silent holds the scan no longer than the SSH servers justify. Only an ``SSH-`` line makes ``ssh``.
Concurrency comes from the open-file limit; running out of descriptors lowers it and requeues the
address, never reported as a result. Every probe ends by a deadline, whatever the network does
(interfaces vanishing mid-scan included), so a scan always ends.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Callable, Optional

from farmhand.nodes.prober import Deadlines, Prober, ProbeResult, ProbeState
from farmhand.nodes.targets import BIG_SCAN, count, expand, iter_addresses, merge, parse_targets

log = logging.getLogger(__name__)

__all__ = [
    "BIG_SCAN", "Deadlines", "ProbeResult", "ProbeState", "count", "default_concurrency", "expand",
    "iter_addresses", "merge", "parse_targets", "scan", "scan_iter",
]


# ------------------------------------------------------------------------------------------ limits
def _open_files_limit() -> int:
    """RLIMIT_NOFILE's soft limit, raised to the hard limit if allowed (at most 65536)."""
    try:
        import resource
    except ImportError:  # Windows (a Houdini workstation): no such limit; select()'s cap below applies
        return 65536
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        want = min(hard if hard != resource.RLIM_INFINITY else 65536, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
            soft = want
        except (ValueError, OSError):
            pass
    return soft


def default_concurrency(cap: int = 4096) -> int:
    """How many probes may be in flight: from RLIMIT_NOFILE (raised to the hard limit if allowed)."""
    soft = _open_files_limit()
    try:
        used = len(os.listdir("/proc/self/fd"))
    except OSError:
        used = 64
    limit = max(1, soft - used - 64)
    if sys.platform == "win32":  # select() there handles at most 512 sockets
        limit = min(limit, 500)
    return min(cap, limit)


# ------------------------------------------------------------------------------------------ the scan
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
    in flight finish (within the connect deadline, or the banner deadline for one already connected) and
    are yielded, and the iteration ends."""
    deadlines = Deadlines(timeout=timeout, min_timeout=min_timeout, banner_timeout=banner_timeout,
                          min_banner=min(min_timeout, banner_timeout), adaptive=adaptive)
    prober = Prober(iter(addresses), port, deadlines, concurrency or default_concurrency())
    return prober.run(should_stop)
