"""The start-cost-aware policy as the dispatcher carries it out (fake farm, simulated clock)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable

import pytest

from farmhand.engine.jobrun import farm_speeds
from farmhand.engine.scheduler import NodeSpeed, Policy
from farmhand.jobs import Retry

from .fake_farm import NodeBehaviour
from .rig import FAKE_WORKER_PRESET, Rig, assert_all_done

POLICY = Policy(target_chunk_seconds=60.0)


def test_a_long_start_gets_few_chunks_and_a_near_ideal_makespan(rig_for: Callable[..., Rig]) -> None:
    nodes = {"a": NodeBehaviour(spf=1.0, startup=4.0), "b": NodeBehaviour(spf=1.0, startup=4.0)}
    rig = rig_for(nodes, policy=POLICY)
    job = rig.submit("1-40")
    took = rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    assigned = [e for e in snap.events if e.kind == "assigned"]
    assert len(assigned) <= 4, [e.message for e in assigned]
    assert took <= 4.0 + 40 / 2 + 3.0  # one start, half the frames each, a few steps of slack


def test_a_slow_node_leaves_the_last_frames_to_a_fast_one(rig_for: Callable[..., Rig]) -> None:
    nodes = {"fast": NodeBehaviour(spf=1.0, startup=1.0), "slow": NodeBehaviour(spf=8.0, startup=6.0)}
    rig = rig_for(nodes, cores={"fast": 8, "slow": 1}, policy=POLICY, retry=Retry(stall_floor=60.0))
    job = rig.submit("1-30")
    took = rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    by_node = Counter(r.node for r in snap.frames)
    assert by_node["fast"] >= 26, by_node
    assert took <= 1.0 + 30.0 + 4.0, took


def test_an_idle_worker_backs_up_or_resplits_a_slow_workers_frames(
    rig_for: Callable[..., Rig], farmhand_home: Path
) -> None:
    presets = farmhand_home / "presets"
    presets.mkdir(parents=True)
    (presets / "fake-worker.toml").write_text(FAKE_WORKER_PRESET)
    nodes = {"fast": NodeBehaviour(spf=0.5, startup=1.0), "slow": NodeBehaviour(spf=12.0, startup=1.0)}
    rig = rig_for(nodes, cores={"fast": 8, "slow": 8}, retry=Retry(stall_floor=60.0))
    job = rig.submit("1-24", preset="fake-worker")
    took = rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    kinds = {e.kind for e in snap.events}
    assert "backup" in kinds or "resplit" in kinds, sorted(kinds)
    # without the tail the job ends when the slow worker's 12 s frame does
    assert took < 1.0 + 24 * 0.5 + 8.0, took
    assert not rig.fake.live()


def test_the_next_job_starts_from_the_speeds_the_last_one_measured(rig_for: Callable[..., Rig]) -> None:
    nodes = {"fast": NodeBehaviour(spf=0.5), "slow": NodeBehaviour(spf=2.0)}
    rig = rig_for(nodes, cores={"fast": 4, "slow": 4}, policy=POLICY)
    first = rig.submit("1-20", output=str(rig.out / "a.$F4.png"))
    rig.drive(rig.finished(first))
    prior = farm_speeds(rig.store, besides="")
    assert prior["fast"] > 3 * prior["slow"]
    second = rig.submit("1-50", output=str(rig.out / "b.$F4.png"))
    rig.dispatcher.step(rig.now)
    chunks = {e.node: e.message.split(": ", 1)[1] for e in rig.snap(second).events if e.kind == "assigned"}
    # shared 4:1 by what job 1 measured, not 1:1 by the equal cores
    assert chunks == {"fast": "frames 1-40", "slow": "frames 41-50"}



def _count_asks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The nodes the assigner asks the policy about (``next_work``), in order, from now on."""
    from farmhand.engine import assign

    asked: list[str] = []
    real = assign.next_work

    def counting(speed: NodeSpeed, *args: object, **kw: object) -> object:
        asked.append(speed.node)
        return real(speed, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(assign, "next_work", counting)
    return asked

def test_a_job_every_free_node_passed_on_is_asked_again_only_when_something_changes(
    rig_for: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch
) -> None:

    nodes = {"fast": NodeBehaviour(spf=1.0), "slow": NodeBehaviour(spf=20.0)}
    rig = rig_for(nodes, cores={"fast": 8, "slow": 1}, policy=POLICY, retry=Retry(stall_floor=60.0))
    job = rig.submit("1-8", chunk=8)  # the fast node takes all 8; the slow one has nothing worth doing
    rig.drive(lambda: rig.snap(job).summary.frames_done >= 1, dt=0.05)
    asked = _count_asks(monkeypatch)
    for _ in range(4):  # 4 steps within QUIET_SECONDS, no frame finished
        rig.now += 0.05
        rig.dispatcher.step(rig.now)
    assert asked.count("slow") <= 1, asked
    rig.drive(rig.finished(job))
    assert asked.count("slow") >= 2  # asked again as frames finished


def test_at_the_tail_one_node_passing_spares_asking_the_nodes_no_better(
    rig_for: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch
) -> None:

    nodes = {f"n{i:02d}": NodeBehaviour(spf=1.0, startup=2.0) for i in range(11)}
    nodes["slow"] = NodeBehaviour(spf=1.5, startup=2.0)
    rig = rig_for(nodes, policy=POLICY, retry=Retry(stall_floor=60.0))
    job = rig.submit("1-36")  # 3 frames each; the slow node's last frame is not worth a backup
    rig.drive(lambda: rig.snap(job).summary.frames_done >= 34, dt=0.05)
    asked = _count_asks(monkeypatch)
    rig.now += 0.3  # past QUIET_SECONDS: the job is looked at again
    rig.dispatcher.step(rig.now)
    free = [n for n in nodes if not rig.dispatcher.state.busy_on(n)]
    assert len(free) >= 10 and rig.dispatcher.state.busy_on("slow")
    assert len(asked) <= 2, asked  # equal nodes: the first one's answer holds for the rest
    rig.drive(rig.finished(job))
    assert_all_done(rig, job)


class _Progress:
    """A job store holding only finished jobs' progress rows (what farm_speeds reads)."""

    def __init__(self, jobs: dict[str, list[tuple[str, float, int]]]) -> None:
        self.jobs = jobs

    def job_ids(self, states: object = ()) -> list[str]:
        return list(self.jobs)

    def progress(self, job_id: str) -> list[object]:
        from types import SimpleNamespace

        return [SimpleNamespace(node=n, seconds_per_frame=s, frames_done=d) for n, s, d in self.jobs[job_id]]


def test_a_remembered_speed_is_robust_to_one_bad_measurement() -> None:
    normal = [("a", 2.0, 10), ("b", 1.0, 10), ("c", 1.0, 10)]
    store = _Progress({
        "1": normal,
        "2": normal,
        "3": [("a", 2.0, 10), ("b", 1.0, 10), ("c", 0.001, 10)],  # c's lines arrived in one burst
        "4": [("a", 2.0, 10), ("b", 1.0, 10), ("c", 0.001, 1)],  # one frame says nothing
    })
    prior = farm_speeds(store, besides="")  # type: ignore[arg-type]
    assert prior["b"] == pytest.approx(2 * prior["a"])
    assert prior["c"] == pytest.approx(prior["b"])  # the median of 1×, 1× and the bad one
    only_bad = farm_speeds(_Progress({"3": store.jobs["3"]}), besides="")  # type: ignore[arg-type]
    assert only_bad["c"] == 8.0  # kept within 8× of the median, not 1000×
