"""Solaris and Karma: a USD render ROP's stage written to USD once (here, or by one farm job), then
rendered in chunks by husk; Karma XPU jobs kept to nodes with a GPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fake_hou
import hdefereval
import pytest

from farmhand.houdini import entry, solaris, submit
from farmhand.houdini.pathmap import PathMap
from farmhand.houdini.preflight import NodeFacts
from farmhand.houdini.solaris import UsdMode
from farmhand.houdini.submit import SubmitOptions
from farmhand.presets import worker_protocol

from .fakesink import RecordingSink
from .test_worker import run_builtin, run_worker

STAGE = {"path": "/stage/karmarendersettings1", "type": "karmarendersettings"}
KARMA = {"path": "/out/karma1", "type": "karma", "parms": {"trange": 1, "f1": 1, "f2": 6}}

def _plan(tmp_path: Path, build: str, mode: UsdMode, nodes: list[NodeFacts] | None = None,
          rop: str = "/out/karma1", **options: Any) -> submit.SubmitPlan:
    return submit.plan(rop, SubmitOptions(usd=mode, **options), nodes or [NodeFacts("n1", houdini=(build,))],
                       PathMap(shares=(str(tmp_path / "share"),)))


def test_by_default_the_rop_is_rendered_by_the_worker(make_scene: Any, tmp_path: Path,
                                                      houdini_build: str) -> None:
    make_scene([STAGE, KARMA])
    (spec,) = _plan(tmp_path, houdini_build, UsdMode.ROP).specs
    assert spec.preset == submit.WORKER_PRESET and spec.file.endswith("shot.hip")


def test_usd_written_here_then_husk_chunks(make_scene: Any, hou_session: Any, farm: RecordingSink,
                                           tmp_path: Path) -> None:
    """The Farmhand ROP's 'Write USD here' writes the stage now with a temporary USD ROP (gone
    afterwards) and sends husk jobs over that file, with the ROP's RenderSettings prim and outputs."""
    hip = make_scene([STAGE, KARMA, {"path": "/out/farm", "type": "farmhand", "inputs": ["/out/karma1"],
                                     "parms": {"use_rop_range": 1, "usd_mode": "local"}}])
    sent = entry.hda_submit({"node": hou_session.node("/out/farm")})
    assert sent is not None and sent.thread is not None
    sent.thread.join(5)
    hdefereval.process_events(timeout=2)
    usd = hip.parent / "usd" / "shot.karma1.usd"
    assert usd.stat().st_size > 0 and hou_session.node("/out/farmhand_usd_export") is None
    (spec,) = farm.specs
    assert (spec.preset, spec.file, spec.target, spec.frames) == ("husk", str(usd), "/Render/rendersettings",
                                                                  "1-6")
    assert spec.output == str(hip.parent / "render" / "shot.karma1.$F4.exr") and not spec.single_node


def test_usd_written_on_the_farm_is_one_job_before_the_husk_chunks(
        make_scene: Any, tmp_path: Path, houdini_build: str, monkeypatch: pytest.MonkeyPatch) -> None:
    hip = make_scene([STAGE, KARMA])
    plan = _plan(tmp_path, houdini_build, UsdMode.FARM, frames="1-4,6")
    assert not plan.blocked, plan.findings
    export, husk = plan.specs
    usd = str(hip.parent / "usd" / "shot.karma1.usd")
    assert (export.preset, export.target, export.output, export.single_node) == (
        solaris.EXPORT_PRESET, "/out/karma1", usd, True)
    assert export.frames == "1-6"  # one range for the writer, covering every frame husk renders
    assert (husk.preset, husk.file, husk.frames) == ("husk", usd, "1-4,6") and plan.local_usd == ()
    monkeypatch.setattr(solaris, "EXPORT_PRESET", "no-such-preset")
    refused = _plan(tmp_path, houdini_build, UsdMode.FARM)
    assert refused.blocked and [f.code for f in refused.findings if f.code == "no_usd_export_preset"]


