"""Wedge ROPs become one job chain per wedge; the node applies the wedge with the Wedge ROP's own
functions before rendering (as Deadline's Houdini submitters do)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fake_hou
import pytest

from farmhand.errors import UsageError
from farmhand.houdini import submit
from farmhand.houdini.pathmap import PathMap
from farmhand.houdini.preflight import NodeFacts
from farmhand.houdini.submit import SubmitOptions
from farmhand.presets import worker_protocol

from .test_worker import run_builtin, run_worker


def scene(outputs: str = "$HIP/render/w$WEDGENUM/$OS.$F4.exr") -> list[dict[str, Any]]:
    return [
        {"path": "/obj/geo1/box", "type": "file", "parms": {"file": "box.bgeo"}},
        {"path": "/out/m", "type": "ifd", "parms": {"trange": 1, "f1": 1, "f2": 2, "vm_picture": outputs}},
        {"path": "/out/wedge1", "type": "wedge", "inputs": ["/out/m"],
         "wedges": [[["/obj/geo1/box/file", "a.bgeo"]], [["/obj/geo1/box/file", "b.bgeo"]],
                    [["/obj/geo1/box/file", "c.bgeo"]]]},
    ]


def _plan(tmp_path: Path, build: str, **options: Any) -> submit.SubmitPlan:
    return submit.plan("/out/wedge1", SubmitOptions(**options), [NodeFacts("n1", houdini=(build,))],
                       PathMap(shares=(str(tmp_path / "share"),)))


def test_one_job_per_wedge_with_its_own_outputs(make_scene: Any, hou_session: Any, tmp_path: Path,
                                                houdini_build: str) -> None:
    hip = make_scene(scene())
    plan = _plan(tmp_path, houdini_build)
    assert not plan.blocked, plan.findings
    assert [(s.target, dict(s.params)["wedgenum"], s.name.endswith(f"[wedge {n}]"))
            for n, s in enumerate(plan.specs)] == [("/out/m", str(n), True) for n in range(3)]
    assert [s.output for s in plan.specs] == [str(hip.parent / "render" / f"w{n}" / "m.$F4.exr")
                                              for n in range(3)]
    assert {dict(s.params)["wedge"] for s in plan.specs} == {"/out/wedge1"}
    assert hou_session.getenv("WEDGENUM") is None  # the session is left as it was


def test_wedges_need_a_preset_that_applies_them_and_distinct_outputs(make_scene: Any, tmp_path: Path,
                                                                     houdini_build: str) -> None:
    make_scene(scene())
    # The stock hrender.py cannot apply a wedge: the built-in hrender preset has no wedge parameters.
    refused = _plan(tmp_path, houdini_build, preset=submit.HRENDER_PRESET)
    assert refused.blocked and "wedge_not_passed" in {f.code for f in refused.findings}
    make_scene(scene(outputs="$HIP/render/$OS.$F4.exr"), name="same.hip")
    warned = _plan(tmp_path, houdini_build)
    assert "wedges_share_outputs" in {f.code for f in warned.findings}


def test_a_wedge_without_wedges_or_driver_is_one_clear_error(make_scene: Any, tmp_path: Path,
                                                             houdini_build: str) -> None:
    make_scene([{"path": "/out/wedge1", "type": "wedge", "wedges": [[["/x/y", 1]]]}])
    with pytest.raises(UsageError, match="drives no ROP"):
        _plan(tmp_path, houdini_build)
    make_scene([{"path": "/out/m", "type": "ifd"}, {"path": "/out/wedge1", "type": "wedge",
                                                    "inputs": ["/out/m"]}], name="b.hip")
    with pytest.raises(UsageError, match="makes no wedges"):
        _plan(tmp_path, houdini_build)


def test_the_worker_applies_the_wedge_before_rendering(tmp_path: Path, hfs: Path) -> None:
    hip = fake_hou.write_scene(tmp_path / "shot.hip", scene())
    events, done = run_worker(hip, "/out/m", [worker_protocol.render_command(1)], "--wedge", "/out/wedge1",
                              "--wedge-num", "2", hfs=hfs)
    assert events[-1]["event"] == "done", done.stderr
    assert events[-1]["outputs"] == [str(tmp_path / "render" / "w2" / "m.0001.exr")]
    events, done = run_worker(hip, "/out/m", [], "--wedge", "/out/wedge1", "--wedge-num", "7", hfs=hfs)
    assert done.returncode == 1 and "has no wedge 7 (it has 3)" in events[-1]["message"]


def test_the_built_in_worker_preset_applies_the_wedge_on_a_node(tmp_path: Path, hfs: Path) -> None:
    """The job's wedge parameters, through the hython-worker preset's own script, reach the worker."""
    hip = fake_hou.write_scene(tmp_path / "shot.hip", scene())
    events, done = run_builtin(submit.WORKER_PRESET, hip, "/out/m", [worker_protocol.render_command(2)], hfs,
                               wedge="/out/wedge1", wedgenum="1")
    assert events[-1]["event"] == "done", done.stderr
    assert events[-1]["outputs"] == [str(tmp_path / "render" / "w1" / "m.0002.exr")]
