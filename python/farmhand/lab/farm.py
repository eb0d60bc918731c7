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
import logging
import os
import re
import secrets
import shutil
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from farmhand.lab import guard, netns, sshd
from farmhand.lab.base import LabNode, Mode, NodeParts, kill_process
from farmhand.lab.faults import Faults
from farmhand.lab.netns import FIRST_NODE, GATEWAY, SUBNET

log = logging.getLogger(__name__)

__all__ = ["LabNode", "LocalFarm", "Mode", "cleanup_stale"]

_live: set[LocalFarm] = set()
_live_lock = threading.Lock()


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
        host_key_types: Sequence[str] = ("ed25519",),
    ) -> None:
        """``host_key_types``: the host keys every node's sshd has (``ed25519``, ``rsa``, ``ecdsa``), in
        the order :meth:`known_hosts_lines` lists them."""
        if mode == "netns" and (why := netns.can_use()):
            raise RuntimeError(why)
        if not host_key_types or any(t not in sshd.HOST_KEY_TYPES for t in host_key_types):
            raise ValueError(f"host_key_types: one or more of {', '.join(sshd.HOST_KEY_TYPES)}")
        super().__init__(n, mode, root)
        self.client_alive = client_alive
        self.hostname_prefix = hostname_prefix
        self.host_key_types = tuple(host_key_types)
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
            keys = [sshd.host_key_path(directory, t) for t in self.host_key_types]
            config = sshd.write_config(
                directory, info.address, info.port, authorized, host_keys=keys,
                client_alive=self.client_alive, as_root=os.geteuid() == 0,
            )
            server = sshd.SshdProcess(self._sshd_argv(info, config), directory / "sshd.log")
            node = NodeParts(info, directory, server)
            node.host_keys = keys
            node.host_key_lines = [sshd.keygen(k, name, t) for k, t in zip(keys, self.host_key_types)]
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
    def known_hosts_lines(self, key_type: Optional[str] = None) -> list[str]:
        """OpenSSH known_hosts lines for every node (keyed by address, ``[addr]:port`` off port 22):
        each node's keys in ``host_key_types`` order, or only its ``key_type`` (``rsa``...) key."""
        out = []
        for node in self._nodes.values():
            host = node.info.address if node.info.port == 22 else f"[{node.info.address}]:{node.info.port}"
            for path, line in zip(node.host_keys, node.host_key_lines):
                if key_type is None or sshd.key_type(path) == key_type:
                    keytype, key = line.split()[:2]
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

    # ------------------------------------------------------------------ building the lab
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

    def _make_node_ns(self, info: LabNode, index: int) -> None:
        assert info.netns is not None
        self._attach(info.netns, f"vn{index}", info.address)

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
