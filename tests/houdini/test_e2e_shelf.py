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


def _submit(lab_farm: EngineFarm, hou_session: Any, node: str,
            call: Callable[[dict[str, Any]], Any]) -> list[str]:
    """One submit from Houdini (the Farmhand ROP's button or the right-click item) on ``node``; its jobs."""
    with lab_farm.lab.inside():
        sent = call({"node": hou_session.node(node)})
        assert sent is not None and sent.thread is not None
        sent.thread.join(60)
    hdefereval.process_events(timeout=5)
    assert sent.error is None and not sent.pending, (sent, hou_session.UI_LOG.messages)
    return list(sent.job_ids)


@pytest.mark.parametrize("houdini_build", LAB_BUILDS[-1:], indirect=True)
def test_usd_on_the_farm_takes_and_wedges_render_on_the_lab(
    engine_farm: Callable[..., EngineFarm],  # noqa: F811 - the engine tests' fixture, imported
    hou_session: Any,
    monkeypatch: pytest.MonkeyPatch,
    farmhand_home: Path,
) -> None:
    """With the built-in presets only: a USD Render ROP's stage written to USD by one farm job
    (hython-usd) and rendered in chunks by husk, its files named by the stage's RenderProduct; a ROP
    rendered in a take (hython-worker --take); a Wedge ROP as one job per wedge (--wedge/--wedge-num),
    each wedge's frames in their own folder."""
    lab_farm = _wired(engine_farm(n=2), monkeypatch, farmhand_home)
    share = lab_farm.share
    rng = {"trange": 1, "f1": 1, "f2": 4}
    hou_session.load_scene(share / "solaris.hip", [
        {"path": "/stage/karmarendersettings1", "type": "karmarendersettings"},
        {"path": "/out/usd1", "type": "usdrender", "parms": rng},  # no Output Image: the stage's product
        {"path": "/out/usd_farm", "type": "farmhand", "inputs": ["/out/usd1"],
         "parms": {"use_rop_range": 1, "usd_mode": "farm"}},
        {"path": "/out/m", "type": "ifd", "parms": {**rng, "vm_picture": "$HIP/main/$OS.$F4.exr"}},
        {"path": "/out/in_take", "type": "farmhand", "inputs": ["/out/m"],
         "parms": {"use_rop_range": 1, "take": "hero"}},
        {"path": "/obj/geo1/box", "type": "file", "parms": {"file": "box.bgeo"}},
        {"path": "/out/w", "type": "ifd",
         "parms": {**rng, "f2": 2, "vm_picture": "$HIP/w$WEDGENUM/$OS.$F4.exr"}},
        {"path": "/out/wedge1", "type": "wedge", "inputs": ["/out/w"],
         "wedges": [[["/obj/geo1/box/file", "a.bgeo"]], [["/obj/geo1/box/file", "b.bgeo"]]]},
    ], takes={"hero": {"/out/m": {"vm_picture": "$HIP/hero/$OS.$F4.exr"}}})

    export, husk = _submit(lab_farm, hou_session, "/out/usd_farm", entry.hda_submit)
    in_take, = _submit(lab_farm, hou_session, "/out/in_take", entry.hda_submit)
    wedges = _submit(lab_farm, hou_session, "/out/wedge1", entry.render_node)
    for job in (export, husk, in_take, *wedges):
        assert_complete(lab_farm, lab_farm.wait(job))
    snap = lab_farm.client.job(husk)
    assert (lab_farm.client.job(export).spec.preset, snap.spec.preset) == ("hython-usd", "husk")
    assert snap.spec.file == str(share / "usd" / "solaris.usd1.usd")
    assert sorted(p.name for p in (share / "render").iterdir()) == [
        f"solaris.karmarendersettings1.{f:04d}.exr" for f in range(1, 5)]
    assert sorted(p.name for p in (share / "hero").iterdir()) == [f"m.{f:04d}.exr" for f in range(1, 5)]
    assert not (share / "main").exists()  # nothing rendered outside the take
    assert len(wedges) == 2
    for n in range(2):
        assert sorted(p.name for p in (share / f"w{n}").iterdir()) == ["w.0001.exr", "w.0002.exr"]


#: A Houdini preset (needs_houdini) that writes, per frame, the HOUDINI_PATHMAP its process was given.
PATHMAP_PROBE = """
description = "writes the HOUDINI_PATHMAP the node's process sees"
needs_houdini = true
argv = ["sh", "-c", 'mkdir -p "$1" && printf %s "$HOUDINI_PATHMAP" > "$1/pathmap.$2.json"', "probe",
        "{folder}", "{frame}"]

[params]
folder = ""
"""


def test_houdini_pathmap_reaches_the_nodes_process(
    engine_farm: Callable[..., EngineFarm],  # noqa: F811 - the engine tests' fixture, imported
    farmhand_home: Path,
) -> None:
    """HOUDINI_PATHMAP, built per node from pathmap.json, arrives intact (quotes, backslashes) in the
    environment of a Houdini preset's process on each real sshd node."""
    lab_farm = engine_farm(n=2)
    share = lab_farm.share
    pathmap_json = {"shares": [str(share)], "rules": [{"from": "P:/proj/", "to": f"{share}/"}],
                    "nodes": {lab_farm.lab.nodes[1].name: [{"from": "Q:\\tex", "to": f"{share}/tex"}]}}
    (farmhand_home / "pathmap.json").write_text(json.dumps(pathmap_json))
    (farmhand_home / "presets").mkdir(exist_ok=True)
    (farmhand_home / "presets" / "pathmap-probe.toml").write_text(PATHMAP_PROBE)
    out = share / "probe"
    job = lab_farm.submit("--preset", "pathmap-probe", "--frames", "1-6",
                          "--output", f"{out}/pathmap.$F.json", "--param", f"folder={out}")
    snap = lab_farm.wait(job)
    assert_complete(lab_farm, snap)
    from farmhand.pathmap import from_dict, houdini_pathmap

    pmap = from_dict(pathmap_json)
    for row in snap.frames:
        assert row.node is not None
        seen = json.loads(Path(row.output or "").read_text())
        assert seen == json.loads(houdini_pathmap(pmap, row.node))
        assert seen["P:/proj/"] == f"{share}/" and seen["P:\\proj\\"] == f"{share}/"
    assert {"Q:/tex/", "Q:\\tex\\"} <= set(json.loads(houdini_pathmap(pmap, lab_farm.lab.nodes[1].name)))
