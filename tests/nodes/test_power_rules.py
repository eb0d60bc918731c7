"""Power rules (scopes, precedence, checks) and the real power actions' parts that need no sleeping machine:
a MAC must be recorded before a node may sleep, and "answers SSH" means a fresh connection gets a banner."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from farmhand.errors import UsageError
from farmhand.nodes.power import PowerRule, SshPower, rule_for, scope
from farmhand.nodes.registry import Registry

SUSPEND = ("systemctl", "suspend")


def test_scopes_are_checked_and_normalised() -> None:
    assert scope("all") == "all" and scope("group:GPU") == "group:gpu" and scope("node:r1") == "node:r1"
    for bad in ("", "everything", "group:", "group:bad tag", "node:", "node:a b", "rack:1"):
        with pytest.raises(UsageError, match="scope"):
            scope(bad)


@pytest.mark.parametrize("kwargs", [{"idle": -1}, {"idle": float("nan")}, {"boot_timeout": 0},
                                    {"retry": float("inf")}, {"command": ()}, {"command": ("a\0b",)}])
def test_rules_refuse_bad_values_in_one_line(kwargs: dict[str, object]) -> None:
    values: dict[str, object] = {"scope": "all", "idle": 60.0, "command": SUSPEND, **kwargs}
    with pytest.raises(UsageError) as err:
        PowerRule(**values)  # type: ignore[arg-type]
    assert "\n" not in err.value.message


def test_a_node_rule_wins_over_a_group_rule_over_all() -> None:
    rules = [PowerRule("all", 600, SUSPEND), PowerRule("group:ws", 60, SUSPEND),
             PowerRule("node:r1", 5, SUSPEND)]
    assert rule_for(rules, "r1", {"ws"}) == rules[2]
    assert rule_for(rules, "r2", {"ws"}) == rules[1]
    assert rule_for(rules, "r3", {"linux"}) == rules[0]
    assert rule_for(rules[1:2], "r3", {"linux"}) is None  # no rule: never put to sleep


@pytest.fixture
def ssh_like() -> Iterator[tuple[str, int]]:
    """A local listener that greets like sshd, on a free loopback port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()
    stop.set()
    server.close()


def test_answers_means_a_fresh_connection_gets_an_ssh_banner(farmhand_home: Path,
                                                              ssh_like: tuple[str, int]) -> None:
    registry = Registry()
    host, port = ssh_like
    registry.add("up", host, port=port)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    registry.add("down", "127.0.0.1", port=closed_port)
    power = SshPower(registry, executor=None)  # type: ignore[arg-type]
    assert power.answers("up") is True
    assert power.answers("down") is False


def test_a_node_without_a_recorded_mac_cannot_be_woken(farmhand_home: Path) -> None:
    registry = Registry()
    registry.add("r1")
    power = SshPower(registry, executor=None)  # type: ignore[arg-type]
    assert "no MAC address recorded" in (power.can_wake("r1") or "")
    registry.record_inventory("r1", {"hostname": "r1", "os": "Linux",
                                     "interfaces": [{"name": "eth0", "mac": "3c:ec:ef:12:34:56"}]})
    assert power.can_wake("r1") is None
