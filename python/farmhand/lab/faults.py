"""Fault injection and extra lab addresses: the ways :class:`farmhand.lab.LocalFarm` breaks nodes."""

from __future__ import annotations

import contextlib
import ipaddress
import os

from farmhand.lab import guard, netns, sshd
from farmhand.lab.base import LabBase, kill_process
from farmhand.lab.netns import GHOST, SUBNET


class Faults(LabBase):
    """Ways to break a node the way real nodes break, and addresses that misbehave on purpose."""

    # ------------------------------------------------------------------ faults
    def stop_sshd(self, name: str) -> None:
        """Stop the node's listener (new connections are refused; open sessions continue)."""
        self._nodes[name].server.stop()

    def start_sshd(self, name: str) -> None:
        node = self._nodes[name]
        node.server.start()
        self._wait_ssh(node)

    def restart_sshd(self, name: str) -> None:
        self.stop_sshd(name)
        self.start_sshd(name)

    def kill_node(self, name: str) -> None:
        """SIGKILL every process on the node (sshd and every session); the address stays up."""
        node = self._nodes[name]
        if node.info.netns:
            for pid in netns.pids(node.info.netns):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
        node.server.stop(9)

    def drop(self, name: str) -> None:
        """Silently drop everything arriving at the node (a pulled cable that still holds ARP)."""
        self.run_on_node_checked(name, ["iptables", "-I", "INPUT", "-j", "DROP"])

    def undrop(self, name: str) -> None:
        self.run_on_node_checked(name, ["iptables", "-F", "INPUT"])

    def unplug(self, name: str) -> None:
        """Take the node's interface down: the address becomes absent (ARP fails)."""
        self.run_on_node_checked(name, ["ip", "link", "set", "eth0", "down"])

    def plug(self, name: str) -> None:
        self.run_on_node_checked(name, ["ip", "link", "set", "eth0", "up"])

    def serve_not_ssh(self, name: str, banner: bytes = b"HTTP/1.0 400 Bad Request\r\n\r\n") -> None:
        """Replace the node's sshd with a service on the same port that is not SSH."""
        node = self._nodes[name]
        node.server.stop()
        proc = self._service_process(node.info.netns, node.info.address, node.info.port, banner)
        node.extra.append(proc)

    def restore_ssh(self, name: str) -> None:
        node = self._nodes[name]
        for proc in node.extra:
            kill_process(proc)
        node.extra.clear()
        self.start_sshd(name)

    def change_host_key(self, name: str) -> str:
        """Give the node new host keys (as a reinstall would) and restart sshd; returns the first new
        public key line."""
        node = self._nodes[name]
        node.server.stop()
        node.host_key_lines = [sshd.keygen(path, name, sshd.key_type(path)) for path in node.host_keys]
        self.start_sshd(name)
        return node.host_key_lines[0]

    def mac(self, name: str) -> str:
        out = self.run_on_node_checked(name, ["cat", "/sys/class/net/eth0/address"])
        return out.strip()

    # ------------------------------------------------------------------ extra addresses (netns only)
    def add_silent(self, address: str) -> None:
        """An address in the lab /24 whose every incoming packet is dropped (a firewalled host)."""
        self._ghost()
        netns.ip("-n", self.ghost_ns, "addr", "add", f"{address}/24", "dev", "eth0")
        netns.run_in(self.ghost_ns, ["iptables", "-A", "INPUT", "-d", address, "-j", "DROP"])

    def add_unreachable(self, address: str) -> None:
        """An address in the lab /24 answered by ICMP host-unreachable (a router knows it is down)."""
        self._ghost()
        netns.ip("-n", self.ghost_ns, "addr", "add", f"{address}/24", "dev", "eth0")
        netns.run_in(self.ghost_ns, ["iptables", "-A", "INPUT", "-d", address, "-p", "tcp", "-j", "REJECT",
                                     "--reject-with", "icmp-host-unreachable"])

    def add_silent_range(self, cidr: str) -> None:
        """Route a whole range (outside 10.77.0.0/24) to the ghost, which drops its SYNs: a silent /16."""
        net = ipaddress.IPv4Network(cidr)
        if net.overlaps(SUBNET):
            raise ValueError(f"{cidr} overlaps the lab subnet {SUBNET}")
        guard.install(net, self.prefix)
        netns.ip("-n", self.lab_ns, "route", "add", str(net), "via", GHOST)
        netns.ip("-n", self.ghost_ns, "route", "add", "local", str(net), "dev", "lo")
        netns.run_in(self.ghost_ns, ["iptables", "-A", "INPUT", "-d", str(net), "-j", "DROP"])

    def add_fake_service(
        self, address: str, banner: bytes = b"220 fake FTP ready\r\n", port: int = 22
    ) -> None:
        """An address in the lab /24 where something that is not SSH answers on ``port``."""
        self._ghost()
        netns.ip("-n", self.ghost_ns, "addr", "add", f"{address}/24", "dev", "eth0")
        self._ghost_procs.append(self._service_process(self.ghost_ns, address, port, banner))

    def add_silent_service(self, address: str, port: int = 22) -> None:
        """An address in the lab /24 that accepts connections on ``port`` and never sends a byte (a hung
        service, or a tarpit)."""
        self._ghost()
        netns.ip("-n", self.ghost_ns, "addr", "add", f"{address}/24", "dev", "eth0")
        self._ghost_procs.append(self._service_process(self.ghost_ns, address, port, None))
