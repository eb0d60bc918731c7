"""Power management end to end on real sshd nodes: render03 is put to sleep by its power rule (its
command stops the node's sshd: new SSH connections are refused), a job that needs more nodes wakes it
with a Wake-on-LAN packet to its recorded MAC, a listener in its namespace starts sshd again on that
packet, the dispatcher waits for SSH and renders on it. render01 and render02 are never woken."""

from __future__ import annotations

import json
import time
from typing import Callable

import pytest

from farmhand.lab.wol_listener import start_in_node
from farmhand.nodes.power import PowerState
from farmhand.nodes.registry import Registry

from .conftest import EngineFarm, assert_complete
from .test_e2e_faults import demo_args
from .test_limits_lab import chunk_spans

pytestmark = [pytest.mark.lab, pytest.mark.slow]

Make = Callable[..., EngineFarm]


def record_interface(farm: EngineFarm, name: str) -> str:
    """Add the node's real MAC and subnet to its inventory (what 'farmhand nodes probe' records)."""
    registry = Registry()
    node = farm.lab.node(name)
    mac = farm.lab.mac(name)
    inventory = dict(registry.get(name).inventory or {})
    inventory["interfaces"] = [{"name": "eth0", "mac": mac, "ipv4": [f"{node.address}/24"]}]
    registry.record_inventory(name, inventory)
    return mac


def power_state(farm: EngineFarm, node: str) -> PowerState:
    states = {p.node: p.state for p in farm.client.farm.node_power()}
    return states.get(node, PowerState.AWAKE)


def test_a_sleeping_node_is_woken_and_renders(engine_farm: Make) -> None:
    farm = engine_farm(n=3)
    mac = record_interface(farm, "render03")
    wol_log = start_in_node(farm.lab, "render03")
    sshd_pid = farm.lab._nodes["render03"].server.pid
    farm.farmhand("power", "set", "--node", "render03", "--idle", "1", "--boot-timeout", "60",
                  "--command", f"kill {sshd_pid}")
    # A first small job starts the dispatcher; render03 is idle and goes to sleep.
    first = farm.submit(*demo_args(farm, "1-2", spf=0.1, out="first"), "--nodes", "render01")
    farm.wait_for(lambda: power_state(farm, "render03") is PowerState.ASLEEP, timeout=60,
                  what="render03 asleep")
    assert farm.lab.node("render03")  # the address is still there; only SSH is gone
    assert "woke" not in wol_log.read_text()
    assert_complete(farm, farm.wait(first))

    job = farm.submit(*demo_args(farm, "1-40", spf=0.3, out="big"), "--chunk", "2")
    shown_waking = False
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and power_state(farm, "render03") is not PowerState.AWAKE:
        shown_waking = shown_waking or any("waking render03" in (s.hold or "") for s in farm.client.jobs())
        time.sleep(0.02)
    snap = farm.wait(job, timeout=120)
    assert_complete(farm, snap)
    assert "magic packet from 10.77.0.1: woke" in wol_log.read_text()
    assert shown_waking
    events = [e for e in farm.client.events(None, limit=2000) if e.kind.startswith("power_")]
    assert [e.node for e in events if e.kind == "power_waking"] == ["render03"]  # the others: never
    asleep_at = next(e.time for e in events if e.kind == "power_asleep")
    awake_at = next(e.time for e in events if e.kind == "power_awake")
    on_render03 = [start for start, _end, node in chunk_spans(farm, {job}) if node == "render03"]
    assert on_render03 and min(on_render03) >= awake_at > asleep_at
    assert "render03" in {f.node for f in snap.frames}
    listed = json.loads(farm.farmhand("power", "list", "--json").stdout)
    assert [r["scope"] for r in listed["rules"]] == ["node:render03"]
    # Idle again after the job: its rule may already be putting it back to sleep.
    assert [n["node"] for n in listed["nodes"]] == ["render03"]
    assert any(mac in line for line in wol_log.read_text().splitlines()[:1])
