"""`farmhand scan TARGET...`: find SSH servers and record them as discovered nodes.

Ctrl-C or SIGTERM stops the scan within one probe deadline: no address is started after the signal,
the probes in flight end by their deadlines, and what was found is shown and recorded (exit 130/143).
A second signal stops at once. Text from the scanned hosts (banners) is shown escaped.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from types import FrameType
from typing import Any, Optional

from farmhand.errors import FarmhandError, UsageError
from farmhand.nodes import discovery
from farmhand.nodes.discovery import ProbeResult, ProbeState
from farmhand.ssh.quoting import printable


def register(sub: Any) -> None:
    p = sub.add_parser("scan", help="find SSH render nodes in IPv4 ranges",
                       description="Probe every address once for SSH. TARGET: a CIDR (10.0.0.0/24), a range "
                       "(10.0.0.10-10.0.0.80 or 10.0.0.10-80) or a host; several may be separated by commas "
                       "as in the panel.")
    p.add_argument("targets", nargs="+", metavar="TARGET")
    p.add_argument("--port", type=int, default=22)
    p.add_argument("--timeout", type=float, default=1.0, help="per-address deadline in seconds (default 1)")
    p.add_argument("--fixed-timeout", action="store_true",
                   help="always wait the full timeout (no shortening once hosts have answered)")
    p.add_argument("--concurrency", type=int, default=None, help="probes in flight (default: from ulimit -n)")
    p.add_argument("--json", action="store_true", help="every address as JSON: address, state, banner")
    p.add_argument("--yes", action="store_true", help="confirm a scan larger than a /16")
    p.add_argument("--accept-new", action="store_true",
                   help="trust the host key of every SSH server found (trust on first use)")
    p.add_argument("--no-record", action="store_true", help="do not record found hosts in the registry")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise UsageError(f"invalid port {args.port}: use 1-65535")
    if not 0 < args.timeout <= 60:
        raise UsageError(f"invalid timeout {args.timeout}: use a number of seconds between 0 and 60")
    if args.concurrency is not None and not 1 <= args.concurrency <= 65536:
        raise UsageError("--concurrency must be between 1 and 65536")
    # Commas as in the panel's range field: "10.0.0.5,10.0.0.9" is two targets, not a host name to resolve.
    args.targets = [t for arg in args.targets for t in arg.replace(",", " ").split()]
    spans = discovery.parse_targets(args.targets)
    total = discovery.count(spans)
    if total > discovery.BIG_SCAN and not args.yes:
        raise UsageError(f"{printable(' '.join(args.targets))} is {total} addresses (more than a /16); "
                         "add --yes to scan that many")
    progress = _Progress(total) if sys.stderr.isatty() and not args.json else None
    stop = _Stop()
    with stop.on_signals():
        stream = discovery.scan_iter(
            discovery.iter_addresses(spans), port=args.port, timeout=args.timeout,
            adaptive=not args.fixed_timeout, concurrency=args.concurrency, should_stop=stop.is_set,
        )
        if total > discovery.BIG_SCAN:
            _run_big(stream, args, progress, stop)
        else:
            _run_small(stream, args, progress, stop, spans)
    if stop.signal is not None:
        print(f"farmhand: scan stopped by {signal.Signals(stop.signal).name} after {stop.seen} of {total} "
              "addresses", file=sys.stderr)
        return 128 + stop.signal
    return 0


def _run_small(stream: Iterator[ProbeResult], args: argparse.Namespace, progress: Optional[_Progress],
               stop: _Stop, spans: list[tuple[int, int]]) -> None:
    results = []
    for r in stream:
        results.append(r)
        stop.seen += 1
        if progress:
            progress.update(r)
    if progress:
        progress.done()
    order = {a: i for i, a in enumerate(discovery.expand(spans))}
    results.sort(key=lambda r: order[r.address])
    found = [r for r in results if r.state is ProbeState.SSH]
    notes = _record(found, args, stop) if not args.no_record else {}
    if args.json:
        json.dump([_item(r, notes) for r in results], sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        _table(results, notes, Counter(r.state for r in results))


def _run_big(stream: Iterator[ProbeResult], args: argparse.Namespace, progress: Optional[_Progress],
             stop: _Stop) -> None:
    """More than a /16: results are written as they come (completion order), never all held in memory."""
    counts: Counter[ProbeState] = Counter()
    shown: list[ProbeResult] = []
    if args.json:
        sys.stdout.write("[")
    for i, r in enumerate(stream):
        counts[r.state] += 1
        stop.seen += 1
        if r.state in (ProbeState.SSH, ProbeState.OPEN):
            shown.append(r)
        if args.json:
            sys.stdout.write(("\n " if i == 0 else ",\n ") + json.dumps(r.to_json()))
        if progress:
            progress.update(r)
    if progress:
        progress.done()
    found = [r for r in shown if r.state is ProbeState.SSH]
    notes = _record(found, args, stop) if not args.no_record else {}
    if args.json:
        sys.stdout.write("\n]\n")
        for address, note in notes.items():
            print(f"farmhand: {address}: {printable(note)}", file=sys.stderr)
    else:
        _table(shown, notes, counts)


class _Stop:
    """The scan's stop flag, set by the first SIGINT/SIGTERM (a second one interrupts at once)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal: Optional[int] = None
        self.seen = 0

    def is_set(self) -> bool:
        return self._event.is_set()

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        if self._event.is_set():
            raise KeyboardInterrupt
        self.signal = signum
        self._event.set()

    @contextlib.contextmanager
    def on_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signal handlers belong to the main thread; an embedding caller stops us otherwise
            return
        old = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)


