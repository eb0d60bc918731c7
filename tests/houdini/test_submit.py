"""From a ROP to job specs, and handing ordered jobs over (fake hou, recording sink)."""

from __future__ import annotations

import threading
from typing import Any

import fake_hou
import pytest

from farmhand.errors import UsageError
from farmhand.frames import expand_output
from farmhand.houdini import sending, submit
from farmhand.houdini.pathmap import PathMap, PathRule
from farmhand.houdini.preflight import NodeFacts
from farmhand.houdini.submit import SubmitOptions
from farmhand.jobs import ChunkPolicy

from .fakesink import RecordingSink

NODES = [NodeFacts("n1", houdini=fake_hou.BUILDS)]


def _pmap(tmp_path: Any) -> PathMap:
    return PathMap(shares=(str(tmp_path / "share"),))


def test_plan_builds_ordered_jobs_cache_before_render(make_scene: Any, tmp_path: Any,
                                                      houdini_build: str) -> None:
    hip = make_scene([
        {"path": "/obj/geo1/cache", "type": "rop_geometry", "parms": {"trange": 1, "f1": 1, "f2": 10}},
        {"path": "/out/beauty", "type": "ifd", "inputs": ["/obj/geo1/cache"],
         "parms": {"trange": 1, "f1": 1, "f2": 10, "f3": 2, "vm_picture": "$HIP/render/$OS.$F4.exr"}},
    ])
    plan = submit.plan("/out/beauty", SubmitOptions(priority=70), NODES, _pmap(tmp_path))
    assert not plan.blocked, plan.findings
    cache, beauty = plan.specs
    assert cache.target == "/obj/geo1/cache"
    # the cache renders the frames the render requests (its own 1-10 range is not strict)
    assert cache.preset == submit.HRENDER_PRESET and cache.single_node and cache.frames == "1-9x2"
    assert cache.alf_scope == "range"
    assert beauty.preset == submit.WORKER_PRESET and not beauty.single_node
    assert beauty.frames == "1-9x2"
    assert beauty.output == str(hip.parent / "render" / "beauty.$F4.exr")
    assert beauty.file == str(hip)
    assert beauty.houdini_version == houdini_build
    assert beauty.priority == 70 and beauty.alf_scope == "frame"
    for frame, path in plan.rops[1].outputs:
        assert expand_output(beauty.output, frame) == path


def test_worker_job_carries_the_scenes_job_and_hrender_jobs_do_not(make_scene: Any, tmp_path: Any) -> None:
    make_scene([
        {"path": "/obj/geo1/cache", "type": "rop_geometry", "parms": {"trange": 1, "f1": 1, "f2": 4}},
        {"path": "/out/beauty", "type": "ifd", "inputs": ["/obj/geo1/cache"], "parms": {"trange": 1}},
    ], vars={"JOB": "/share/proj"})
    cache, beauty = submit.plan("/out/beauty", SubmitOptions(), NODES, _pmap(tmp_path)).specs
    assert beauty.preset == submit.WORKER_PRESET and beauty.params == (("job", "/share/proj"),)
    assert cache.preset == submit.HRENDER_PRESET and cache.params == ()  # hrender takes no $JOB
    from farmhand.client import prepare

    prepare(beauty)  # the preset accepts it: no "unknown parameter" at submit
    from farmhand.presets import CommandContext, load_preset

    argv = load_preset("hython-worker").command(CommandContext(
        file="/share/a.hip", target="/out/beauty", hfs="/opt/hfs", farmhand="/s", extra=dict(beauty.params)))
    assert argv[-1] == "--job=/share/proj"


def test_dependencies_render_the_frames_their_output_requests(make_scene: Any, tmp_path: Any) -> None:
    """Houdini ignores an input's own range unless it is Strict (trange 2): then it clips the request."""
    make_scene([
        {"path": "/out/cache", "type": "geometry", "parms": {"trange": 1, "f1": 1, "f2": 100}},
        {"path": "/out/loop", "type": "geometry", "parms": {"trange": 2, "f1": 1, "f2": 6}},
        {"path": "/out/beauty", "type": "ifd", "inputs": ["/out/cache", "/out/loop"]},
    ])
    options = SubmitOptions(frames="5-7", preset="hython-worker", chunk=ChunkPolicy.fixed(2))
    plan = submit.plan("/out/beauty", options, NODES, _pmap(tmp_path))
    assert [(s.target, s.frames) for s in plan.specs] == [
        ("/out/cache", "5-7"), ("/out/loop", "5-6"), ("/out/beauty", "5-7")]
    assert {s.preset for s in plan.specs} == {"hython-worker"}
    assert {s.chunk for s in plan.specs} == {ChunkPolicy.fixed(2)}
    only = submit.plan("/out/beauty", SubmitOptions(dependencies=False), NODES, _pmap(tmp_path))
    assert [s.target for s in only.specs] == ["/out/beauty"]


