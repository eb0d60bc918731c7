"""The lab's safety net in the root network namespace: ``unreachable`` routes for the lab's ranges.

The lab's addresses exist only inside its isolated namespaces. Code that forgets to enter the lab would
otherwise send them out of this machine's default route (it happened once: a connect to 10.77.0.11
left through the gateway). While any lab on the machine needs them, the ranges it uses are routed
``unreachable`` in the root namespace, so such code fails at once and nothing leaves the machine.

* Installing refuses a range this machine really routes (its LAN, a VPN): the guard would cut that
  network off, and code that forgot the lab would reach real hosts.
* The routes carry their own protocol number (:data:`PROTO`) and every user of them leaves a *holder*
  file; the last holder to go (or the first lab after the holders died) removes them, so nothing is
  left behind on a developer's machine. A lock file serialises installing and removing across
  processes: labs of concurrent test runs never remove each other's guard.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import re
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from farmhand.lab import netns

log = logging.getLogger(__name__)

#: Route protocol number that marks Farmhand's guard routes (``ip route show proto 177``).
PROTO = "177"
GUARD_DIR = Path("/run/farmhand-lab-guard")
_LAB_NS = re.compile(r"^fh-(\d+)-[0-9a-f]{6}-lab$")
_NOT_A_PATH = ("unreachable", "blackhole", "prohibit", "throw")

# The namespace this process started in, kept open at import (before any thread enters a lab): the
# guard belongs there even when a lab is started from a thread that is inside another lab.
_OUTER_NS = "/proc/thread-self/ns/net"
_outer_fd = os.open(_OUTER_NS, os.O_RDONLY) if os.path.exists(_OUTER_NS) else None


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    if _outer_fd is None:
        return netns.ip(*args, check=check)
    return netns.call_in_fd(_outer_fd, lambda: netns.ip(*args, check=check))


def conflicts(net: ipaddress.IPv4Network, routes: Iterable[dict[str, Any]]) -> list[str]:
    """Routes (``ip -j route show table all`` objects) that send part of ``net`` somewhere real.

    The default route and routes that lead nowhere (other guards) do not count."""
    out: list[str] = []
    for route in routes:
        dst = route.get("dst")
        if not dst or dst == "default" or route.get("type") in _NOT_A_PATH:
            continue
        try:
            other = ipaddress.IPv4Network(dst, strict=False)
        except ValueError:
            continue
        if other.overlaps(net):
            out.append(f"{route.get('type', 'unicast')} {dst} dev {route.get('dev', '?')}")
    return out


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(directory / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (also when it belongs to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holders(directory: Path) -> list[Path]:
    """Holder files of live processes (``<pid>-<name>``); those of dead processes are deleted."""
    live = []
    for path in directory.glob("*-*"):
        pid = path.name.split("-", 1)[0]
        if pid.isdigit() and alive(int(pid)):
            live.append(path)
        else:
            path.unlink(missing_ok=True)
    return live


def _unguarded_labs() -> list[str]:
    # Labs started by code that predates holder files still rely on the routes.
    return [n for n in netns.list_names() if (m := _LAB_NS.match(n)) and alive(int(m.group(1)))]


def install(
    net: ipaddress.IPv4Network, holder: str, directory: Path = GUARD_DIR, proto: str = PROTO
) -> None:
    """Route ``net`` unreachable in the root namespace on behalf of ``holder`` (unique per lab).

    Raises RuntimeError, before anything is changed, when this machine routes part of ``net``."""
    routes = json.loads(_ip("-4", "-j", "route", "show", "table", "all").stdout or "[]")
    clash = conflicts(net, routes)
    if clash:
        raise RuntimeError(f"the lab range {net} overlaps this machine's network ({'; '.join(clash)}); "
                           "the lab cannot run safely here")
    with _locked(directory):
        (directory / f"{os.getpid()}-{holder}").write_text(f"{net}\n")
        _ip("route", "replace", "unreachable", str(net), "proto", proto)


def release(holder: str, directory: Path = GUARD_DIR, proto: str = PROTO) -> bool:
    """Drop ``holder``'s claim; the last one out removes every guard route. True if it removed them."""
    if not directory.is_dir():
        return False
    with _locked(directory):
        (directory / f"{os.getpid()}-{holder}").unlink(missing_ok=True)
        if _holders(directory) or (directory == GUARD_DIR and _unguarded_labs()):
            return False
        proc = _ip("route", "flush", "proto", proto, check=False)
        if proc.returncode != 0:
            log.warning("could not remove the lab's guard routes: %s", proc.stderr.strip())
            return False
        return True