def test_the_stage_is_written_in_the_take_and_wedge_the_rop_renders_in(
        make_scene: Any, hou_session: Any, tmp_path: Path, houdini_build: str) -> None:
    takes = {"lit": {"/out/karma1": {"f2": 3}}}
    in_lit = {"path": "/out/karma_lit", "type": "karma", "parms": {**KARMA["parms"], "take": "lit"}}
    wedge = {"path": "/out/wedge1", "type": "wedge", "inputs": ["/out/karma1"],
             "wedges": [[["/out/karma1/f1", 1]], [["/out/karma1/f1", 2]]]}
    hip = make_scene([STAGE, KARMA, in_lit, wedge], takes=takes)
    (export, _husk) = _plan(tmp_path, houdini_build, UsdMode.FARM, take="lit").specs
    assert (export.frames, dict(export.params).get("take")) == ("1-3", "lit")
    # A ROP whose take parm names a take: its stage is written in that take on the node too.
    (export, _husk) = _plan(tmp_path, houdini_build, UsdMode.FARM, rop="/out/karma_lit").specs
    assert dict(export.params).get("take") == "lit"
    specs = _plan(tmp_path, houdini_build, UsdMode.FARM, rop="/out/wedge1").specs
    assert [(s.preset, s.output if s.preset != "husk" else s.file, dict(s.params).get("wedgenum"))
            for s in specs] == [
        (solaris.EXPORT_PRESET, str(hip.parent / "usd" / "shot.karma1.w0.usd"), "0"),
        ("husk", str(hip.parent / "usd" / "shot.karma1.w0.usd"), None),
        (solaris.EXPORT_PRESET, str(hip.parent / "usd" / "shot.karma1.w1.usd"), "1"),
        ("husk", str(hip.parent / "usd" / "shot.karma1.w1.usd"), None)]
    local = _plan(tmp_path, houdini_build, UsdMode.LOCAL, rop="/out/wedge1")
    assert local.blocked and "usd_local_wedge" in {f.code for f in local.findings}
    assert hou_session.takes.currentTake().name() == "Main"


def test_the_built_in_export_preset_writes_the_usd_on_a_node(tmp_path: Path, hfs: Path) -> None:
    hip = fake_hou.write_scene(tmp_path / "shot.hip", [STAGE, KARMA])
    out = tmp_path / "usd" / "shot's $(id).usd"
    events, done = run_builtin(solaris.EXPORT_PRESET, hip, "/out/karma1", [], hfs, output=str(out), start=1,
                               end=6)
    assert done.returncode == 0, done.stderr
    assert events[-1]["outputs"] == [str(out)] and out.stat().st_size > 0


def test_karma_xpu_goes_to_nodes_with_a_gpu(make_scene: Any, tmp_path: Path, houdini_build: str) -> None:
    make_scene([STAGE, {**KARMA, "parms": {**KARMA["parms"], "renderer": solaris.XPU_RENDERER}}])
    nodes = [NodeFacts("cpu1", houdini=(houdini_build,)), NodeFacts("gpu1", houdini=(houdini_build,), gpus=2)]
    for mode in UsdMode:
        assert {s.nodes for s in _plan(tmp_path, houdini_build, mode, nodes).specs} == {("gpu1",)}
    cpu_only = _plan(tmp_path, houdini_build, UsdMode.ROP, nodes[:1])
    assert cpu_only.blocked and "Karma XPU" in cpu_only.findings[0].message


def test_worker_writes_the_stage_to_usd_on_a_node(tmp_path: Path, hfs: Path) -> None:
    hip = fake_hou.write_scene(tmp_path / "shot.hip", [STAGE, KARMA, {"path": "/out/bad", "type": "karma",
                                                                      "parms": {"loppath": "/stage/none"}}])
    out = tmp_path / "usd" / "shot.usd"
    events, done = run_worker(hip, "/out/karma1", [], "--export-usd", str(out), "--range", "1", "6", "1",
                              hfs=hfs)
    assert done.returncode == 0, done.stderr
    assert events[-1]["event"] == "done" and events[-1]["outputs"] == [str(out)] and out.stat().st_size > 0
    events, done = run_worker(hip, "/out/bad", [worker_protocol.quit_command()], "--export-usd", str(out),
                              hfs=hfs)
    assert done.returncode == 1 and "names no LOP node" in events[-1]["message"]


