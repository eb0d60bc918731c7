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
from .test_worker import run_worker

ROPS = [{"path": "/out/m", "type": "ifd", "parms": {"trange": 1, "f1": 1, "f2": 3}},
        {"path": "/out/hero_only", "type": "ifd", "parms": {"trange": 1, "f1": 1, "f2": 2, "take": "hero"}}]
TAKES = {"hero": {"/out/m": {"f2": 5, "vm_picture": "$HIP/hero/$OS.$F4.exr"},
                  "/out/hero_only": {"vm_picture": "$HIP/hero_only/$F4.exr"}}}

#: A worker preset that passes a take (the built-in one has no 'take' parameter yet).
TAKE_SCRIPT = (
    'fh_hfs=$1 fh_script=$2 fh_hip=$3 fh_rop=$4 fh_take=${5-}; set --; fh_more=(); '
    'if [ -n "$fh_take" ]; then fh_more=("--take=$fh_take"); fi; fh_cwd=$PWD; cd "$fh_hfs" && '
    '. ./houdini_setup_bash >/dev/null && cd "$fh_cwd" && exec hython "$fh_script" --hip "$fh_hip" '
    '--rop "$fh_rop" "${fh_more[@]}"')
TAKE_PRESET = f"""
description = "hython worker rendering in a take"
mode = "worker"
needs_houdini = true
argv = ["bash", "-c", '{TAKE_SCRIPT}', "farmhand", "{{hfs}}", "{{farmhand}}/houdini/worker.py", "{{file}}",
        "{{target}}", ["{{take}}"]]

[params]
take = ""
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
                                                  houdini_build: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    hip = make_scene(ROPS, takes=TAKES)
    refused = _plan(tmp_path, houdini_build, take="hero")
    assert refused.blocked and [f for f in refused.findings if f.code == "take_not_passed"]
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "worker-takes.toml").write_text(TAKE_PRESET)
    monkeypatch.setenv("FARMHAND_PRESET_PATH", str(presets))
    plan = _plan(tmp_path, houdini_build, take="hero", preset="worker-takes")
    (spec,) = plan.specs
    assert not plan.blocked, plan.findings
    assert (spec.frames, spec.output) == ("1-5", str(hip.parent / "hero" / "m.$F4.exr"))
    assert ("take", "hero") in spec.params and spec.name.endswith("[take hero]")
    assert hou_session.takes.currentTake().name() == "Main"
    with pytest.raises(UsageError, match="no take 'villain'"):
        _plan(tmp_path, houdini_build, take="villain")


def test_the_farmhand_rop_renders_with_its_take(make_scene: Any, hou_session: Any, farm: RecordingSink,
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    presets = tmp_path / "presets"
    presets.mkdir()
    (presets / "worker-takes.toml").write_text(TAKE_PRESET)
    monkeypatch.setenv("FARMHAND_PRESET_PATH", str(presets))
    farm_rop = {"path": "/out/farm", "type": "farmhand", "inputs": ["/out/m"],
                "parms": {"use_rop_range": 1, "take": "hero", "preset": "worker-takes"}}
    make_scene([*ROPS, farm_rop], takes=TAKES)
    sent = entry.hda_submit({"node": hou_session.node("/out/farm")})
    assert sent is not None and sent.thread is not None
    sent.thread.join(5)
    assert [(s.frames, dict(s.params).get("take")) for s in farm.specs] == [("1-5", "hero")]


def test_the_worker_renders_in_the_take_it_is_given(tmp_path: Path, hfs: Path) -> None:
    hip = fake_hou.write_scene(tmp_path / "shot.hip", ROPS, takes=TAKES)
    events, done = run_worker(hip, "/out/m", [worker_protocol.render_command(4)], "--take", "hero", hfs=hfs)
    assert events[-1]["event"] == "done", done.stderr
    assert events[-1]["outputs"] == [str(tmp_path / "hero" / "m.0004.exr")]
    events, done = run_worker(hip, "/out/m", [], "--take", "villain", hfs=hfs)
    assert done.returncode == 1 and "no take 'villain'" in events[-1]["message"]
