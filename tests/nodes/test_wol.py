"""Wake-on-LAN packet building and sending (the lab capture is in test_cli_lab)."""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest

from farmhand.errors import NodeError, UsageError
from farmhand.lab import LocalFarm
from farmhand.nodes import wol
from farmhand.nodes.registry import Node, NodeState


def test_magic_packet() -> None:
    pkt = wol.magic_packet("3C-EC-EF-12-34-56")
    assert len(pkt) == 102 and pkt[:6] == b"\xff" * 6
    assert pkt[6:] == bytes.fromhex("3cecef123456") * 16
    with pytest.raises(UsageError, match="invalid MAC"):
        wol.magic_packet("3c:ec:ef:12:34")


def test_directed_broadcasts() -> None:
    assert wol.directed_broadcasts(["10.0.0.57/24", "172.17.0.1/16", "10.0.0.9/24", "1.2.3.4/32", "x"]) == [
        "10.0.0.255", "172.17.255.255"]


def _node(inventory: dict[str, object] | None) -> Node:
    return Node("r1", "127.0.0.1", None, None, None, NodeState.TRUSTED, True, inventory, None, 0.0,
                None, None)


def test_send_to_a_loopback_listener() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(2)
        port = rx.getsockname()[1]
        sent = wol.send("r1", ["aa:bb:cc:dd:ee:01"], ["127.0.0.1"], port=port)
        assert sent == ["127.0.0.1"]
        assert rx.recv(200) == wol.magic_packet("aa:bb:cc:dd:ee:01")


def test_wake_without_inventory() -> None:
    with pytest.raises(NodeError, match="no MAC address recorded"):
        wol.wake_node(_node(None))


@pytest.mark.lab
def test_mac_choice_and_no_route(lab: LocalFarm) -> None:
    # Inside the isolated lab: nothing can leave the machine, and 255.255.255.255 has no route there.
    inv = {"hostname": "r1", "os": "Linux", "interfaces": [
        {"name": "eth0", "mac": "aa:bb:cc:dd:ee:01", "ipv4": ["10.77.0.99/24"]},
        {"name": "eth1", "mac": "aa:bb:cc:dd:ee:02", "ipv4": []}]}
    node = replace(_node(inv), address="10.77.0.99")
    macs, sent = lab.call_in_lab(lambda: wol.wake_node(node))
    assert macs == ["aa:bb:cc:dd:ee:01"] and sent == ["10.77.0.255"]
    with pytest.raises(NodeError, match="could not send the wake packet"):
        lab.call_in_lab(lambda: wol.send("r1", ["aa:bb:cc:dd:ee:01"], [wol.LIMITED_BROADCAST]))
    # A name is refused before anything is sent or resolved.
    with pytest.raises(UsageError, match="invalid broadcast address 'abc': give an IPv4 address"):
        lab.call_in_lab(lambda: wol.send("r1", ["aa:bb:cc:dd:ee:01"], ["10.77.0.255", "abc"]))
