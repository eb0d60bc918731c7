"""Evaluated, not guessed, parameters: expression-driven and keyframed output paths, and $JOB/$HIP as
Houdini expands them, forced on the nodes only when they were really set."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import fake_hou

from farmhand.houdini import rops, submit
from farmhand.houdini.pathmap import PathMap
from farmhand.houdini.preflight import NodeFacts
from farmhand.houdini.submit import SubmitOptions
from farmhand.presets import worker_protocol

from .test_worker import run_worker


def _plan(tmp_path: Path, build: str, rop: str = "/out/m") -> submit.SubmitPlan:
    return submit.plan(rop, SubmitOptions(), [NodeFacts("n1", houdini=(build,))],
                       PathMap(shares=(str(tmp_path / "share"),)))


def test_an_expression_driven_output_is_read_as_houdini_evaluates_it(make_scene: Any, tmp_path: Path,
                                                                     houdini_build: str) -> None:
    """``Parm.unexpandedString()`` raises on a parm with an expression or keyframes: submitting such a
    ROP was refused ("Houdini refused"). The paths Houdini evaluates per frame give the pattern."""
    hip = make_scene([{"path": "/out/m", "type": "ifd", "parms": {
        "trange": 1, "f1": 1, "f2": 3, "vm_picture": {"expr": "$HIP/render/v002/$OS.$F4.exr"}}}])
    plan = _plan(tmp_path, houdini_build)
    (spec,) = plan.specs
    assert spec.output == str(hip.parent / "render" / "v002" / "m.$F4.exr")
    assert plan.rops[0].output_pattern == "$HIP/render/v002/$OS.$F4.exr"  # the expression itself
    assert not [f for f in plan.findings if f.code == "outputs_unverifiable"]


def test_the_frame_anywhere_in_an_evaluated_path_is_found(make_scene: Any, tmp_path: Path,
                                                          houdini_build: str) -> None:
    make_scene([{"path": "/out/m", "type": "ifd", "parms": {
        "trange": 1, "f1": 1, "f2": 3, "vm_picture": {"expr": "$HIP/r/take$F/x.exr"}}}])
    expected = tmp_path / "share" / "r" / "take$F" / "x.exr"
    assert _plan(tmp_path, houdini_build).specs[0].output == str(expected)


def test_an_output_that_changes_by_more_than_the_frame_is_not_verified(make_scene: Any, tmp_path: Path,
                                                                       houdini_build: str) -> None:
    make_scene([{"path": "/out/m", "type": "ifd", "parms": {
        "trange": 1, "f1": 1, "f2": 3, "vm_picture": {"expr": "$HIP/r/$F/$F4.exr"}}}])
    plan = _plan(tmp_path, houdini_build)
    assert plan.specs[0].output is None and not plan.blocked
    assert [f.code for f in plan.findings if f.code == "outputs_unverifiable"] == ["outputs_unverifiable"]


def test_job_is_forced_only_when_really_set(make_scene: Any, hou_session: Any, tmp_path: Path,
                                            houdini_build: str, monkeypatch: Any) -> None:
    """An unset $JOB (Houdini's default is the .hip's folder) was sent as the submitter's .hip folder and
    forced on the nodes; now the nodes derive it from the .hip as they see it."""
    monkeypatch.delenv("JOB", raising=False)
    make_scene([{"path": "/out/m", "type": "ifd"}])
    assert rops.scene_info().job_dir == ""
    assert _plan(tmp_path, houdini_build).specs[0].params == ()
    make_scene([{"path": "/out/m", "type": "ifd"}], vars={"JOB": "/projects/rock"})
    assert _plan(tmp_path, houdini_build).specs[0].params == (("job", "/projects/rock"),)
    monkeypatch.setenv("JOB", "/projects/from_env")
    make_scene([{"path": "/out/m", "type": "ifd"}], name="c.hip")
    assert rops.scene_info().job_dir == "/projects/from_env"


def test_the_node_never_replaces_a_job_saved_in_the_hip_with_its_own(tmp_path: Path, hfs: Path) -> None:
    """A node whose login environment has JOB must render with the $JOB the .hip saved (when the
    submitter sent none): the worker only lets the environment overwrite $JOB when told to."""
    hip = fake_hou.write_scene(tmp_path / "shot.hip", [
        {"path": "/out/geo", "type": "geometry", "parms": {"sopoutput": "$JOB/cache/$F4.bgeo"}}],
        vars={"JOB": str(tmp_path / "saved")})
    env = {**os.environ, "JOB": str(tmp_path / "node_login")}
    events, done = run_worker(hip, "/out/geo", [worker_protocol.render_command(3)], env=env, hfs=hfs)
    assert events[-1]["event"] == "done", done.stderr
    assert events[-1]["outputs"] == [str(tmp_path / "saved" / "cache" / "0003.bgeo")]
