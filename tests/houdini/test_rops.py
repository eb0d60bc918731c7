"""Reading ROPs the way Houdini renders them, against the fake hou."""

from __future__ import annotations

from typing import Any

import pytest

from farmhand.errors import NotFound, UsageError
from farmhand.houdini import graph, rops


def test_trange_zero_renders_the_current_frame(make_scene: Any, hou_session: Any) -> None:
    make_scene([{"path": "/out/mantra1", "type": "ifd", "parms": {"trange": 0, "f1": 1, "f2": 50}}], frame=17)
    assert list(rops.frame_range(rops.find_rop("/out/mantra1"))) == [17]
    hou_session.setFrame(23)
    assert list(rops.frame_range(rops.find_rop("/out/mantra1"))) == [23]


@pytest.mark.parametrize("trange", [1, 2])
def test_frame_range_parms_with_step(make_scene: Any, trange: int) -> None:
    make_scene([{"path": "/out/m", "type": "ifd", "parms": {"trange": trange, "f1": 5, "f2": 15, "f3": 5}}])
    assert list(rops.frame_range(rops.find_rop("/out/m"))) == [5, 10, 15]


def test_default_range_follows_fstart_fend_expressions(make_scene: Any) -> None:
    make_scene([{"path": "/out/m", "type": "ifd", "parms": {"trange": 1}}], fstart=1001, fend=1004)
    assert str(rops.frame_range(rops.find_rop("/out/m"))) == "1001-1004"


def test_karma_from_stage_uses_the_stage_range(make_scene: Any) -> None:
    make_scene([{"path": "/out/karma1", "type": "karma", "parms": {"trange": 3, "f1": 10, "f2": 12}}])
    assert str(rops.frame_range(rops.find_rop("/out/karma1"))) == "10-12"


def test_backwards_range_is_one_clear_error(make_scene: Any) -> None:
    make_scene([{"path": "/out/m", "type": "ifd", "parms": {"trange": 1, "f1": 10, "f2": 1}}])
    with pytest.raises(UsageError, match="ends before it starts"):
        rops.frame_range(rops.find_rop("/out/m"))


@pytest.mark.parametrize(("kind", "parm", "pattern", "expected"), [
    ("ifd", "vm_picture", "$HIP/render/$OS.$F4.exr", "render/m.0003.exr"),
    ("karma", "picture", "$JOB/img/$HIPNAME.$F3.exr", "proj/img/shot.003.exr"),
    ("usdrender", "outputimage", "$HIP/usd.$F.exr", "usd.3.exr"),
    ("geometry", "sopoutput", "$HIP/geo/$OS.$F4.bgeo.sc", "geo/m.0003.bgeo.sc"),
    ("Redshift_ROP", "RS_outputFileNamePrefix", "$HIP/rs.$F4.exr", "rs.0003.exr"),
    ("arnold", "ar_picture", "$HIP/ar.$F4.exr", "ar.0003.exr"),
])
def test_output_parm_per_rop_type_expanded_per_frame(make_scene: Any, tmp_path: Any, kind: str, parm: str,
                                                     pattern: str, expected: str) -> None:
    make_scene([{"path": "/out/m", "type": kind, "parms": {"trange": 1, "f1": 3, "f2": 4, parm: pattern}}],
               vars={"JOB": str(tmp_path / "proj")})
    info = rops.read_rop(rops.find_rop("/out/m"))
    assert info.output_parm == parm
    assert info.output_pattern == pattern
    frame, path = info.outputs[0]
    assert frame == 3
    assert path.endswith(expected)
    assert info.outputs[1][1] != path


def test_render_order_lists_dependencies_first_once(make_scene: Any) -> None:
    make_scene([
        {"path": "/out/sim", "type": "geometry"},
        {"path": "/out/cache", "type": "geometry", "inputs": ["/out/sim"]},
        {"path": "/out/bypassed", "type": "ifd", "bypassed": True, "inputs": ["/out/sim"]},
        {"path": "/out/fetch_cache", "type": "fetch", "parms": {"source": "/out/cache"}},
        {"path": "/out/merge1", "type": "merge", "inputs": ["/out/fetch_cache", "/out/bypassed"]},
        {"path": "/out/beauty", "type": "ifd", "inputs": ["/out/merge1", "/out/cache"]},
    ])
    order = [i.path for i in graph.render_order(rops.find_rop("/out/beauty"))]
    assert order == ["/out/sim", "/out/cache", "/out/beauty"]


