"""Linux network-namespace helpers for the test lab.

Two ways to run code inside a namespace:

* a subprocess: ``ip netns exec NAME argv...`` (:func:`exec_argv`);
* in-process: :func:`setns` moves the *calling thread* into the namespace (Linux network namespaces are a
  per-thread attribute). Threads and subprocesses started afterwards from that thread inherit it;
  threads that already exist do not. :func:`entered` does it for a ``with`` block and restores the
  previous namespace; :func:`call_in` runs a function in a fresh thread that joined the namespace, so
  the caller's own thread is never touched.

Sockets keep the namespace they were created in, so a connection opened inside the lab keeps working
from any thread afterwards.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import logging
import os
import subprocess
import threading
from collections.abc import Iterator, Sequence
from typing import Callable, TypeVar

log = logging.getLogger(__name__)

# Lab addressing: inside the isolated lab namespace only (guarded in the root namespace: lab.guard).
SUBNET = ipaddress.IPv4Network("10.77.0.0/24")
GATEWAY = "10.77.0.1"
GHOST = "10.77.0.254"
FIRST_NODE = 11

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/var/run/netns"
T = TypeVar("T")

_libc: ctypes.CDLL | None = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns failed: {os.strerror(err)}")


def setns(name: str) -> None:
    """Move the calling thread into network namespace ``name`` (see module docstring: per thread)."""
    fd = os.open(os.path.join(NETNS_DIR, name), os.O_RDONLY)
    try:
        _setns(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def entered(name: str) -> Iterator[None]:
    """Run the ``with`` body with the calling thread inside namespace ``name``; restore afterwards."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        setns(name)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def call_in(name: str, fn: Callable[[], T], timeout: float | None = None) -> T:
    """Call ``fn`` in a new thread that has joined namespace ``name`` and return its result."""
    return _call_in_thread(lambda: setns(name), fn, timeout, name)


def call_in_fd(fd: int, fn: Callable[[], T]) -> T:
    """Like :func:`call_in`, for the namespace an open ``/proc/.../ns/net`` descriptor refers to."""
    return _call_in_thread(lambda: _setns(fd), fn, None, f"fd {fd}")


def _call_in_thread(enter: Callable[[], None], fn: Callable[[], T], timeout: float | None, what: str) -> T:
    box: dict[str, object] = {}

    def target() -> None:
        try:
            enter()
            box["result"] = fn()
        except BaseException as exc:  # handed back to the caller's thread below
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"call in namespace {what} did not finish in {timeout}s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def exec_argv(name: str, argv: Sequence[str]) -> list[str]:
    """The argv that runs ``argv`` inside namespace ``name``."""
    return ["ip", "netns", "exec", name, *argv]


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip ARGS`` and fail loudly with ip's own message."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def run_in(name: str, argv: Sequence[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(exec_argv(name, argv), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"[{name}] {' '.join(argv)}: {proc.stderr.strip()}")
    return proc


def exists(name: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, name))


def pids(name: str) -> list[int]:
    proc = ip("netns", "pids", name, check=False)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


def delete(name: str) -> None:
    """Kill every process in namespace ``name`` and delete it; never raises."""
    import signal

    for pid in pids(name):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    if exists(name):
        proc = ip("netns", "del", name, check=False)
        if proc.returncode != 0:
            log.warning("could not delete namespace %s: %s", name, proc.stderr.strip())


def list_names() -> list[str]:
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def can_use() -> str | None:
    """None when this process can create namespaces, else the reason it cannot."""
    if os.geteuid() != 0:
        return "the node lab needs root (network namespaces); run the tests as root, e.g. in CI"
    if subprocess.run(["ip", "-V"], capture_output=True, check=False).returncode != 0:
        return "the node lab needs iproute2 ('ip'); run tools/setup.sh"
    if not os.path.exists("/usr/sbin/sshd"):
        return "the node lab needs /usr/sbin/sshd (openssh-server); run tools/setup.sh"
    return None

