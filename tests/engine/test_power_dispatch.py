"""Power management on the simulated farm: idle nodes a rule covers go to sleep, a job short of nodes
wakes them and renders on them, nodes that were never asleep are never woken, and a node that does not
wake is marked and retried later, never blamed."""

from __future__ import annotations

from typing import Any, Callable, Optional

from farmhand.errors import NodeError
from farmhand.nodes.power import SLEEP_CONFIRM, PowerRule, PowerState

from .fake_farm import NodeBehaviour
from .rig import Rig, assert_all_done

MakeRig = Callable[..., Rig]
SUSPEND = ("systemctl", "suspend")


class FakePower:
    """Nodes that really go to sleep: asleep, the fake executor cannot reach them; a wake packet brings
    one back ``boot`` simulated seconds later (``dead`` nodes never come back)."""

    def __init__(self, rig: Rig, boot: float = 20.0, no_mac: tuple[str, ...] = (),
                 dead: tuple[str, ...] = (), insomniac: tuple[str, ...] = ()) -> None:
        self.rig, self.boot = rig, boot
        self.no_mac, self.dead, self.insomniac = set(no_mac), set(dead), set(insomniac)
        self.asleep: set[str] = set()
        self.up_at: dict[str, float] = {}
        self.calls: list[tuple[str, str]] = []
        self.starts_while_asleep: list[str] = []
        start = rig.fake.start

        def counting_start(host: str, argv: Any, **kw: Any) -> Any:
            if host in self.asleep:
                self.starts_while_asleep.append(host)
            return start(host, argv, **kw)

        rig.fake.start = counting_start  # type: ignore[method-assign]
        rig.dispatcher.assigner.rules.power.actions = self

    def can_wake(self, node: str) -> Optional[str]:
        return "no MAC address recorded" if node in self.no_mac else None

    def sleep(self, node: str, command: Any) -> None:
        self.calls.append(("sleep", node))
        assert tuple(command) == SUSPEND
        if node not in self.insomniac:
            self.asleep.add(node)
            self.rig.fake.nodes[node].dead = True

    def wake(self, node: str) -> str:
        self.calls.append(("wake", node))
        if node not in self.asleep:
            raise AssertionError(f"{node} was woken but it was never asleep")
        if node not in self.dead:
            self.up_at[node] = self.rig.now + self.boot
        return "aa:bb:cc:dd:ee:ff via 10.0.0.255"

    def answers(self, node: str) -> bool:
        if node in self.up_at and self.rig.now >= self.up_at[node]:
            del self.up_at[node]
            self.asleep.discard(node)
            self.rig.fake.nodes[node].dead = False
        return node not in self.asleep

    def woken(self) -> list[str]:
        return [n for kind, n in self.calls if kind == "wake"]


def power_state(rig: Rig, node: str) -> Optional[PowerState]:
    return next((p.state for p in rig.client.farm.node_power() if p.node == node), None)


def rule(scope: str = "all", idle: float = 30.0, boot: float = 60.0, retry: float = 120.0) -> PowerRule:
    return PowerRule(scope, idle, SUSPEND, boot_timeout=boot, retry=retry)


def test_idle_nodes_sleep_then_a_job_wakes_them_and_renders_on_them(rig_for: MakeRig) -> None:
    rig = rig_for({n: NodeBehaviour(spf=1.0) for n in ("r1", "r2", "r3")})
    rig.client.farm.set_power_rule(rule(idle=30.0))
    power = FakePower(rig, boot=20.0)
    rig.drive(lambda: all(power_state(rig, n) is PowerState.ASLEEP for n in ("r1", "r2", "r3")), limit=60)
    assert rig.now - 1000.0 >= 30.0  # not before they were idle for 30 s
    job = rig.submit("1-24", chunk=2)
    holds: set[str] = set()

    def done() -> bool:
        summary = rig.client.job(job).summary
        holds.add(summary.hold or "")
        return summary.state.finished

    rig.drive(done)
    assert_all_done(rig, job)
    assert sorted(power.woken()) == ["r1", "r2", "r3"]
    assert "waking r1, r2, r3 (Wake-on-LAN sent; waiting for SSH)" in holds
    assert {f.node for f in rig.snap(job).frames} == {"r1", "r2", "r3"}
    assert power.starts_while_asleep == []
    kinds = [e.kind for e in rig.client.events(None, limit=1000)]
    assert "power_waking" in kinds and "power_awake" in kinds


def test_nodes_never_asleep_are_never_woken(rig_for: MakeRig) -> None:
    rig = rig_for({n: NodeBehaviour(spf=1.0) for n in ("r1", "r2", "r3")})
    rig.client.farm.set_power_rule(rule("node:r3", idle=5.0))
    power = FakePower(rig, boot=5.0)
    rig.drive(lambda: power_state(rig, "r3") is PowerState.ASLEEP, limit=30)
    job = rig.submit("1-40", chunk=2)  # more frames than nodes for the whole render
    rig.drive(rig.finished(job))
    assert_all_done(rig, job)
    assert power.woken() == ["r3"]
    assert power_state(rig, "r1") is None and power_state(rig, "r2") is None  # never managed
    assert [c for c in power.calls if c[1] != "r3"] == []


