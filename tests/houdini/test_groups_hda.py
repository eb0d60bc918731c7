"""The Farmhand ROP's Node Groups and Environment parameters: they reach every job of its submit, bad
values are one clear error, and the groups menu offers the groups the registry's nodes are in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hdefereval
import pytest

from farmhand.errors import UsageError
from farmhand.houdini import entry, hda
from farmhand.nodes.registry import Registry

from .fakesink import RecordingSink

ROPS = [{"path": "/out/mantra1", "type": "ifd"}, {"path": "/out/karma1", "type": "karma"}]


def test_groups_and_environment_reach_every_job(make_scene: Any, hou_session: Any,
                                                farm: RecordingSink) -> None:
    make_scene([*ROPS, {"path": "/out/farm", "type": "farmhand", "inputs": ["/out/karma1", "/out/mantra1"],
                        "parms": {"groups": "GPU, cores>=16", "env": "OCIO=/share/aces.ocio SHOT='sh 010'"}}])
    sent = entry.hda_submit({"node": hou_session.node("/out/farm")})
    assert sent is not None and sent.thread is not None
    sent.thread.join(5)
    hdefereval.process_events(timeout=2)
    assert len(farm.specs) == 2
    for spec in farm.specs:
        assert spec.groups == ("gpu", "cores>=16")
        assert spec.env == (("OCIO", "/share/aces.ocio"), ("SHOT", "sh 010"))


@pytest.mark.parametrize(("parm", "value", "words"), [("groups", "cores>16", "group 'cores>16'"),
                                                      ("env", "1BAD=x", "name '1BAD'"),
                                                      ("env", "SHOT='open", "check its quotes")])
def test_bad_values_are_one_line(make_scene: Any, hou_session: Any, parm: str, value: str,
                                 words: str) -> None:
    make_scene([{"path": "/out/farm", "type": "farmhand", "parms": {parm: value}}])
    with pytest.raises(UsageError) as err:
        hda.options_from_node(hou_session.node("/out/farm"))
    assert words in err.value.message and "\n" not in err.value.message


def test_the_groups_menu_lists_the_groups_of_trusted_enabled_nodes(farmhand_home: Path) -> None:
    registry = Registry()
    registry.add("r1")
    registry.record_inventory("r1", {"hostname": "r1", "os": "Linux", "cpus_logical": 8,
                                     "gpus": [{"name": "x"}]})
    registry.tag("r1", ["lookdev"])
    registry.add("r2")
    registry.tag("r2", ["spare"])
    registry.set_enabled("r2", False)
    assert hda.group_menu() == ["gpu", "gpu", "linux", "linux", "lookdev", "lookdev"]