def _item(r: ProbeResult, notes: dict[str, str]) -> dict[str, object]:
    item = r.to_json()
    if r.address in notes:
        item["note"] = notes[r.address]
    return item


def _record(found: list[ProbeResult], args: argparse.Namespace, stop: _Stop) -> dict[str, str]:
    from farmhand.nodes.registry import Registry

    notes: dict[str, str] = {}
    if not found:
        return notes
    reg = Registry()
    for r in found:
        reg.record_discovered(r.address, r.banner)
    if args.accept_new and not stop.is_set():  # stopped: no SSH logins after the user said stop
        from dataclasses import replace

        from farmhand.nodes import actions as nodeops
        from farmhand.ssh import SSHExecutor

        # Trust on first use: no one is asked, but a key that differs from a recorded one is refused.
        with SSHExecutor(resolve=lambda h: replace(reg.target(h), port=args.port)) as ex:
            for r in found:
                if stop.is_set():
                    break
                try:
                    nodeops.trust(reg, ex, r.address)
                    notes[r.address] = "trusted"
                except FarmhandError as exc:
                    notes[r.address] = exc.message
                    print(f"farmhand: {printable(exc.message, 1000)}", file=sys.stderr)
    return notes


def _table(results: list[ProbeResult], notes: dict[str, str], counts: Counter[ProbeState]) -> None:
    shown = [r for r in results if r.state in (ProbeState.SSH, ProbeState.OPEN)]
    if shown:
        print(f"{'ADDRESS':<16} {'STATE':<6} BANNER")
        for r in shown:
            note = f"  [{printable(notes[r.address], 1000)}]" if r.address in notes else ""
            print(f"{r.address:<16} {r.state.value:<6} {printable(r.banner or '')}{note}")
    summary = ", ".join(f"{counts[s]} {s.value}" for s in ProbeState if counts[s])
    print(f"scanned {sum(counts.values())} addresses: {summary}")
    if counts[ProbeState.SSH]:
        print("next: farmhand nodes trust ADDRESS (check the fingerprint), then farmhand nodes probe")


class _Progress:
    def __init__(self, total: int) -> None:
        self.total = total
        self.seen = 0
        self.ssh = 0
        self.last = 0.0

    def update(self, r: ProbeResult) -> None:
        self.seen += 1
        self.ssh += r.state is ProbeState.SSH
        now = time.monotonic()
        if now - self.last > 0.1 or self.seen == self.total:
            self.last = now
            sys.stderr.write(f"\rscanning: {self.seen}/{self.total} addresses, {self.ssh} ssh ")
            sys.stderr.flush()

    def done(self) -> None:
        sys.stderr.write("\r" + " " * 60 + "\r")