USD_ROP = {"path": "/out/usd1", "type": "usdrender", "parms": {"trange": 1, "f1": 1, "f2": 6}}
TWO_PRODUCTS = {**STAGE, "products": {"/Render/Products/beauty": "$HIP/render/beauty.$F4.exr",
                                      "/Render/Products/depth": "$HIP/render/depth.$F4.exr"}}


def test_outputs_come_from_the_stages_render_products(make_scene: Any, tmp_path: Path,
                                                      houdini_build: str) -> None:
    """A USD Render ROP's Output Image is an override, empty by default: the files are the stage's
    RenderProducts, read from the LOP node's stage cooked per frame (productName holds $F4 expanded)."""
    hip = make_scene([STAGE, USD_ROP])
    for mode in UsdMode:
        plan = _plan(tmp_path, houdini_build, mode, rop="/out/usd1")
        assert not plan.blocked, plan.findings
        assert plan.specs[-1].output == str(hip.parent / "render" / "shot.karmarendersettings1.$F4.exr")
    # The ROP's own override wins, as in Houdini.
    make_scene([STAGE, {**USD_ROP, "parms": {**USD_ROP["parms"], "outputimage": "$HIP/o/$OS.$F4.exr"}}],
               name="override.hip")
    (spec,) = _plan(tmp_path, houdini_build, UsdMode.ROP, rop="/out/usd1").specs
    assert spec.output == str(hip.parent / "o" / "usd1.$F4.exr")


def test_several_products_are_not_all_sent_to_one_file(make_scene: Any, tmp_path: Path,
                                                       houdini_build: str) -> None:
    hip = make_scene([TWO_PRODUCTS, USD_ROP])
    plan = _plan(tmp_path, houdini_build, UsdMode.ROP, rop="/out/usd1")
    assert plan.specs[0].output == str(hip.parent / "render" / "beauty.$F4.exr")  # the first is checked
    assert "several_products" in {f.code for f in plan.findings}
    _export, husk = _plan(tmp_path, houdini_build, UsdMode.FARM, rop="/out/usd1").specs
    assert husk.output is None  # no husk -o: each product is written where the stage names it


def test_a_stage_that_cannot_be_read_per_frame_leaves_outputs_unchecked(
        make_scene: Any, tmp_path: Path, houdini_build: str, monkeypatch: pytest.MonkeyPatch) -> None:
    make_scene([STAGE, USD_ROP])

    def stage_without_frame(self: Any) -> Any:  # a Houdini whose LopNode.stage() takes no frame
        raise TypeError("stage() got an unexpected keyword argument 'frame'")

    monkeypatch.setattr(fake_hou.LopNode, "stage", stage_without_frame)
    (spec,) = _plan(tmp_path, houdini_build, UsdMode.ROP, rop="/out/usd1").specs
    assert spec.output is None


def test_husk_writes_every_render_product_of_the_usd_written_on_a_node(tmp_path: Path, hfs: Path) -> None:
    """The USD the farm writes names each frame's products; husk without -o writes each of them."""
    hip = fake_hou.write_scene(tmp_path / "shot.hip", [TWO_PRODUCTS, USD_ROP])
    usd = tmp_path / "usd" / "shot.usd1.usd"
    _events, done = run_builtin(solaris.EXPORT_PRESET, hip, "/out/usd1", [], hfs, output=str(usd), start=1,
                                end=3)
    assert done.returncode == 0, done.stderr
    _events, done = run_builtin(solaris.HUSK_PRESET, usd, "/Render/rendersettings", [], hfs, start=2, end=3)
    assert done.returncode == 0, done.stdout
    assert sorted(p.name for p in (tmp_path / "render").iterdir()) == [
        "beauty.0002.exr", "beauty.0003.exr", "depth.0002.exr", "depth.0003.exr"]
