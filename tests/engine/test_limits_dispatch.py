"""Limits on the simulated farm: never more chunks holding a limit than its capacity, across every job;
per-node limits; jobs waiting for a limit say so; limits nobody defined hold nothing back."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Callable

import pytest

from farmhand.engine.limits import Holding, Limit, Tally, blocking, describe, usage
from farmhand.errors import NotFound, UsageError
from farmhand.jobs import JobState

from .fake_farm import NodeBehaviour
from .rig import Rig, assert_all_done

MakeRig = Callable[..., Rig]


def holding(rig: Rig, limit: str) -> Counter[str]:
    """Running chunks (this step) of jobs taking ``limit``, per node."""
    state = rig.dispatcher.state
    return Counter(t.node for t in state.tasks.values() if limit in state.jobs[t.job_id].spec.limits)


def test_accounting_counts_farm_wide_or_per_node() -> None:
    karma, gpu = Limit("karma", 2), Limit("gpu", 1, per_node=True)
    tally = Tally([Holding("a", ("karma", "gpu")), Holding("b", ("karma",))])
    assert blocking(["karma"], "c", tally, {"karma": karma}) == (karma, 2)
    assert blocking(["gpu"], "b", tally, {"gpu": gpu}) is None  # nothing holds gpu on b
    assert blocking(["gpu"], "a", tally, {"gpu": gpu}) == (gpu, 1)
    assert blocking(["redshift"], "a", tally, {"karma": karma}) is None  # not defined: no hold
    tally.add(Holding("b", ("gpu",)))
    tally.add(Holding("b", ("gpu",)))
    assert usage([karma, gpu], tally) == {"karma": 2, "gpu": 2}  # gpu: its busiest node
    assert describe(gpu, 1, "a") == "waiting for limit gpu (1 of 1 in use on a)"


def test_two_jobs_share_a_limit_of_one_and_the_second_says_it_waits(rig_for: MakeRig) -> None:
    rig = rig_for({n: NodeBehaviour(spf=1.0) for n in ("r1", "r2", "r3")})
    rig.client.farm.set_limit("karma", 1)
    first = rig.submit("1-6", limits=("karma",), chunk=2)
    second = rig.submit("1-6", limits=("karma",), chunk=2, output=str(rig.out / "b.$F4.png"))
    most = 0
    holds: set[str] = set()

    def step() -> bool:
        nonlocal most
        most = max(most, sum(holding(rig, "karma").values()))
        holds.update(s.hold for s in rig.client.jobs() if s.hold)
        return rig.client.job(first).state.finished and rig.client.job(second).state.finished

    rig.drive(step)
    assert most == 1
    assert_all_done(rig, first)
    assert_all_done(rig, second)
    assert holds == {"waiting for limit karma (1 of 1 in use)"}
    assert any(e.kind == "limit" for e in rig.snap(second).events)
    assert rig.client.farm.limit("karma").in_use == 0  # released when the chunks ended


def test_a_full_limit_lets_a_job_without_it_use_the_free_nodes(rig_for: MakeRig) -> None:
    rig = rig_for({n: NodeBehaviour(spf=1.0) for n in ("r1", "r2")})
    rig.client.farm.set_limit("karma", 1)
    held = rig.submit("1-8", limits=("karma",), chunk=4)
    free = rig.submit("1-8", output=str(rig.out / "free.$F4.png"), chunk=4)
    rig.drive(lambda: len(rig.dispatcher.state.tasks) == 2)
    nodes = {t.job_id for t in rig.dispatcher.state.tasks.values()}
    assert nodes == {held, free}
    info = rig.client.farm.limit("karma")
    assert (info.in_use, info.capacity) == (1, 1)


def test_capacity_zero_holds_until_the_limit_grows_or_goes(rig_for: MakeRig) -> None:
    rig = rig_for({"r1": NodeBehaviour(spf=0.5)})
    rig.client.farm.set_limit("houdini-engine", 0)
    job = rig.submit("1-4", limits=("houdini-engine",))
    rig.drive(lambda: rig.client.job(job).summary.hold is not None, limit=5)
    assert rig.client.job(job).summary.hold == "waiting for limit houdini-engine (0 of 0 in use)"
    assert rig.client.farm.limit("houdini-engine").waiting == 1
    assert rig.dispatcher.state.tasks == {}
    rig.client.farm.remove_limit("houdini-engine")
    rig.drive(rig.finished(job))
    assert_all_done(rig, job)
    assert rig.client.job(job).summary.hold is None


def test_a_per_node_limit_waits_for_the_previous_chunk_to_exit(rig_for: MakeRig) -> None:
    # exit_delay: a chunk whose frames are done takes 2 s to exit; without the limit the next chunk
    # would start beside it (see NodeWatch.free).
    rig = rig_for({"r1": NodeBehaviour(spf=0.5, exit_delay=2.0)})
    rig.client.farm.set_limit("gpu", 1, per_node=True)
    job = rig.submit("1-8", limits=("gpu",), chunk=2)
    most = 0

    def step() -> bool:
        nonlocal most
        most = max(most, max(holding(rig, "gpu").values(), default=0))
        return rig.client.job(job).state.finished

    rig.drive(step)
    assert most == 1
    assert_all_done(rig, job)


def test_a_limit_nobody_defined_is_refused_at_submit_but_not_from_a_preset(rig_for: MakeRig,
                                                                            farmhand_home: Path) -> None:
    rig = rig_for({"r1": NodeBehaviour(spf=0.5)})
    with pytest.raises(NotFound, match="farmhand limits set redshift"):
        rig.submit("1-2", limits=("redshift",))
    presets = farmhand_home / "presets"
    presets.mkdir()
    demo = (Path(__file__).resolve().parents[2] / "python/farmhand/presets/builtin/demo.toml").read_text()
    (presets / "licensed.toml").write_text('limits = ["redshift"]\n' + demo)
    job = rig.submit("1-2", preset="licensed")
    rig.drive(rig.finished(job))
    assert_all_done(rig, job)


def test_limit_names_and_capacities_are_checked(rig_for: MakeRig) -> None:
    rig = rig_for({"r1": NodeBehaviour()})
    for bad in (-1, 1.5, True, 10**9):
        with pytest.raises(UsageError, match="capacity"):
            rig.client.farm.set_limit("karma", bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        rig.client.farm.set_limit("bad name", 1)
    with pytest.raises(NotFound):
        rig.client.farm.remove_limit("karma")
    assert rig.client.farm.set_limit("Karma", 4).name == "karma"
    assert rig.client.job(rig.submit("1", limits=("KARMA",))).spec.limits == ("karma",)
    assert rig.client.job(rig.submit("2")).state is JobState.QUEUED
