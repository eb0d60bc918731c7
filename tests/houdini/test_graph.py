"""The job order and frames come from Houdini's own render plan (``render -p -c -F`` through
``hou.hscript``): Switch, Batch, Merge, Fetch, bypass and Strict ranges follow Houdini's rules."""

from __future__ import annotations

from typing import Any

import pytest

from farmhand.errors import UsageError
from farmhand.frames import FrameSpec
from farmhand.houdini import graph, rops, submit
from farmhand.houdini.pathmap import PathMap
from farmhand.houdini.preflight import NodeFacts
from farmhand.houdini.submit import SubmitOptions

#: Deadline Cloud's test double for this command (its unit test_rops.py).
DEADLINE_SAMPLE = "1 [ ] /out/mantra1 \t( 1 5 1 )\n2 [ 1 ] /out/karma1/lopnet/rop_usdrender \t( 1 5 1 )\n"


def test_parse_houdinis_plan_text() -> None:
    steps = graph.parse_plan(DEADLINE_SAMPLE + "3 [ 1 2 ] /out/comp \t( 7 ) ( 10 12 2 )\n\n")
    assert [(s.order, s.path, s.depends_on) for s in steps] == [
        (1, "/out/mantra1", ()), (2, "/out/karma1/lopnet/rop_usdrender", (1,)), (3, "/out/comp", (1, 2))]
    assert steps[0].frames == (1, 2, 3, 4, 5) and steps[2].frames == (7, 10, 12)


@pytest.mark.parametrize("line", ["Invalid ROP: /out/x", "1 [ ] /out/m \t( a b c )",
                                  "1 [ ] /out/m ( 1 2 3 4 )"])
def test_a_plan_line_farmhand_cannot_read_is_one_clear_error(line: str) -> None:
    with pytest.raises(UsageError, match="render plan line"):
        graph.parse_plan(line)


def _order(root: str, frames: str | None = None) -> dict[str, str]:
    spec = FrameSpec.parse(frames) if frames else None
    return {i.path: str(i.frames) for i in graph.render_order(rops.find_rop(root), spec)}


def test_a_switch_renders_only_its_selected_input(make_scene: Any, hou_session: Any) -> None:
    rng = {"trange": 1, "f1": 1, "f2": 4}
    make_scene([
        {"path": "/out/hi", "type": "ifd", "parms": rng},
        {"path": "/out/lo", "type": "ifd", "parms": rng},
        {"path": "/out/pick", "type": "switch", "inputs": ["/out/hi", "/out/lo"], "parms": {"index": 1}},
        {"path": "/out/comp", "type": "ifd", "inputs": ["/out/pick"], "parms": rng},
    ])
    assert _order("/out/comp") == {"/out/lo": "1-4", "/out/comp": "1-4"}
    hou_session.node("/out/pick").parm("index").set(0)
    assert _order("/out/comp") == {"/out/hi": "1-4", "/out/comp": "1-4"}


def test_frames_given_by_the_user_are_planned_run_by_run(make_scene: Any, hou_session: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    make_scene([{"path": "/out/cache", "type": "geometry"},
                {"path": "/out/m", "type": "ifd", "inputs": ["/out/cache"]}])
    asked: list[str] = []
    real = hou_session.hscript

    def recording(command: str) -> Any:
        asked.append(command)
        return real(command)

    monkeypatch.setattr(graph.hou, "hscript", recording)
    assert _order("/out/m", "1-3,10,20-30x5") == {"/out/cache": "1-3,10,20-30x5", "/out/m": "1-3,10,20-30x5"}
    assert asked == ["render -p -c -F -f 1 3 -i 1 /out/m", "render -p -c -F -f 10 10 -i 1 /out/m",
                     "render -p -c -F -f 20 30 -i 5 /out/m"]


def test_houdinis_refusal_is_reported(make_scene: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    make_scene([{"path": "/out/m", "type": "ifd"}])
    monkeypatch.setattr(graph.hou, "hscript", lambda command: ("", "Cyclic dependency found\n"))
    with pytest.raises(UsageError, match="Houdini cannot plan a render of /out/m: Cyclic dependency found"):
        _order("/out/m")
    with pytest.raises(UsageError, match="not a node path"):
        graph.houdini_plan("/out/m; rm -rf /")


def _plan(root: str, tmp_path: Any, build: str) -> submit.SubmitPlan:
    return submit.plan(root, SubmitOptions(), [NodeFacts("n1", houdini=(build,))],
                       PathMap(shares=(str(tmp_path / "share"),)))


def test_simulations_and_caches_go_to_one_node(make_scene: Any, hou_session: Any, tmp_path: Any,
                                               houdini_build: str) -> None:
    """A Geometry ROP with Initialize Simulation OPs on, a Batch ROP's input and a ROP a TD marked with
    the farmhand_single_node toggle render their whole range in order on one node; a plain Geometry ROP
    is split like any render."""
    rng = {"trange": 1, "f1": 1, "f2": 6}
    make_scene([
        {"path": "/out/sim", "type": "geometry", "parms": {**rng, "initsim": 1}},
        {"path": "/out/geo", "type": "geometry", "parms": rng},
        {"path": "/out/pyro", "type": "geometry", "parms": rng},
        {"path": "/out/batch", "type": "batch", "inputs": ["/out/pyro"], "parms": rng},
        {"path": "/out/marked", "type": "ifd", "parms": {**rng, "farmhand_single_node": 1}},
        {"path": "/out/all", "type": "merge",
         "inputs": ["/out/sim", "/out/geo", "/out/batch", "/out/marked"]},
    ])
    plan = _plan("/out/all", tmp_path, houdini_build)
    single = {s.target: s.single_node for s in plan.specs}
    assert single == {"/out/sim": True, "/out/geo": False, "/out/pyro": True, "/out/marked": True}
    reasons = {i.path: i.note for i in plan.rops}
    assert "Initialize Simulation" in reasons["/out/sim"] and "Batch ROP" in reasons["/out/pyro"]
    assert "farmhand_single_node" in reasons["/out/marked"] and reasons["/out/geo"] == ""
