"""Groups on the simulated farm: the registry's tags (inventory and by hand) reach the dispatcher's nodes,
a job renders only on nodes in every group it and its preset ask for, a group no node is in is refused
at submit, and a job whose nodes left its group fails with a message naming the group."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from farmhand.engine.process import registry_nodes
from farmhand.errors import UsageError
from farmhand.jobs import JobState
from farmhand.nodes.registry import Registry

from .fake_farm import NodeBehaviour
from .rig import Rig, assert_all_done

MakeRig = Callable[..., Rig]
DEMO = Path(__file__).resolve().parents[2] / "python/farmhand/presets/builtin/demo.toml"


def farm_rig(rig_for: MakeRig) -> Rig:
    """r1: a GPU node; r2: a plain 4-core node tagged 'lookdev' by hand; r3: 32 cores, 128 GB."""
    rig = rig_for({n: NodeBehaviour(spf=0.5) for n in ("r1", "r2", "r3")})
    registry = Registry()
    inventories = {
        "r1": {"os": "Linux", "cpus_logical": 8, "gpus": [{"name": "RTX A4000"}]},
        "r2": {"os": "Linux", "cpus_logical": 4, "mem_total_mb": 16000},
        "r3": {"os": "Linux", "cpus_logical": 32, "mem_total_mb": 122070,
               "houdini": [{"path": "/opt/hfs21.0.512", "version": "21.0.512"}]},
    }
    for name, inventory in inventories.items():
        registry.add(name)
        registry.record_inventory(name, {"hostname": name, **inventory})
    registry.tag("r2", ["lookdev"])
    rig.farm = list(registry_nodes(registry)())
    return rig


def rendered_on(rig: Rig, job: str) -> set[str]:
    return {f.node or "" for f in rig.snap(job).frames}


def test_registry_tags_reach_the_dispatchers_nodes(rig_for: MakeRig) -> None:
    rig = farm_rig(rig_for)
    tags = {n.name: n.tags for n in rig.farm}
    assert {"linux", "gpu", "cores=8"} <= tags["r1"] and "gpu" not in tags["r2"]
    assert {"lookdev", "cores=4", "ram=17"} <= tags["r2"]
    assert {"houdini-21.0", "cores=32", "ram=128"} <= tags["r3"]


@pytest.mark.parametrize(("groups", "nodes"), [
    (("gpu",), {"r1"}),
    (("lookdev",), {"r2"}),
    (("cores>=8",), {"r1", "r3"}),
    (("cores>=8", "ram>=64"), {"r3"}),
    (("linux",), {"r1", "r2", "r3"}),
])
def test_a_job_renders_only_on_nodes_in_all_its_groups(rig_for: MakeRig, groups: tuple[str, ...],
                                                       nodes: set[str]) -> None:
    rig = farm_rig(rig_for)
    job = rig.submit("1-24", groups=groups, chunk=2)
    rig.drive(rig.finished(job))
    assert_all_done(rig, job)
    assert rendered_on(rig, job) == nodes


def test_a_preset_requires_its_group(rig_for: MakeRig, farmhand_home: Path) -> None:
    rig = farm_rig(rig_for)
    (farmhand_home / "presets").mkdir()
    (farmhand_home / "presets" / "xpu.toml").write_text('groups = ["gpu"]\n' + DEMO.read_text())
    job = rig.submit("1-8", preset="xpu", chunk=2)
    rig.drive(rig.finished(job))
    assert_all_done(rig, job)
    assert rendered_on(rig, job) == {"r1"}
    assert rig.client.job(job).spec.groups == ()  # the preset's group is the preset's, not copied


def test_a_group_no_node_is_in_is_refused_at_submit_naming_what_exists(rig_for: MakeRig) -> None:
    rig = farm_rig(rig_for)
    with pytest.raises(UsageError) as err:
        rig.submit("1-4", groups=("houdini-20.5",))
    assert "no trusted, enabled node is in group houdini-20.5" in err.value.message
    assert "gpu" in err.value.message and "lookdev" in err.value.message and "cores=" not in err.value.message
    with pytest.raises(UsageError, match="gpu \\+ lookdev together"):
        rig.submit("1-4", groups=("gpu", "lookdev"))
    with pytest.raises(UsageError, match="group gpu"):
        rig.submit("1-4", groups=("gpu",), nodes=("r2", "r3"))  # the chosen nodes count, not the farm
    assert rig.client.jobs() == []


def test_a_job_whose_nodes_left_its_group_fails_saying_which(rig_for: MakeRig) -> None:
    rig = farm_rig(rig_for)
    job = rig.submit("1-4", groups=("lookdev",))
    Registry().tag("r2", ["lookdev"], remove=True)
    rig.farm = list(registry_nodes(Registry())())
    rig.drive(rig.finished(job), limit=30)
    snap = rig.snap(job)
    assert snap.state is JobState.FAILED
    why = "no node can render this job: no trusted, enabled node is in group lookdev"
    assert why in (snap.summary.error or "")