def test_a_few_frames_do_not_wake_nodes_that_are_not_needed(rig_for: MakeRig) -> None:
    rig = rig_for({n: NodeBehaviour(spf=1.0) for n in ("r1", "r2", "r3")})
    rig.client.farm.set_power_rule(rule("node:r3", idle=5.0))
    power = FakePower(rig)
    rig.drive(lambda: power_state(rig, "r3") is PowerState.ASLEEP, limit=30)
    job = rig.submit("1-2", chunk=1)  # two frames, two awake nodes
    rig.drive(rig.finished(job))
    assert power.woken() == []


def test_a_node_that_does_not_wake_is_marked_retried_later_and_not_blamed(rig_for: MakeRig) -> None:
    rig = rig_for({n: NodeBehaviour(spf=1.0) for n in ("r1", "r2")})
    rig.client.farm.set_power_rule(rule("node:r2", idle=5.0, boot=30.0, retry=60.0))
    power = FakePower(rig, dead=("r2",))
    rig.drive(lambda: power_state(rig, "r2") is PowerState.ASLEEP, limit=30)
    job = rig.submit("1-400", chunk=2)
    rig.drive(lambda: power_state(rig, "r2") is PowerState.WAKE_FAILED, limit=60)
    failed = next(p for p in rig.client.farm.node_power() if p.node == "r2")
    assert "did not answer SSH within 30s" in (failed.message or "")
    assert "not counted against the node" in (failed.message or "")
    rig.drive(lambda: len(power.woken()) == 2, limit=120)  # tried again after its retry time
    assert rig.now - failed.since >= 60.0
    stat = rig.dispatcher.state.jobs[job].nodes.get("r2")
    assert stat is None or (stat.failures == 0 and not stat.blocked)
    rig.drive(rig.finished(job))
    assert_all_done(rig, job)
    assert {f.node for f in rig.snap(job).frames} == {"r1"}
    assert power.starts_while_asleep == []


def test_no_mac_no_sleep_and_a_sleep_that_did_not_happen_is_noticed(rig_for: MakeRig) -> None:
    rig = rig_for({n: NodeBehaviour() for n in ("r1", "r2")})
    rig.client.farm.set_power_rule(rule(idle=5.0))
    power = FakePower(rig, no_mac=("r1",), insomniac=("r2",))
    rig.drive(lambda: power_state(rig, "r2") is PowerState.SLEEPING, limit=30)
    rig.drive(lambda: power_state(rig, "r2") is PowerState.AWAKE, limit=SLEEP_CONFIRM + 5)
    awake = next(p for p in rig.client.farm.node_power() if p.node == "r2")
    assert "still answers SSH" in (awake.message or "")
    assert ("sleep", "r1") not in power.calls and power_state(rig, "r1") is None


def test_busy_nodes_and_nodes_a_held_job_wants_stay_awake(rig_for: MakeRig) -> None:
    rig = rig_for({n: NodeBehaviour(spf=1.0) for n in ("r1", "r2")})
    rig.client.farm.set_power_rule(rule(idle=3.0))
    rig.client.farm.set_limit("karma", 0)
    power = FakePower(rig)
    held = rig.submit("1-4", limits=("karma",))
    busy = rig.submit("1-60", nodes=("r1",), output=str(rig.out / "busy.$F4.png"))
    rig.drive(lambda: rig.now - 1000.0 > 20.0)
    assert power.calls == []
    assert rig.client.job(held).summary.hold == "waiting for limit karma (0 of 0 in use)"
    rig.client.cancel(held)
    rig.drive(lambda: ("sleep", "r2") in power.calls, limit=30)
    assert ("sleep", "r1") not in power.calls  # still rendering the other job
    assert not rig.client.job(busy).state.finished


def test_a_restarted_dispatcher_keeps_sleeping_nodes_asleep_until_a_job_needs_them(rig_for: MakeRig) -> None:
    rig = rig_for({n: NodeBehaviour(spf=1.0) for n in ("r1", "r2")})
    rig.client.farm.set_power_rule(rule("node:r2", idle=2.0))
    power = FakePower(rig, boot=5.0)
    rig.drive(lambda: power_state(rig, "r2") is PowerState.ASLEEP, limit=30)
    rig.dispatcher = rig.make()
    rig.dispatcher.assigner.rules.power.actions = power
    job = rig.submit("1-30", chunk=2)
    rig.drive(rig.finished(job))
    assert_all_done(rig, job)
    assert power.woken() == ["r2"] and power.starts_while_asleep == []


def test_a_wake_packet_that_cannot_be_sent_is_a_failed_wake(rig_for: MakeRig) -> None:
    rig = rig_for({"r1": NodeBehaviour()})
    rig.client.farm.set_power_rule(rule(idle=1.0))
    power = FakePower(rig)

    def refuse(node: str) -> str:
        raise NodeError(node, "no MAC address recorded")

    rig.drive(lambda: power_state(rig, "r1") is PowerState.ASLEEP, limit=30)
    power.wake = refuse  # type: ignore[method-assign]
    job = rig.submit("1-2")
    rig.drive(lambda: power_state(rig, "r1") is PowerState.WAKE_FAILED, limit=10)
    message = next(p.message for p in rig.client.farm.node_power() if p.node == "r1") or ""
    assert message.startswith("could not send the wake packet: r1: no MAC address recorded")
    assert not rig.client.job(job).state.finished  # waits for the node, does not fail
