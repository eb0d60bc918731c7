"""The lab's state and the plumbing every part of it uses: nodes, namespaces, running code in them.

:class:`LabBase` holds what a lab is made of (its nodes, namespace names, helper processes) and how to
reach into it; :class:`farmhand.lab.faults.Faults` adds the ways to break it and
:class:`farmhand.lab.farm.LocalFarm` the way to build and tear it down. Each layer uses only what the
ones below it define.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import secrets
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Optional, TypeVar

from farmhand.lab import netns, sshd

T = TypeVar("T")
Mode = Literal["netns", "loopback"]


@dataclass(frozen=True)
class LabNode:
    """One render node: ``name`` is its SSH host alias, ``hostname`` what ``hostname`` prints on it."""

    name: str
    address: str
    port: int
    hostname: str
    netns: Optional[str]


class NodeParts:
    """What the lab keeps for one node: its directory, sshd, host key lines and extra processes."""

    def __init__(self, info: LabNode, directory: Path, server: sshd.SshdProcess) -> None:
        self.info = info
        self.dir = directory
        self.server = server
        self.host_keys: list[Path] = []  # private host key files, one per type
        self.host_key_lines: list[str] = []  # their public lines, same order
        self.extra: list[subprocess.Popen[bytes]] = []


def kill_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


class LabBase:
    """A lab's state and how code reaches its nodes (see :mod:`farmhand.lab.farm` for the topology)."""

    def __init__(self, n: int, mode: Mode, root: Optional[Path]) -> None:
        self.mode: Mode = mode
        self.n = n
        self.prefix = f"fh-{os.getpid()}-{secrets.token_hex(3)}"
        self.root = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-", dir=root))
        #: A directory every node sees at the same path: the farm's "network share".
        self.share_dir = self.root / "share"
        self.identity_file = self.root / "client_ed25519"
        self.user = getpass.getuser()
        self.lab_ns = f"{self.prefix}-lab"
        self.ghost_ns = f"{self.prefix}-ghost"
        self._nodes: dict[str, NodeParts] = {}
        self._ghost_procs: list[subprocess.Popen[bytes]] = []
        self._ghost_up = False

    # ------------------------------------------------------------------ the nodes
    @property
    def nodes(self) -> list[LabNode]:
        return [n.info for n in self._nodes.values()]

    def node(self, name: str) -> LabNode:
        return self._nodes[name].info

    def node_dir(self, name: str) -> Path:
        """The node's private directory; ``bashrc`` in it is the login user's rc file on that node."""
        return self._nodes[name].dir

    # ------------------------------------------------------------------ running the controller
    def lab_argv(self, argv: Sequence[str]) -> list[str]:
        return netns.exec_argv(self.lab_ns, argv) if self.mode == "netns" else list(argv)

    def run_in_lab(self, argv: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        """Run a controller-side command where it can reach the nodes (text mode, output captured)."""
        kwargs.setdefault("capture_output", True)
        return subprocess.run(self.lab_argv(argv), text=True, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]

    def popen_in_lab(self, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.lab_argv(argv), **kwargs)  # type: ignore[call-overload, no-any-return]

    @contextlib.contextmanager
    def inside(self) -> Iterator[None]:
        """Put the calling thread (and threads/subprocesses it starts) in the lab for a ``with`` block."""
        if self.mode == "loopback":
            yield
            return
        with netns.entered(self.lab_ns):
            yield

    def call_in_lab(self, fn: Callable[[], T], timeout: Optional[float] = None) -> T:
        if self.mode == "loopback":
            return fn()
        return netns.call_in(self.lab_ns, fn, timeout)

    def call_on_node(self, name: str, fn: Callable[[], T], timeout: Optional[float] = None) -> T:
        """Call ``fn`` in a thread inside the node's namespace (e.g. to capture a broadcast packet)."""
        ns = self._require_ns(name)
        return netns.call_in(ns, fn, timeout)

    def run_on_node(self, name: str, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        """Run a command on the node as its administrator would (not over SSH)."""
        ns = self._nodes[name].info.netns
        full = netns.exec_argv(ns, argv) if ns else list(argv)
        return subprocess.run(full, capture_output=True, text=True, check=False)

    def run_on_node_checked(self, name: str, argv: Sequence[str]) -> str:
        proc = self.run_on_node(name, argv)
        if proc.returncode != 0:
            raise RuntimeError(f"{name}: {' '.join(argv)}: {proc.stderr.strip()}")
        return proc.stdout

    # ------------------------------------------------------------------ plumbing
    def _require_ns(self, name: str) -> str:
        ns = self._nodes[name].info.netns
        if ns is None:
            raise RuntimeError("this needs the netns lab mode (root)")
        return ns

    def _attach(self, ns: str, port_name: str, address: str) -> None:
        """A namespace with a veth ``eth0`` at ``address``, its peer on the lab's bridge."""
        netns.ip("netns", "add", ns)
        netns.ip("-n", ns, "link", "set", "lo", "up")
        netns.ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port_name,
                 "netns", self.lab_ns)
        netns.ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        netns.ip("-n", ns, "link", "set", "eth0", "up")
        netns.ip("-n", self.lab_ns, "link", "set", port_name, "master", "br0", "up")

    def _ghost(self) -> None:
        if not self._ghost_up:
            if self.mode != "netns":
                raise RuntimeError("extra addresses need the netns lab mode (root)")
            self._attach(self.ghost_ns, "vghost", netns.GHOST)
            self._ghost_up = True

    def _service_process(
        self, ns: Optional[str], address: str, port: int, banner: Optional[bytes]
    ) -> subprocess.Popen[bytes]:
        """A TCP service on ``address:port`` that sends ``banner`` and closes, or (None) accepts and
        stays silent."""
        argv = [sshd.python(), "-c", sshd.NOT_SSH_SERVER, address, str(port)]
        if banner is not None:
            argv.append(banner.decode("latin-1"))
        proc = subprocess.Popen(netns.exec_argv(ns, argv) if ns else argv, stdin=subprocess.DEVNULL)
        listening = (lambda: self._probe(ns, address, port) is not None) if banner is not None else \
            (lambda: self._probe(ns, address, port, read=False) is not None)
        sshd.wait_listening(listening, 10, f"service on {address}:{port}")
        return proc

    def _probe(self, ns: Optional[str], address: str, port: int, read: bool = True) -> Optional[bytes]:
        def connect() -> Optional[bytes]:
            try:
                with socket.create_connection((address, port), timeout=0.5) as s:
                    return s.recv(64) if read else b""
            except OSError:
                return None

        return netns.call_in(ns, connect, 5) if ns else connect()

    def _wait_ssh(self, node: NodeParts) -> None:
        info = node.info
        ns = self.lab_ns if self.mode == "netns" else None

        def ready() -> bool:
            if not node.server.running():
                raise RuntimeError(
                    f"sshd for {info.name} exited: {(node.dir / 'sshd.log').read_text()[-500:]}"
                )
            banner = self._probe(ns, info.address, info.port)
            return banner is not None and banner.startswith(b"SSH-")

        sshd.wait_listening(ready, 10, f"sshd on {info.name}")
