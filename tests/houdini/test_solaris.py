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
from .test_worker import run_worker

STAGE = {"path": "/stage/karmarendersettings1", "type": "karmarendersettings"}
KARMA = {"path": "/out/karma1", "type": "karma", "parms": {"trange": 1, "f1": 1, "f2": 6}}

#: What the farm needs for USD written on a node: the worker's --export-usd mode as a one-shot preset.
EXPORT_SCRIPT = (
    'fh_hfs=$1 fh_script=$2 fh_hip=$3 fh_rop=$4 fh_out=$5 fh_s=$6 fh_e=$7 fh_i=$8; set --; fh_cwd=$PWD; '
    'cd "$fh_hfs" && . ./houdini_setup_bash >/dev/null && cd "$fh_cwd" && exec hython "$fh_script" '
    '--hip "$fh_hip" --rop "$fh_rop" --export-usd "$fh_out" --range "$fh_s" "$fh_e" "$fh_i"')
EXPORT_PRESET = f"""
description = "Write a Karma / USD Render ROP's stage to USD (hython worker --export-usd)"
mode = "chunk"
splittable = false
needs_houdini = true
argv = ["bash", "-c", '{EXPORT_SCRIPT}', "farmhand", "{{hfs}}", "{{farmhand}}/houdini/worker.py", "{{file}}",
        "{{target}}", "{{output}}", "{{start}}", "{{end}}", "{{step}}"]
"""


def _plan(tmp_path: Path, build: str, mode: UsdMode,
          nodes: list[NodeFacts] | None = None) -> submit.SubmitPlan:
    return submit.plan("/out/karma1", SubmitOptions(usd=mode), nodes or [NodeFacts("n1", houdini=(build,))],
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
    plan = _plan(tmp_path, houdini_build, UsdMode.FARM)
    assert plan.blocked and [f.code for f in plan.findings if f.code == "no_usd_export_preset"]
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / f"{solaris.EXPORT_PRESET}.toml").write_text(EXPORT_PRESET)
    monkeypatch.setenv("FARMHAND_PRESET_PATH", str(presets))
    plan = _plan(tmp_path, houdini_build, UsdMode.FARM)
    assert not plan.blocked, plan.findings
    export, husk = plan.specs
    usd = str(hip.parent / "usd" / "shot.karma1.usd")
    assert (export.preset, export.target, export.output, export.single_node) == (
        solaris.EXPORT_PRESET, "/out/karma1", usd, True)
    assert (husk.preset, husk.file) == ("husk", usd) and plan.local_usd == ()


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