def test_inputs_of_an_hrender_job_are_not_sent_again(make_scene: Any, hou_session: Any,
                                                     tmp_path: Any) -> None:
    """Stock hrender renders a ROP's inputs itself (render() without ignore_inputs): sending them as jobs
    too would render them twice. Here an Alembic export (single node, hrender) reads a geometry cache."""
    rng = {"trange": 1, "f1": 1, "f2": 4}
    make_scene([
        {"path": "/out/cache", "type": "geometry", "parms": rng},
        {"path": "/out/abc", "type": "alembic", "inputs": ["/out/cache"], "parms": rng},
        {"path": "/out/beauty", "type": "ifd", "inputs": ["/out/abc"], "parms": rng},
    ])
    plan = submit.plan("/out/beauty", SubmitOptions(), NODES, _pmap(tmp_path))
    assert [(s.target, s.preset) for s in plan.specs] == [
        ("/out/abc", "hrender"), ("/out/beauty", "hython-worker")]
    assert [i.path for i in plan.rops] == ["/out/abc", "/out/beauty"]
    note = next(f for f in plan.findings if f.code == "hrender_inputs")
    assert "/out/abc renders with hrender, which also renders its inputs (/out/cache)" in note.message
    assert "take" not in note.message
    # hrender -t sets only the take of the ROP it renders: the note says the inputs keep their own.
    in_take = submit.plan("/out/beauty", SubmitOptions(take="Main"), NODES, _pmap(tmp_path))
    note = next(f for f in in_take.findings if f.code == "hrender_inputs")
    assert "they render in their own takes, not 'Main'" in note.message
    # What the node really does: the abc job's render writes the cache as well (fake hrender = stock).
    hou_session.node("/out/abc").render(frame_range=(1, 4, 1))
    assert sorted(p.name for p in (tmp_path / "share" / "geo").iterdir())[:1] == ["shot.cache.0001.bgeo.sc"]


def test_outputs_that_vary_by_more_than_the_frame_are_not_verified(make_scene: Any, tmp_path: Any) -> None:
    make_scene([{"path": "/out/m", "type": "ifd",
                 "parms": {"trange": 1, "f1": 1, "f2": 3, "vm_picture": "$HIP/r/$F/$F4.exr"}}])
    plan = submit.plan("/out/m", SubmitOptions(), NODES, _pmap(tmp_path))
    assert plan.specs[0].output is None
    assert "outputs_unverifiable" in {f.code for f in plan.findings}


def test_single_file_outputs_check_that_file(make_scene: Any, tmp_path: Any) -> None:
    hip = make_scene([{"path": "/out/abc", "type": "alembic", "parms": {"trange": 1, "f1": 1, "f2": 3}}])
    spec = submit.plan("/out/abc", SubmitOptions(), NODES, _pmap(tmp_path)).specs[0]
    assert spec.output == str(hip.parent / "abc.abc") and spec.single_node


def test_hip_path_is_sent_as_the_submitter_names_it(make_scene: Any, tmp_path: Any) -> None:
    # The dispatcher maps it per node (tests/engine/test_pathmap_dispatch.py); mapping here as well
    # would apply the general rules twice and the per-node ones never.
    hip = make_scene([{"path": "/out/m", "type": "ifd"}])
    share = str(tmp_path / "share")
    pmap = PathMap(shares=(share,), rules=(PathRule(share, "/mnt/share"),))
    spec = submit.plan("/out/m", SubmitOptions(), NODES, pmap).specs[0]
    assert spec.file == str(hip)


def test_send_queues_every_job_at_once_each_after_the_previous(make_scene: Any, tmp_path: Any) -> None:
    make_scene([
        {"path": "/out/a", "type": "geometry"},
        {"path": "/out/b", "type": "geometry", "inputs": ["/out/a"]},
        {"path": "/out/c", "type": "ifd", "inputs": ["/out/b"]},
    ])
    specs = submit.plan("/out/c", SubmitOptions(), NODES, _pmap(tmp_path)).specs
    sink = RecordingSink()
    updates: list[list[str]] = []
    sent = sending.send(specs, sink, on_update=lambda s: updates.append(list(s.job_ids)))
    # Nothing is left to Houdini: every job is queued before send returns, ordered by `after`.
    assert [s.target for s in sink.specs] == ["/out/a", "/out/b", "/out/c"]
    assert [s.after for s in sink.specs] == [(), ("job1",), ("job2",)]
    assert sent.job_ids == ["job1", "job2", "job3"] and sent.pending == [] and sent.error is None
    assert updates[-1] == ["job1", "job2", "job3"]
    assert sink.threads == [threading.current_thread().name] * 3
    with pytest.raises(UsageError):
        sending.send([], sink)


def test_refuse_raises_one_line_with_every_error(make_scene: Any, tmp_path: Any) -> None:
    make_scene([{"path": "/out/m", "type": "ifd"}], unsaved=True)
    plan = submit.plan("/out/m", SubmitOptions(), [], _pmap(tmp_path))
    with pytest.raises(Exception, match=r"unsaved changes.*No enabled"):
        submit.refuse(plan)
