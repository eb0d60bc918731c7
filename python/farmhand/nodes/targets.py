"""What to scan: CIDRs, address ranges and host names turned into integer address spans.

Parsing happens once, at the edge: everything after it handles ``(first, last)`` pairs of IPv4 addresses
as integers, expanded lazily so a /8 never sits in memory. Anything that is not a valid target is one
:class:`~farmhand.errors.UsageError` line naming it (escaped, so a pasted control character cannot
split or hide the message). Host names are resolved through ``resolve`` (the system resolver by
default; tests and fuzzing pass their own, so nothing leaves the machine).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Iterator, Sequence
from typing import Callable

from farmhand.errors import UsageError
from farmhand.ssh.quoting import printable

#: More addresses than a /16 need an explicit confirmation.
BIG_SCAN = 65536

Span = tuple[int, int]
#: Host name → IPv4 address text; raises OSError (or UnicodeError) when the name does not resolve.
Resolver = Callable[[str], str]

_IPV4ISH = re.compile(r"[0-9.]+")  # ASCII only: str.isdigit() accepts "²" and "٣", int() then fails
_HOSTNAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?")
_MAX_TARGET = 260


def resolve_ipv4(name: str) -> str:
    """The first IPv4 address the system resolver gives for ``name``."""
    infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    return str(infos[0][4][0])


def parse_targets(targets: Sequence[str], *, resolve: Resolver = resolve_ipv4) -> list[Span]:
    """Targets → inclusive integer address spans (validated; not yet expanded)."""
    if not targets:
        raise UsageError("nothing to scan: give a CIDR, a range or a host")
    spans: list[Span] = []
    for t in targets:
        spans.append(parse_one(t, resolve=resolve))
    return spans


def parse_one(text: str, *, resolve: Resolver = resolve_ipv4) -> Span:
    """One target: ``10.0.0.0/24``, ``10.0.0.10-10.0.0.80``, ``10.0.0.10-80``, an address or a host."""
    t = text.strip()
    if not t:
        raise UsageError("empty scan target")
    if len(t) > _MAX_TARGET:
        raise UsageError(f"scan target '{printable(t, 40)}' is too long: give a CIDR, a range or a host")
    if ":" in t:
        raise UsageError(f"{printable(t)}: only IPv4 addresses and ranges can be scanned")
    if "/" in t:
        return _cidr(t)
    head, dash, tail = t.partition("-")
    if dash and _IPV4ISH.fullmatch(head.strip()):
        return _range(t, head.strip(), tail.strip())
    if _IPV4ISH.fullmatch(t):
        ip = _address(t, t)
        return (ip, ip)
    return _host(t, resolve)


def _invalid(t: str) -> UsageError:
    return UsageError(f"invalid scan target '{printable(t)}': use a CIDR (10.0.0.0/24), a range "
                      "(10.0.0.10-10.0.0.80) or a host")


def _address(text: str, whole: str) -> int:
    if not _IPV4ISH.fullmatch(text):
        raise _invalid(whole)
    try:
        return int(ipaddress.IPv4Address(text))
    except ValueError as exc:
        raise _invalid(whole) from exc


def _cidr(t: str) -> Span:
    address, _, mask = t.partition("/")
    if not _IPV4ISH.fullmatch(address) or not _IPV4ISH.fullmatch(mask):
        raise _invalid(t)
    try:
        net = ipaddress.IPv4Network(t, strict=False)
    except ValueError as exc:
        raise _invalid(t) from exc
    if net.prefixlen >= 31:
        return (int(net.network_address), int(net.broadcast_address))
    # Network and broadcast addresses are never hosts.
    return (int(net.network_address) + 1, int(net.broadcast_address) - 1)


def _range(t: str, head: str, tail: str) -> Span:
    first = _address(head, t)
    if tail.isascii() and tail.isdigit():  # 10.0.0.10-80: last-octet shorthand
        value = int(tail)
        if not 0 <= value <= 255:
            raise UsageError(f"range {printable(t)}: {value} is not an address octet (0-255)")
        last = (first & 0xFFFFFF00) | value
    else:
        last = _address(tail, t)
    if last < first:
        raise UsageError(f"range {printable(t)} is backwards: write the lower address first")
    return (first, last)


def _host(t: str, resolve: Resolver) -> Span:
    if not _HOSTNAME.fullmatch(t):
        raise _invalid(t)
    try:
        text = resolve(t)
        ip = int(ipaddress.IPv4Address(text))
    except (OSError, UnicodeError, ValueError) as exc:
        raise UsageError(f"cannot resolve scan target '{printable(t)}': check the name or give an "
                         "address") from exc
    return (ip, ip)


def count(spans: Sequence[Span]) -> int:
    """Addresses in the spans, each counted once even where targets overlap."""
    return sum(b - a + 1 for a, b in merge(spans))


def merge(spans: Iterable[Span]) -> list[Span]:
    """Sorted, non-overlapping spans covering the same addresses."""
    out: list[Span] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def iter_addresses(spans: Iterable[Span]) -> Iterator[str]:
    """Every address once, in address order, without holding them all in memory."""
    for a, b in merge(spans):
        for ip in range(a, b + 1):
            yield str(ipaddress.IPv4Address(ip))


def expand(spans: Iterable[Span]) -> list[str]:
    """Every address once, in the order given."""
    seen: set[int] = set()
    out: list[str] = []
    for a, b in spans:
        for ip in range(a, b + 1):
            if ip not in seen:
                seen.add(ip)
                out.append(str(ipaddress.IPv4Address(ip)))
    return out
