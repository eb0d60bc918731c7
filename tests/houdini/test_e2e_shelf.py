"""End to end: a fake scene's ROP, sent with the function the shelf calls ("Render on Farm"), rendered on
real sshd lab nodes through the fake Houdini install, every frame verified on the share.

The scene has a SOP geometry cache (fetched into /out) feeding a Mantra render: Farmhand submits the cache
as a single-node whole-range ``hrender`` job and the render as a ``hython-worker`` job queued at the same
time with ``after`` the cache: the dispatcher starts it once the cache is done, with Houdini long gone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import hdefereval
import pytest

from engine.conftest import REPO, EngineFarm, assert_complete, engine_farm  # noqa: F401 (fixture)
from farmhand.houdini import entry, farm, pathmap, sending
from farmhand.jobs import JobState

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def _wired(lab_farm: EngineFarm, monkeypatch: pytest.MonkeyPatch, farmhand_home: Path) -> EngineFarm:
    """The entry points as in a real session (real client, registry and path map) over the lab's share."""
    (farmhand_home / "pathmap.json").write_text(json.dumps({"shares": [str(lab_farm.share)]}))
    monkeypatch.setenv("FARMHAND_NODE_PACKAGE", str(REPO / "python" / "farmhand"))
    monkeypatch.setattr(farm, "sink_factory", sending.ClientSink)
    monkeypatch.setattr(farm, "nodes_provider", farm.registry_nodes)
    monkeypatch.setattr(farm, "pathmap_loader", pathmap.load)
    return lab_farm


#: The builds the lab nodes' inventory lists (tests/engine/conftest.py): a session of another release
#: would rightly be refused by preflight (no node has its Houdini).
LAB_BUILDS = ["20.5.487", "21.0.512"]


@pytest.mark.parametrize("houdini_build", LAB_BUILDS, indirect=True)
def test_shelf_render_on_farm_renders_cache_then_beauty(
    engine_farm: Callable[..., EngineFarm],  # noqa: F811 - the engine tests' fixture, imported
    hou_session: Any,
    monkeypatch: pytest.MonkeyPatch,
    farmhand_home: Path,
    houdini_build: str,
) -> None:
    lab_farm = _wired(engine_farm(n=3), monkeypatch, farmhand_home)
    share = lab_farm.share
    hou_session.load_scene(share / "shot 010 v001.hip", [
        {"path": "/obj/geo1/cache", "type": "rop_geometry", "seconds_per_frame": 0.05,
         "parms": {"trange": 1, "f1": 1, "f2": 6, "sopoutput": "$HIP/geo/$OS.$F4.bgeo.sc"}},
        {"path": "/out/fetch_cache", "type": "fetch", "parms": {"source": "/obj/geo1/cache"}},
        {"path": "/out/beauty", "type": "ifd", "inputs": ["/out/fetch_cache"], "seconds_per_frame": 0.1,
         "parms": {"trange": 1, "f1": 1, "f2": 6, "vm_picture": "$HIP/render/$HIPNAME.$OS.$F4.exr"}},
    ])
    hou_session.select("/out/beauty")

    with lab_farm.lab.inside():  # the dispatcher that Client starts must reach the lab's nodes
        sent = entry.render_on_farm({})
        assert sent is not None and sent.thread is not None
        sent.thread.join(60)
    hdefereval.process_events(timeout=5)
    assert hou_session.UI_LOG.messages == [], hou_session.UI_LOG.messages  # nothing to warn about
    assert sent.error is None and len(sent.job_ids) == 2 and not sent.pending, sent
    first, second = sent.job_ids
    assert hou_session.UI_LOG.status == [
        f"Farmhand: jobs {first}, {second} submitted (each starts when the one before is done)"]
    # Houdini may close now: both jobs are in the store, the render waits in the dispatcher.
    assert lab_farm.client.job(second).spec.after == (first,)

    cache = lab_farm.wait(first)
    assert_complete(lab_farm, cache)
    assert cache.spec.target == "/obj/geo1/cache"
    assert cache.spec.preset == "hrender" and cache.spec.single_node
    assert len({row.node for row in cache.frames}) == 1  # a cache renders in order on one node
    beauty = lab_farm.wait(second)
    started = min(e.time for e in beauty.events if e.kind == "assigned")
    assert started >= max(e.time for e in cache.events if e.kind == "done")
    assert_complete(lab_farm, beauty)
    assert beauty.spec.preset == "hython-worker" and beauty.spec.houdini_version == houdini_build
    assert beauty.state is JobState.DONE
    rendered = sorted(p.name for p in (share / "render").iterdir())
    assert rendered == [f"shot 010 v001.beauty.{f:04d}.exr" for f in range(1, 7)]
    cached = sorted(p.name for p in (share / "geo").iterdir())
    assert cached == [f"cache.{f:04d}.bgeo.sc" for f in range(1, 7)]
    assert all(p.stat().st_size > 0 for p in (share / "render").iterdir())


@pytest.mark.parametrize("houdini_build", LAB_BUILDS[-1:], indirect=True)
def test_panel_submit_on_the_ui_thread_renders_on_the_lab(
    engine_farm: Callable[..., EngineFarm],  # noqa: F811 - the engine tests' fixture, imported
    hou_session: Any,
    monkeypatch: pytest.MonkeyPatch,
    farmhand_home: Path,
) -> None:
    """The panel's Submit runs on Houdini's UI thread: the job is queued, the dispatcher started (so a
    dispatcher that cannot start is reported there), then the frames render on the nodes."""
    from farmhand.houdini import panel
    from farmhand.ui.records import SubmitRequest

    lab_farm = _wired(engine_farm(n=2), monkeypatch, farmhand_home)
    share = lab_farm.share
    hip = hou_session.load_scene(share / "panel.hip", [
        {"path": "/out/karma1", "type": "karma", "seconds_per_frame": 0.05,
         "parms": {"trange": 1, "f1": 1, "f2": 8, "picture": "$HIP/karma/$OS.$F4.exr"}}])
    with lab_farm.lab.inside():
        job_id = panel.submit_handler(SubmitRequest("/out/karma1", str(hip), 1, 8, 1, "hython-worker"))
    snap = lab_farm.wait(job_id)
    assert_complete(lab_farm, snap)
    assert sorted(p.name for p in (share / "karma").iterdir()) == [f"karma1.{f:04d}.exr" for f in range(1, 9)]
