"""``LocalFarm``: N real OpenSSH render nodes on this machine, with fault injection.

Two modes:

``netns`` (root): an isolated *lab* namespace holds a bridge ``br0`` (``10.77.0.1/24``, no route out);
each node is its own namespace with a veth ``eth0`` (own MAC, address ``10.77.0.11``, ``.12``, …), its
own hostname (UTS namespace) and an sshd on port 22. A *ghost* namespace at ``10.77.0.254`` answers
port 22 with RST ("refused") and carries the extra addresses added by :meth:`add_silent` (SYNs
dropped) and :meth:`add_fake_service` (something that is not SSH on :22). Every other address of the
/24 is absent (ARP fails after ~3 s). The controller under test must run inside the lab namespace:
:meth:`run_in_lab` / :meth:`popen_in_lab` for subprocesses, :meth:`inside` (this thread, for a
``with`` block) or :meth:`call_in_lab` (a helper thread) in-process — see :mod:`farmhand.lab.netns`.

``loopback`` (no root needed): each node is an sshd on its own 127.x.y.z address and a free high port,
logging in as the current user. Faults that need a network (drop, unplug) are not available.

Every OS object carries a unique ``fh-<pid>-<random>`` prefix so concurrent labs never collide; the farm
is torn down by PID and by namespace name on ``__exit__``, at interpreter exit, and (for namespaces of
dead processes) when the next lab starts.
"""

from __future__ import annotations

import atexit
import contextlib
import getpass
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Optional, TypeVar

from farmhand.lab import guard, netns, sshd
from farmhand.lab.faults import Faults, kill_process
from farmhand.lab.netns import FIRST_NODE, GATEWAY, GHOST, SUBNET

log = logging.getLogger(__name__)
T = TypeVar("T")
Mode = Literal["netns", "loopback"]

_live: set[LocalFarm] = set()
_live_lock = threading.Lock()


@dataclass(frozen=True)
class LabNode:
    """One render node: ``name`` is its SSH host alias, ``hostname`` what ``hostname`` prints on it."""

    name: str
    address: str
    port: int
    hostname: str
    netns: Optional[str]


class _Node:
    def __init__(self, info: LabNode, directory: Path, server: sshd.SshdProcess) -> None:
        self.info = info
        self.dir = directory
        self.server = server
        self.host_key_line = ""
        self.extra: list[subprocess.Popen[bytes]] = []


