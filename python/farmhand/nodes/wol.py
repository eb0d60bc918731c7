"""Wake-on-LAN: the magic packet (6 x 0xFF then the MAC 16 times) sent by UDP broadcast to port 9."""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Optional

from farmhand.errors import NodeError, UsageError
from farmhand.nodes.inventory.model import normalise_mac

if TYPE_CHECKING:
    from farmhand.nodes.registry import Node

log = logging.getLogger(__name__)

LIMITED_BROADCAST = "255.255.255.255"
WOL_PORT = 9
_NO_MAC = ("no MAC address recorded: probe the node once while it is up ('farmhand nodes probe' or Probe "
           "in the panel)")


def magic_packet(mac: str) -> bytes:
    norm = normalise_mac(mac)
    if norm is None:
        raise UsageError(f"invalid MAC address {mac!r}: expected six hex pairs like 3c:ec:ef:12:34:56")
    raw = bytes.fromhex(norm.replace(":", ""))
    return b"\xff" * 6 + raw * 16


def directed_broadcasts(ipv4_cidrs: Iterable[str]) -> list[str]:
    """The subnet broadcast address of each ``a.b.c.d/len`` (routers may forward these; the limited
    broadcast never leaves the sender's own segment)."""
    out: list[str] = []
    for cidr in ipv4_cidrs:
        try:
            net = ipaddress.IPv4Interface(cidr).network
        except ValueError:
            continue
        if net.prefixlen < 31 and str(net.broadcast_address) not in out:
            out.append(str(net.broadcast_address))
    return out


def send(host: str, macs: Sequence[str], broadcasts: Sequence[str], port: int = WOL_PORT) -> list[str]:
    """Send a magic packet for every MAC to every broadcast address; returns the addresses that took it.

    Raises NodeError only if no packet could be sent at all (e.g. no route for any broadcast)."""
    if not macs:
        raise NodeError(host, _NO_MAC)
    for addr in broadcasts:
        try:
            ipaddress.IPv4Address(addr)
        except ValueError:
            # Checked here: sendto would take a name and resolve it through DNS.
            raise UsageError(f"invalid broadcast address {addr!r}: give an IPv4 address such as "
                             "10.0.0.255") from None
    packets = [magic_packet(m) for m in macs]
    sent: list[str] = []
    errors: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        for addr in dict.fromkeys(broadcasts):
            try:
                for pkt in packets:
                    sock.sendto(pkt, (addr, port))
                sent.append(addr)
            except OSError as exc:
                log.info("wake %s via %s failed: %s", host, addr, exc)
                errors.append(f"{addr}: {exc.strerror or exc}")
    if not sent:
        raise NodeError(host, f"could not send the wake packet ({'; '.join(errors)}): pass --broadcast "
                        "with the node's subnet broadcast address")
    return sent


def wake_node(node: Node, broadcasts: Optional[Sequence[str]] = None) -> tuple[list[str], list[str]]:
    """Wake a registry node from its last inventory: returns (MACs used, broadcast addresses sent to).

    Uses the MAC of the interface carrying the node's recorded address (else every real interface),
    sent to ``broadcasts`` or, by default, the limited broadcast and each recorded subnet's broadcast.
    """
    from farmhand.nodes.inventory import Inventory

    inv = Inventory.from_dict(node.inventory) if node.inventory else None
    if inv is None:
        raise NodeError(node.name, _NO_MAC)
    macs = [i.mac for i in inv.interfaces if i.mac and any(a.split("/")[0] == node.address for a in i.ipv4)]
    macs = macs or inv.macs
    cidrs = [a for i in inv.interfaces for a in i.ipv4]
    targets = list(broadcasts) if broadcasts else [LIMITED_BROADCAST, *directed_broadcasts(cidrs)]
    return macs, send(node.name, macs, targets)