def test_a_merge_requests_the_span_of_its_inputs_and_a_fetch_its_source(make_scene: Any,
                                                                           hou_session: Any) -> None:
    """Merge and Fetch have no range: rendering a Merge renders the span of its inputs' ranges (an input
    that is not Strict renders all of it, as SideFX's Merge help warns); a Fetch renders its source's."""
    make_scene([
        {"path": "/out/a", "type": "ifd", "parms": {"trange": 1, "f1": 1, "f2": 5, "f3": 2}},
        {"path": "/out/b", "type": "karma", "parms": {"trange": 2, "f1": 4, "f2": 8}},
        {"path": "/out/all", "type": "merge", "inputs": ["/out/a", "/out/b"]},
        {"path": "/out/fetch_b", "type": "fetch", "parms": {"source": "/out/b"}},
    ], frame=42)
    assert str(rops.frame_range(rops.find_rop("/out/all"))) == "1-8"
    assert str(rops.frame_range(rops.find_rop("/out/fetch_b"))) == "4-8"
    order = {i.path: str(i.frames) for i in graph.render_order(rops.find_rop("/out/all"))}
    assert order == {"/out/a": "1-8", "/out/b": "4-8"}  # b is Strict: clipped to its own range
    plan = hou_session.hscript("render -p -c -F /out/all")[0]
    listed = [line.split("] ")[1].split(" \t")[0] for line in plan.splitlines()]
    assert listed == [*order, "/out/all"]  # Houdini lists the merge too; it renders nothing itself


def test_sop_rops_and_file_caches_are_single_node_jobs(make_scene: Any) -> None:
    make_scene([
        {"path": "/obj/geo1/rop_geometry1", "type": "rop_geometry", "parms": {"trange": 1, "f1": 1, "f2": 5}},
        {"path": "/obj/geo1/filecache1", "type": "filecache", "parms": {"trange": 1, "f1": 1, "f2": 5}},
        {"path": "/out/mantra1", "type": "ifd"},
        {"path": "/out/abc", "type": "alembic"},
    ])
    sop = rops.read_rop(rops.find_rop("/obj/geo1/rop_geometry1"))
    assert (sop.category, sop.single_node, sop.alf_parm) == ("Sop", True, "alfprogress")
    cache = rops.find_rop("/obj/geo1/filecache1")
    assert cache.path() == "/obj/geo1/filecache1/render"
    assert rops.read_rop(cache).single_node
    assert not rops.read_rop(rops.find_rop("/out/mantra1")).single_node
    assert rops.read_rop(rops.find_rop("/out/abc")).single_node


def test_is_rop_and_find_rop_errors(make_scene: Any, hou_session: Any) -> None:
    make_scene([{"path": "/out/m", "type": "ifd"}, {"path": "/obj/geo1/file1", "type": "file"},
                {"path": "/obj/geo1/fc", "type": "filecache"}])
    assert rops.is_rop(hou_session.node("/out/m"))
    assert rops.is_rop(hou_session.node("/obj/geo1/fc"))
    assert not rops.is_rop(hou_session.node("/obj/geo1/file1"))
    assert not rops.is_rop(hou_session.node("/out"))
    assert not rops.is_rop(None)
    with pytest.raises(NotFound, match="/out/nope"):
        rops.find_rop("/out/nope")
    with pytest.raises(UsageError, match="not a render node"):
        rops.find_rop("/obj/geo1/file1")


def test_base_type_name_strips_namespace_and_version(make_scene: Any, hou_session: Any) -> None:
    make_scene([{"path": "/out/m", "type": "ifd"}])
    node = hou_session.node("/out/m")
    for raw, expected in [("labs::karma::2.0", "karma"), ("karma::1.0", "karma"), ("studio::ifd", "ifd"),
                          ("ifd", "ifd")]:
        node._type._name = raw
        assert rops.base_type_name(node) == expected


def test_scene_info_and_file_references(make_scene: Any, hou_session: Any, tmp_path: Any,
                                       houdini_build: str) -> None:
    hip = make_scene([
        {"path": "/obj/geo1/file1", "type": "file", "parms": {"file": "$JOB/geo/rock.bgeo"}},
        {"path": "/obj/geo1/file2", "type": "file", "parms": {"file": "opdef:/Sop/thing?geo.bgeo"}},
        {"path": "/out/m", "type": "ifd"},
    ], vars={"JOB": "/projects/rock"}, unsaved=True, asset_libraries=["$JOB/otls/rock.hda"])
    info = rops.scene_info()
    assert info.hip_path == str(hip)
    assert info.job_dir == "/projects/rock"
    assert info.houdini_version == houdini_build
    assert info.unsaved and not info.untitled
    refs = dict(rops.file_references())
    assert refs == {"/obj/geo1/file1/file": "/projects/rock/geo/rock.bgeo",  # no ROP outputs, no opdef:
                    "asset library": "/projects/rock/otls/rock.hda"}  # Houdini gives it no parm (None)
