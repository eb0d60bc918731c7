"""Preflight that knows licences and renderers: .hipnc refused, .hiplc flagged, OpenGL on headless
nodes warned about, third-party renderer plug-ins named, husk only for USD files."""

from __future__ import annotations

from typing import Any

import pytest

from farmhand.display import Severity
from farmhand.houdini import panel, renderers, submit
from farmhand.houdini.pathmap import PathMap
from farmhand.houdini.preflight import NodeFacts
from farmhand.houdini.submit import SubmitOptions


def _plan(tmp_path: Any, build: str, rop: str = "/out/m", **options: Any) -> submit.SubmitPlan:
    return submit.plan(rop, SubmitOptions(**options), [NodeFacts("n1", houdini=(build,))],
                       PathMap(shares=(str(tmp_path / "share"),)))


def _codes(plan: submit.SubmitPlan) -> dict[str, Severity]:
    return {f.code: f.severity for f in plan.findings}


@pytest.mark.parametrize(("name", "code", "severity"), [
    ("shot.hipnc", "apprentice_scene", Severity.ERROR),
    ("shot.hiplc", "indie_scene", Severity.WARNING),
])
def test_licence_of_the_scene_file(make_scene: Any, tmp_path: Any, houdini_build: str, name: str, code: str,
                                   severity: Severity) -> None:
    make_scene([{"path": "/out/m", "type": "ifd"}], name=name)
    plan = _plan(tmp_path, houdini_build)
    assert _codes(plan)[code] is severity
    assert plan.blocked is (severity is Severity.ERROR)
    make_scene([{"path": "/out/m", "type": "ifd"}], name="shot.hip")
    assert not {"apprentice_scene", "indie_scene"} & set(_codes(_plan(tmp_path, houdini_build)))


def test_opengl_and_plugin_renderers_are_named(make_scene: Any, tmp_path: Any, houdini_build: str) -> None:
    make_scene([{"path": "/out/gl", "type": "opengl"}, {"path": "/out/rs", "type": "Redshift_ROP"},
                {"path": "/out/all", "type": "merge", "inputs": ["/out/gl", "/out/rs"]}])
    plan = _plan(tmp_path, houdini_build, "/out/all")
    texts = [f.message for f in plan.findings if f.severity is Severity.WARNING]
    assert any("/out/gl is an OpenGL ROP" in t and "display" in t for t in texts)
    assert any("/out/rs renders with Redshift for Houdini" in t for t in texts)
    assert not plan.blocked


def test_husk_is_refused_for_a_hip_and_not_offered(make_scene: Any, tmp_path: Any,
                                                   houdini_build: str) -> None:
    """husk renders USD files only: asked to render a ROP in a .hip it produced ``husk ... shot.hip``."""
    hip = make_scene([{"path": "/out/karma1", "type": "karma"}])
    plan = _plan(tmp_path, houdini_build, "/out/karma1", preset="husk")
    refused = [f for f in plan.findings if f.code == "husk_needs_usd"]
    assert plan.blocked and refused and "renders USD files, not shot.hip" in refused[0].message
    assert "husk" not in panel.houdini_presets(str(hip))
    assert "husk" in panel.houdini_presets(str(tmp_path / "shot.usd"))
    assert "husk" not in panel.submit_context("/out/karma1").presets


def test_usd_files_are_recognised() -> None:
    assert renderers.is_usd("/s/a.usd") and renderers.is_usd("/s/A.USDC") and not renderers.is_usd("/s/a.hip")
