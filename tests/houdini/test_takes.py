"""Takes: a ROP is read in the take it renders in (its take parm, or the one picked at submit), and the
node renders in that take (the worker's --take, as hrender -t)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import fake_hou
import pytest

from farmhand.errors import UsageError
from farmhand.houdini import entry, submit
from farmhand.houdini.pathmap import PathMap
from farmhand.houdini.preflight import NodeFacts
from farmhand.houdini.submit import SubmitOptions
from farmhand.presets import worker_protocol

from .fakesink import RecordingSink
from .test_worker import run_builtin, run_worker

ROPS = [{"path": "/out/m", "type": "ifd", "parms": {"trange": 1, "f1": 1, "f2": 3}},
        {"path": "/out/hero_only", "type": "ifd", "parms": {"trange": 1, "f1": 1, "f2": 2, "take": "hero"}}]
TAKES = {"hero": {"/out/m": {"f2": 5, "vm_picture": "$HIP/hero/$OS.$F4.exr"},
                  "/out/hero_only": {"vm_picture": "$HIP/hero_only/$F4.exr"}}}

#: A studio's own worker preset that declares no 'take' parameter: it cannot render in a take.
NO_TAKE_PRESET = """
description = "hython worker without takes"
mode = "worker"
needs_houdini = true
argv = ["hython", "{farmhand}/houdini/worker.py", "--hip", "{file}", "--rop", "{target}"]
"""


def _plan(tmp_path: Path, build: str, rop: str = "/out/m", **options: Any) -> submit.SubmitPlan:
    return submit.plan(rop, SubmitOptions(**options), [NodeFacts("n1", houdini=(build,))],
                       PathMap(shares=(str(tmp_path / "share"),)))


def test_a_rop_is_read_in_the_take_its_take_parm_names(make_scene: Any, hou_session: Any, tmp_path: Path,
                                                       houdini_build: str) -> None:
    hip = make_scene(ROPS, takes=TAKES)
    plan = _plan(tmp_path, houdini_build, "/out/hero_only")
    assert plan.specs[0].output == str(hip.parent / "hero_only" / "$F4.exr")
    assert hou_session.takes.currentTake().name() == "Main"  # the artist's take is left as it was
    assert _plan(tmp_path, houdini_build).specs[0].frames == "1-3"  # Main: no override


def test_a_take_picked_at_submit_is_read_and_sent(make_scene: Any, hou_session: Any, tmp_path: Path,
                                                  houdini_build: str) -> None:
    hip = make_scene(ROPS, takes=TAKES)
    for preset in (None, submit.HRENDER_PRESET):  # the built-in worker (default) and hrender (-t)
        plan = _plan(tmp_path, houdini_build, take="hero", preset=preset)
        (spec,) = plan.specs
        assert not plan.blocked, plan.findings
        assert (spec.frames, spec.output) == ("1-5", str(hip.parent / "hero" / "m.$F4.exr"))
        assert ("take", "hero") in spec.params and spec.name.endswith("[take hero]")
        assert hou_session.takes.currentTake().name() == "Main"
    with pytest.raises(UsageError, match="no take 'villain'"):
        _plan(tmp_path, houdini_build, take="villain")


def test_a_preset_without_a_take_parameter_is_refused(make_scene: Any, tmp_path: Path, houdini_build: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    make_scene(ROPS, takes=TAKES)
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "worker-no-takes.toml").write_text(NO_TAKE_PRESET)
    monkeypatch.setenv("FARMHAND_PRESET_PATH", str(presets))
    refused = _plan(tmp_path, houdini_build, take="hero", preset="worker-no-takes")
    assert refused.blocked and [f for f in refused.findings if f.code == "take_not_passed"]


def test_the_farmhand_rop_renders_with_its_take(make_scene: Any, hou_session: Any,
                                                farm: RecordingSink) -> None:
    farm_rop = {"path": "/out/farm", "type": "farmhand", "inputs": ["/out/m"],
                "parms": {"use_rop_range": 1, "take": "hero"}}
    make_scene([*ROPS, farm_rop], takes=TAKES)
    sent = entry.hda_submit({"node": hou_session.node("/out/farm")})
    assert sent is not None and sent.thread is not None
    sent.thread.join(5)
    assert [(s.preset, s.frames, dict(s.params).get("take")) for s in farm.specs] == [
        (submit.WORKER_PRESET, "1-5", "hero")]


def test_the_built_in_presets_render_in_the_take_on_a_node(tmp_path: Path, hfs: Path) -> None:
    """The job's take parameter, through each built-in preset's own script, reaches Houdini on the node:
    the worker's --take, and the stock hrender.py's -t (which sets the ROP's take parm)."""
    hip = fake_hou.write_scene(tmp_path / "shot.hip", ROPS, takes=TAKES)
    events, done = run_builtin(submit.WORKER_PRESET, hip, "/out/m", [worker_protocol.render_command(4)], hfs,
                               take="hero")
    assert events[-1]["event"] == "done", done.stderr
    assert events[-1]["outputs"] == [str(tmp_path / "hero" / "m.0004.exr")]
    _events, done = run_builtin(submit.HRENDER_PRESET, hip, "/out/m", [], hfs, start=2, end=3, take="hero")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "hero").iterdir()) == ["m.0002.exr", "m.0003.exr", "m.0004.exr"]
    assert not (tmp_path / "render").exists()  # nothing rendered in the Main take


def test_the_worker_renders_in_the_take_it_is_given(tmp_path: Path, hfs: Path) -> None:
    hip = fake_hou.write_scene(tmp_path / "shot.hip", ROPS, takes=TAKES)
    events, done = run_worker(hip, "/out/m", [worker_protocol.render_command(4)], "--take", "hero", hfs=hfs)
    assert events[-1]["event"] == "done", done.stderr
    assert events[-1]["outputs"] == [str(tmp_path / "hero" / "m.0004.exr")]
    events, done = run_worker(hip, "/out/m", [], "--take", "villain", hfs=hfs)
    assert done.returncode == 1 and "no take 'villain'" in events[-1]["message"]
