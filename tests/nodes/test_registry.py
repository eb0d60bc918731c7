"""The SQLite node registry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from farmhand.errors import NotFound, UsageError
from farmhand.nodes.registry import NodeState, Registry


def test_file_is_private_and_lifecycle(farmhand_home: Path) -> None:
    reg = Registry()
    assert os.stat(reg.path).st_mode & 0o777 == 0o600
    n = reg.record_discovered("10.0.0.5", "SSH-2.0-OpenSSH_9.2")
    assert n.state is NodeState.DISCOVERED and n.enabled and n.banner == "SSH-2.0-OpenSSH_9.2"
    assert reg.set_state("10.0.0.5", NodeState.TRUSTED).state is NodeState.TRUSTED
    # A later scan never downgrades a trusted node.
    assert reg.record_discovered("10.0.0.5", "SSH-2.0-new").state is NodeState.TRUSTED
    assert reg.set_enabled("10.0.0.5", False).enabled is False
    assert reg.list(enabled=True) == []
    reg.record_inventory("10.0.0.5", {"hostname": "r5", "os": "Linux"})
    n = reg.record_error("10.0.0.5", "10.0.0.5: boom")
    assert n.inventory == {"hostname": "r5", "os": "Linux"} and n.last_error == "10.0.0.5: boom"
    assert reg.record_inventory("10.0.0.5", {"hostname": "r5", "os": "Linux"}).last_error is None
    reg.remove("10.0.0.5")
    assert reg.list() == []


def test_add_alias_and_lookup_by_address(farmhand_home: Path) -> None:
    reg = Registry()
    reg.add("render01", "10.0.0.11", user="render", port=2222)
    assert reg.get("10.0.0.11").name == "render01"
    # A scan finding the same address updates that node instead of adding a duplicate.
    reg.record_discovered("10.0.0.11", "SSH-2.0-x")
    assert [n.name for n in reg.list()] == ["render01"]
    t = reg.target("render01")
    assert (t.hostname, t.port, t.user) == ("10.0.0.11", 2222, "render")


def test_target_uses_ssh_config(farmhand_home: Path) -> None:
    Path(os.path.expanduser("~/.ssh/config")).write_text(
        "Host render02\n  HostName 10.0.0.12\n  User farm\n  Port 2200\n  IdentityFile ~/.ssh/farm_key\n")
    reg = Registry()
    reg.add("render02")
    t = reg.target("render02")
    assert (t.hostname, t.user, t.port) == ("10.0.0.12", "farm", 2200)
    assert t.identity_files == (os.path.expanduser("~/.ssh/farm_key"),) and not t.explicit_identity


@pytest.mark.parametrize("name", ["", "two words", "-rf"])
def test_bad_names_rejected(farmhand_home: Path, name: str) -> None:
    with pytest.raises(UsageError):
        Registry().add(name)


def test_unknown_node(farmhand_home: Path) -> None:
    with pytest.raises(NotFound, match="farmhand nodes list"):
        Registry().get("nope")


def test_failed_write_leaves_registry_intact(farmhand_home: Path) -> None:
    reg = Registry()
    reg.add("a", "10.0.0.1")
    before = reg.list()
    with pytest.raises(UsageError):
        reg.add("b", "10.0.0.2", port=70000)
    assert reg.list() == before


def test_add_names_a_node_found_by_scan(farmhand_home: Path) -> None:
    reg = Registry()
    reg.record_discovered("10.0.0.11", "SSH-2.0-x")
    reg.record_inventory("10.0.0.11", {"hostname": "render01", "os": "Linux"})
    node = reg.add("render01", "10.0.0.11", state=NodeState.DISCOVERED)
    assert [n.name for n in reg.list()] == ["render01"]
    assert node.inventory == {"hostname": "render01", "os": "Linux"} and node.banner == "SSH-2.0-x"


def test_a_scanned_node_is_shown_by_its_reported_host_name(farmhand_home: Path) -> None:
    from farmhand.nodes.registry import display_names

    reg = Registry()
    reg.add("10.0.0.11")  # found by a scan: registered by its address
    reg.add("10.0.0.12")
    reg.add("10.0.0.13")
    reg.add("render09", "10.0.0.19")  # added by name: keeps its name
    reg.record_inventory("10.0.0.11", {"hostname": "render01"})
    reg.record_inventory("10.0.0.12", {"hostname": "localhost"})
    reg.record_inventory("10.0.0.13", {"hostname": "localhost"})  # two report the same name: addresses stay
    reg.record_inventory("render09", {"hostname": "other"})
    shown = display_names(reg.list())
    assert shown == {"10.0.0.11": "render01", "10.0.0.12": "10.0.0.12", "10.0.0.13": "10.0.0.13",
                     "render09": "render09"}
    assert reg.get("render01").address == "10.0.0.11"  # the shown name leads back to the node
    assert reg.find("localhost") is None  # ambiguous: never guessed
