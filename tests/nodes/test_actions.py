"""The node actions the CLI and the panel share, against the session lab's real sshd nodes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import write_ssh_config
from farmhand.errors import NodeError, NotFound, UsageError
from farmhand.lab import LocalFarm
from farmhand.nodes import actions as nodeops
from farmhand.nodes.inventory import Inventory
from farmhand.nodes.registry import NodeState, Registry

pytestmark = pytest.mark.lab


@pytest.fixture
def reg(farmhand_home: Path, in_lab: LocalFarm) -> Registry:
    write_ssh_config(in_lab)
    return Registry()


def test_trust_asks_only_about_an_unknown_key(reg: Registry) -> None:
    asked: list[str] = []

    def refuse(key: nodeops.HostKeyCheck) -> bool:
        asked.append(key.shown)
        return False

    with reg.executor() as ex:
        key = nodeops.check_host_key(ex, "render01")
        assert not key.trusted and key.shown.startswith("ssh-ed25519 SHA256:")
        with pytest.raises(UsageError, match="render01: not trusted"):
            nodeops.trust(reg, ex, "render01", confirm=refuse)
        assert asked == [key.shown] and reg.find("render01") is None
        assert not nodeops.check_host_key(ex, "render01").trusted
        # A key other than the one shown is never trusted, whatever confirm would say.
        with pytest.raises(NodeError, match="not the ssh-ed25519 SHA256:AAAA you were shown"):
            nodeops.trust(reg, ex, "render01", shown="ssh-ed25519 SHA256:AAAA", confirm=lambda _: True)
        node, trusted = nodeops.trust(reg, ex, "render01", shown=key.shown, user="renderer")
        assert not trusted.trusted  # it was not trusted before this call
        assert (node.state, node.address, node.user) == (NodeState.TRUSTED, "10.77.0.11", "renderer")
        # Already trusted: nothing to ask, and a note about the node stays.
        reg.record_error("render01", "render01: authentication failed")
        node, again = nodeops.trust(reg, ex, "render01", confirm=refuse)
        assert again.trusted and asked == [key.shown]
        assert node.last_error == "render01: authentication failed"
        # A note recorded while the key was unknown ("trust it with ...") goes when the key is trusted.
        reg.add("render02", state=NodeState.DISCOVERED)
        reg.record_error("render02", "render02: unknown host key ssh-ed25519 SHA256:x; check it, then trust")
        node, _ = nodeops.trust(reg, ex, "render02", confirm=lambda _: True)
        assert node.state is NodeState.TRUSTED and node.last_error is None


def test_add_and_remove_follow_the_host_key(reg: Registry, in_lab: LocalFarm) -> None:
    added = nodeops.add(reg, "render02")
    assert (added.address, added.state) == ("10.77.0.12", NodeState.DISCOVERED)
    in_lab.trust()
    assert nodeops.add(reg, "render02").state is NodeState.TRUSTED
    # The key known for port 22 says nothing about another port on the same address.
    assert nodeops.add(reg, "other", "10.77.0.13", port=2222).state is NodeState.DISCOVERED
    removed = nodeops.remove(reg, "render02")
    assert removed.name == "render02" and reg.find("render02") is None
    with reg.executor() as ex:
        assert not nodeops.check_host_key(ex, "render02").trusted  # Farmhand's record went with it
        assert nodeops.check_host_key(ex, "render03").trusted


def test_probe_records_inventory_and_errors(reg: Registry, in_lab: LocalFarm) -> None:
    in_lab.trust()
    reg.add("render03", state=NodeState.TRUSTED)
    reg.add("ghost", "10.77.0.99", state=NodeState.TRUSTED)
    with reg.executor() as ex:
        results = nodeops.probe(reg, ex, ["render03", "ghost", "render04"], timeout=20)
        inv = results["render03"]
        assert isinstance(inv, Inventory) and inv.cpus_logical == os.cpu_count()
        assert isinstance(results["ghost"], NodeError)
        assert isinstance(results["render04"], Inventory)
        assert Inventory.from_dict(reg.get("render03").inventory or {}) == inv
        assert reg.get("ghost").last_error == nodeops.error_message("ghost", results["ghost"])
        assert reg.find("render04") is None  # probed by name, not added
        with pytest.raises(NodeError) as caught:
            nodeops.probe_node(reg, ex, "ghost")
        assert reg.get("ghost").last_error == caught.value.message


def test_wake_unknown_and_unprobed_nodes(reg: Registry) -> None:
    with pytest.raises(NotFound, match="no node named 'nope'"):
        nodeops.wake(reg, "nope")
    reg.add("render01", state=NodeState.TRUSTED)
    with pytest.raises(NodeError, match="no MAC address recorded: probe the node once"):
        nodeops.wake(reg, "render01")


def test_houdini_roots_and_share_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FARMHAND_HOUDINI_ROOTS", os.pathsep.join(["/a", "", "/b"]))
    monkeypatch.setenv("FARMHAND_SHARE", "/mnt/share")
    assert nodeops.houdini_roots(["/x"]) == ["/x", "/a", "/b"]
    assert nodeops.default_share() == "/mnt/share"