class LocalFarm(Faults):
    """A throwaway farm of real sshd nodes. Use as a context manager (or call start/stop)."""

    def __init__(
        self,
        n: int = 3,
        mode: Mode = "netns",
        *,
        client_alive: bool = True,
        hostname_prefix: str = "render",
        root: Optional[Path] = None,
    ) -> None:
        if mode == "netns" and (why := netns.can_use()):
            raise RuntimeError(why)
        self.mode: Mode = mode
        self.n = n
        self.client_alive = client_alive
        self.hostname_prefix = hostname_prefix
        self.prefix = f"fh-{os.getpid()}-{secrets.token_hex(3)}"
        self.root = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-", dir=root))
        #: A directory every node sees at the same path: the farm's "network share".
        self.share_dir = self.root / "share"
        self.identity_file = self.root / "client_ed25519"
        self.user = getpass.getuser()
        self.lab_ns = f"{self.prefix}-lab"
        self.ghost_ns = f"{self.prefix}-ghost"
        self._nodes: dict[str, _Node] = {}
        self._ghost_procs: list[subprocess.Popen[bytes]] = []
        self._ghost_up = False
        self._started = False

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalFarm:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        with _live_lock:
            _live.add(self)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self._started = True

    def _start(self) -> None:
        if os.geteuid() == 0:
            # sshd started as root refuses to run without its privilege-separation directory.
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.share_dir.mkdir(mode=0o777)
        # Sticky and world-writable like a real /tmp-style share: node users may differ from ours.
        os.chmod(self.share_dir, 0o1777)  # noqa: S103
        sshd.keygen(self.identity_file, "farmhand-lab-client")
        authorized = self.root / "authorized_keys"
        authorized.write_text(Path(f"{self.identity_file}.pub").read_text())
        if self.mode == "netns":
            cleanup_stale()
            self._make_lab()
        base = f"127.{secrets.randbelow(200) + 20}.{secrets.randbelow(250) + 1}"
        for i in range(self.n):
            name = f"{self.hostname_prefix}{i + 1:02d}"
            if self.mode == "netns":
                info = LabNode(name, str(SUBNET[FIRST_NODE + i]), 22, name, f"{self.prefix}-n{i + 1}")
                self._make_node_ns(info, i + 1)
            else:
                addr = f"{base}.{i + 2}"
                host = name if os.geteuid() == 0 else socket.gethostname()
                info = LabNode(name, addr, _free_port(addr), host, None)
            directory = self.root / name
            directory.mkdir()
            (directory / "bashrc").write_text("")
            config = sshd.write_config(
                directory, info.address, info.port, authorized,
                client_alive=self.client_alive, as_root=os.geteuid() == 0,
            )
            server = sshd.SshdProcess(self._sshd_argv(info, config), directory / "sshd.log")
            node = _Node(info, directory, server)
            node.host_key_line = sshd.keygen(directory / "ssh_host_ed25519_key", name)
            self._nodes[name] = node
            node.server.start()
        if self.mode == "netns":
            self._ghost()
        for node in self._nodes.values():
            self._wait_ssh(node)

    def stop(self) -> None:
        """Tear everything down; safe to call twice and after a partial start."""
        for node in self._nodes.values():
            for proc in node.extra:
                kill_process(proc)
            node.server.stop()
            if node.info.netns:
                netns.delete(node.info.netns)
        for proc in self._ghost_procs:
            kill_process(proc)
        if self.mode == "netns":
            netns.delete(self.ghost_ns)
            netns.delete(self.lab_ns)
            guard.release(self.prefix)
        shutil.rmtree(self.root, ignore_errors=True)
        with _live_lock:
            _live.discard(self)

    # ------------------------------------------------------------------ what tests use
    @property
    def nodes(self) -> list[LabNode]:
        return [n.info for n in self._nodes.values()]

    def node(self, name: str) -> LabNode:
        return self._nodes[name].info

    def node_dir(self, name: str) -> Path:
        """The node's private directory; ``bashrc`` in it is the login user's rc file on that node."""
        return self._nodes[name].dir

    def known_hosts_lines(self) -> list[str]:
        """OpenSSH known_hosts lines for every node (keyed by address, ``[addr]:port`` off port 22)."""
        out = []
        for node in self._nodes.values():
            host = node.info.address if node.info.port == 22 else f"[{node.info.address}]:{node.info.port}"
            keytype, key = node.host_key_line.split()[:2]
            out.append(f"{host} {keytype} {key}")
        return out

    def trust(self, known_hosts: Optional[Path] = None) -> Path:
        """Append every node's host key to ``known_hosts`` (default: Farmhand's own file, 0600)."""
        from farmhand import paths

        target = paths.touch_private(known_hosts or paths.known_hosts())
        with open(target, "a") as f:
            f.write("".join(line + "\n" for line in self.known_hosts_lines()))
        return target

    def ssh_config_text(self) -> str:
        """An ssh_config block aliasing each node name to its address, port, user and the test key."""
        blocks = []
        for n in self.nodes:
            blocks.append(
                f"Host {n.name}\n  HostName {n.address}\n  Port {n.port}\n  User {self.user}\n"
                f"  IdentityFile {self.identity_file}\n"
            )
        return "\n".join(blocks)

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

    # ------------------------------------------------------------------ internals
    def run_on_node_checked(self, name: str, argv: Sequence[str]) -> str:
        proc = self.run_on_node(name, argv)
        if proc.returncode != 0:
            raise RuntimeError(f"{name}: {' '.join(argv)}: {proc.stderr.strip()}")
        return proc.stdout

    def _require_ns(self, name: str) -> str:
        ns = self._nodes[name].info.netns
        if ns is None:
            raise RuntimeError("this needs the netns lab mode (root)")
        return ns

    def _sshd_argv(self, info: LabNode, config: Path) -> list[str]:
        argv = sshd.sshd_argv(config)
        if os.geteuid() == 0:
            argv = sshd.node_wrapper(info.hostname, self.root / info.name / "bashrc", argv)
        return netns.exec_argv(info.netns, argv) if info.netns else argv

    def _make_lab(self) -> None:
        # Safety net before any lab address exists: code that forgets to enter the lab fails fast
        # instead of sending the lab's addresses out of the default route (see farmhand.lab.guard).
        guard.install(SUBNET, self.prefix)
        ns = self.lab_ns
        netns.ip("netns", "add", ns)
        netns.ip("-n", ns, "link", "set", "lo", "up")
        netns.ip("-n", ns, "link", "add", "br0", "type", "bridge")
        netns.ip("-n", ns, "addr", "add", f"{GATEWAY}/24", "dev", "br0")
        netns.ip("-n", ns, "link", "set", "br0", "up")

    def _attach(self, ns: str, port_name: str, address: str) -> None:
        netns.ip("netns", "add", ns)
        netns.ip("-n", ns, "link", "set", "lo", "up")
        netns.ip("-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port_name,
                 "netns", self.lab_ns)
        netns.ip("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        netns.ip("-n", ns, "link", "set", "eth0", "up")
        netns.ip("-n", self.lab_ns, "link", "set", port_name, "master", "br0", "up")

    def _make_node_ns(self, info: LabNode, index: int) -> None:
        assert info.netns is not None
        self._attach(info.netns, f"vn{index}", info.address)

    def _ghost(self) -> None:
        if not self._ghost_up:
            if self.mode != "netns":
                raise RuntimeError("extra addresses need the netns lab mode (root)")
            self._attach(self.ghost_ns, "vghost", GHOST)
            self._ghost_up = True

    def _not_ssh_process(
        self, ns: Optional[str], address: str, port: int, banner: bytes
    ) -> subprocess.Popen[bytes]:
        argv = [sshd.python(), "-c", sshd.NOT_SSH_SERVER, address, str(port), banner.decode("latin-1")]
        proc = subprocess.Popen(netns.exec_argv(ns, argv) if ns else argv, stdin=subprocess.DEVNULL)
        sshd.wait_listening(
            lambda: self._probe(ns, address, port) is not None, 10, f"fake service on {address}:{port}"
        )
        return proc

    def _probe(self, ns: Optional[str], address: str, port: int) -> Optional[bytes]:
        def connect() -> Optional[bytes]:
            try:
                with socket.create_connection((address, port), timeout=0.5) as s:
                    return s.recv(64)
            except OSError:
                return None

        return netns.call_in(ns, connect, 5) if ns else connect()

    def _wait_ssh(self, node: _Node) -> None:
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


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


_STALE = re.compile(r"^fh-(\d+)-[0-9a-f]{6}-")


def cleanup_stale() -> None:
    """Delete lab namespaces left behind by processes that no longer exist (a killed test run)."""
    for name in netns.list_names():
        m = _STALE.match(name)
        if not m:
            continue
        try:
            os.kill(int(m.group(1)), 0)
        except ProcessLookupError:
            log.info("removing stale lab namespace %s", name)
            netns.delete(name)
        except PermissionError:
            pass


@atexit.register
def _stop_all() -> None:
    with _live_lock:
        farms = list(_live)
    for farm in farms:
        farm.stop()
