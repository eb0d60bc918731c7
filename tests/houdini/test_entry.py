"""The functions the shelf, the ROP menu and the Farmhand ROP call, with the fake UI answering."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import hdefereval
import pytest

from farmhand.houdini import entry, hda, interactive, submit
from farmhand.houdini import farm as wiring
from farmhand.houdini.pathmap import PathMap
from farmhand.houdini.preflight import NodeFacts
from farmhand.jobs import ChunkPolicy

from .fakesink import RecordingSink


def _finish(sent: Any) -> None:
    """Let the background submit finish and run its completion on the (test's) main thread."""
    assert sent is not None and sent.thread is not None
    sent.thread.join(5)
    hdefereval.process_events(timeout=2)


TWO_ROPS = [{"path": "/out/mantra1", "type": "ifd"}, {"path": "/out/karma1", "type": "karma"}]


def test_shelf_renders_the_selected_rop_in_the_background(make_scene: Any, hou_session: Any,
                                                          farm: RecordingSink) -> None:
    make_scene(TWO_ROPS)
    hou_session.select("/obj", "/out/karma1")
    sent = entry.render_on_farm({})
    _finish(sent)
    assert [s.target for s in farm.specs] == ["/out/karma1"]
    assert farm.threads == ["farmhand-submit"]  # not the main thread: Houdini never waits on SQLite
    assert hou_session.UI_LOG.status == ["Farmhand: job job1 submitted"]
    assert hou_session.UI_LOG.messages == []


def test_shelf_without_selection_offers_a_picker(make_scene: Any, hou_session: Any,
                                                 farm: RecordingSink) -> None:
    make_scene([*TWO_ROPS, {"path": "/obj/geo1/cache", "type": "filecache"}])
    hou_session.UI_LOG.list_answers.append((2,))
    _finish(entry.render_on_farm({}))
    assert hou_session.UI_LOG.lists[0]["choices"] == ("/out/mantra1", "/out/karma1", "/obj/geo1/cache")
    assert [s.target for s in farm.specs] == ["/obj/geo1/cache/render"]
    hou_session.UI_LOG.list_answers.append(())
    assert entry.render_on_farm({}) is None  # picker cancelled


def test_shelf_on_a_scene_without_rops_says_so(make_scene: Any, hou_session: Any,
                                               farm: RecordingSink) -> None:
    make_scene([{"path": "/obj/geo1/file1", "type": "file"}])
    assert entry.render_on_farm({}) is None
    assert "no ROP" in hou_session.UI_LOG.messages[0]["text"]


@pytest.mark.parametrize(("answer", "expected_name"), [(0, "shot_v003.hip"), (1, "shot_v004.hip")])
def test_unsaved_scene_is_saved_or_versioned_before_submitting(make_scene: Any, hou_session: Any,
                                                               farm: RecordingSink, answer: int,
                                                               expected_name: str) -> None:
    hip = make_scene(TWO_ROPS, name="shot_v003.hip", unsaved=True)
    hou_session.node("/out/mantra1").parm("f2").set(7)  # an edit only this session has
    hou_session.UI_LOG.answers.append(answer)
    _finish(entry.render_node({"node": hou_session.node("/out/mantra1")}))
    dialog = hou_session.UI_LOG.messages[0]
    assert dialog["buttons"][:2] == ("Save and Submit", "Save as New Version and Submit")
    assert "unsaved changes" in dialog["details"]
    saved = hip.with_name(expected_name)
    assert farm.specs[0].file == str(saved)
    on_disk = json.loads(saved.read_text())
    parms = next(n for n in on_disk["nodes"] if n["path"] == "/out/mantra1")["parms"]
    assert parms["f2"] == 7 and on_disk["unsaved"] is False


def test_cancel_and_unfixable_errors_submit_nothing(make_scene: Any, hou_session: Any, farm: RecordingSink,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    make_scene(TWO_ROPS, unsaved=True)
    hou_session.UI_LOG.answers.append(2)
    assert entry.render_node({"node": hou_session.node("/out/mantra1")}) is None
    monkeypatch.setattr(wiring, "nodes_provider", lambda: [])
    hou_session.SESSION.unsaved = False
    assert entry.render_node({"node": hou_session.node("/out/mantra1")}) is None
    assert hou_session.UI_LOG.messages[-1]["buttons"] == ("OK",)
    assert "No enabled, trusted render node" in hou_session.UI_LOG.messages[-1]["details"]
    assert farm.specs == []


def test_warnings_ask_before_submitting(make_scene: Any, hou_session: Any, farm: RecordingSink,
                                        monkeypatch: pytest.MonkeyPatch, houdini_build: str) -> None:
    make_scene(TWO_ROPS)
    other_build = houdini_build.rsplit(".", 1)[0] + ".300"  # same X.Y: a warning, not an error
    monkeypatch.setattr(wiring, "nodes_provider", lambda: [NodeFacts("n1", houdini=(other_build,))])
    hou_session.UI_LOG.answers.extend([1, 0])
    assert entry.render_node({"node": hou_session.node("/out/mantra1")}) is None
    _finish(entry.render_node({"node": hou_session.node("/out/mantra1")}))
    assert [m["buttons"] for m in hou_session.UI_LOG.messages] == [("Submit", "Cancel")] * 2
    assert hou_session.UI_LOG.messages[0]["text"].startswith("Farmhand will render /out/mantra1 (1 frame) ")
    assert len(farm.specs) == 1


def test_render_frames_variant_asks_for_frames(make_scene: Any, hou_session: Any,
                                               farm: RecordingSink) -> None:
    make_scene(TWO_ROPS)
    hou_session.UI_LOG.inputs.append((0, "1-3, 10"))
    _finish(entry.render_node_frames({"node": hou_session.node("/out/mantra1")}))
    assert farm.specs[0].frames == "1-3,10"
    hou_session.UI_LOG.inputs.append((0, "10-1"))
    assert entry.render_node_frames({"node": hou_session.node("/out/mantra1")}) is None
    assert "backwards" in hou_session.UI_LOG.messages[-1]["text"]  # one clear line, no traceback


class _Broken:
    def type(self) -> Any:
        raise RuntimeError("node was deleted")


def test_menu_context_is_true_for_rops_only_and_never_raises(make_scene: Any, hou_session: Any) -> None:
    make_scene([*TWO_ROPS, {"path": "/obj/geo1/file1", "type": "file"}])
    assert entry.menu_context({"node": hou_session.node("/out/mantra1")}) is True
    assert entry.menu_context({"node": hou_session.node("/obj/geo1/file1")}) is False
    assert entry.menu_context({"node": hou_session.node("/out")}) is False
    assert entry.menu_context(None) is False
    assert entry.menu_context({"node": _Broken()}) is False


def test_without_ui_submit_is_synchronous_and_refuses_errors(make_scene: Any, hou_session: Any,
                                                             farm: RecordingSink,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    make_scene(TWO_ROPS)
    monkeypatch.setenv("FAKE_HOUDINI_HYTHON", "1")
    assert hou_session.hipFile.hasUnsavedChanges()  # hython always says so; Farmhand must not believe it
    sent = interactive.submit_interactive("/out/mantra1")
    assert sent is not None and sent.job_ids == ["job1"]
    monkeypatch.setattr(wiring, "nodes_provider", lambda: [])
    assert entry.render_node({"node": hou_session.node("/out/mantra1")}) is None  # logged, not raised
    assert len(farm.specs) == 1


def test_farmhand_rop_submits_its_inputs_with_its_settings(make_scene: Any, hou_session: Any,
                                                           farm: RecordingSink) -> None:
    make_scene([*TWO_ROPS, {"path": "/out/farm", "type": "farmhand",
                            "inputs": ["/out/karma1", "/out/mantra1"],
                            "parms": {"trange": 1, "f1": 2, "f2": 6, "f3": 2, "priority": 90,
                                      "chunk_policy": "fixed", "chunk_size": 3, "nodes": "n1",
                                      "preset": "hrender", "job_name": "lookdev"}}])
    sent = entry.hda_submit({"node": hou_session.node("/out/farm")})
    _finish(sent)
    hdefereval.process_events(timeout=1)
    assert sorted(s.target for s in farm.specs) == ["/out/karma1", "/out/mantra1"]
    spec = farm.specs[0]
    assert (spec.frames, spec.priority, spec.chunk, spec.nodes, spec.preset, spec.name) == (
        "2-6x2", 90, ChunkPolicy.fixed(3), ("n1",), "hrender", "lookdev")
    options = hda.options_from_node(hou_session.node("/out/farm"))
    assert options.single_node is None
    hou_session.node("/out/farm").parm("use_rop_range").set(1)
    assert hda.options_from_node(hou_session.node("/out/farm")).frames is None


def test_farmhand_rop_renders_a_cache_its_inputs_share_once(make_scene: Any, hou_session: Any,
                                                            farm: RecordingSink) -> None:
    """Two renders wired into the Farmhand ROP read one cache: one submit, one chain, the cache once
    (two jobs writing the same cache files at the same time would corrupt them)."""
    def rng(first: int, last: int) -> dict[str, int]:
        return {"trange": 1, "f1": first, "f2": last}

    make_scene([
        {"path": "/out/cache", "type": "geometry", "parms": rng(1, 4)},
        {"path": "/out/beauty", "type": "ifd", "inputs": ["/out/cache"], "parms": rng(1, 4)},
        {"path": "/out/mask", "type": "karma", "inputs": ["/out/cache"], "parms": rng(3, 6)},
        {"path": "/out/farm", "type": "farmhand", "inputs": ["/out/beauty", "/out/mask"],
         "parms": {"use_rop_range": 1}}])
    _finish(entry.hda_submit({"node": hou_session.node("/out/farm")}))
    assert [(s.target, s.frames, s.after) for s in farm.specs] == [
        ("/out/cache", "1-6", ()), ("/out/beauty", "1-4", ("job1",)), ("/out/mask", "3-6", ("job2",))]
    assert hou_session.UI_LOG.status == [
        "Farmhand: jobs job1, job2, job3 submitted (each starts when the one before is done)"]


def test_right_click_or_shelf_on_the_farmhand_rop_submits_its_inputs(make_scene: Any, hou_session: Any,
                                                                     farm: RecordingSink) -> None:
    """The Farmhand ROP renders nothing itself: sent from the menu or the shelf it acts as its Submit
    button, and wired downstream of a ROP it only routes (never a job that renders it)."""
    make_scene([*TWO_ROPS, {"path": "/out/farm", "type": "farmhand", "inputs": ["/out/mantra1"],
                            "parms": {"trange": 1, "f1": 1, "f2": 3, "priority": 90}},
                {"path": "/out/after", "type": "ifd", "inputs": ["/out/farm"],
                 "parms": {"trange": 1, "f1": 1, "f2": 3}}])
    _finish(entry.render_node({"node": hou_session.node("/out/farm")}))
    assert [(s.target, s.frames, s.priority) for s in farm.specs] == [("/out/mantra1", "1-3", 90)]
    hou_session.select("/out/farm")
    _finish(entry.render_on_farm({}))
    assert [s.target for s in farm.specs[1:]] == ["/out/mantra1"]
    _finish(entry.render_node({"node": hou_session.node("/out/after")}))
    assert [s.target for s in farm.specs[2:]] == ["/out/mantra1", "/out/after"]


def test_farmhand_rop_without_inputs_says_what_to_do(make_scene: Any, hou_session: Any,
                                                     farm: RecordingSink) -> None:
    make_scene([{"path": "/out/farm", "type": "farmhand"}])
    assert entry.hda_submit({"node": hou_session.node("/out/farm")}) is None
    assert "connect the ROPs" in hou_session.UI_LOG.messages[0]["text"]


def test_background_work_never_touches_hou(make_scene: Any, hou_session: Any, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch, houdini_build: str) -> None:
    """The fake hou refuses calls from other threads; a sink that reads hou shows the failure path."""
    make_scene(TWO_ROPS)

    class Peeking(RecordingSink):
        def submit(self, spec: Any) -> str:
            hou_session.hipFile.path()
            return super().submit(spec)

    monkeypatch.setattr(wiring, "sink_factory", Peeking)
    monkeypatch.setattr(wiring, "nodes_provider", lambda: [NodeFacts("n1", houdini=(houdini_build,))])
    monkeypatch.setattr(wiring, "pathmap_loader", lambda: PathMap(shares=(str(tmp_path),)))
    sent = entry.render_node({"node": hou_session.node("/out/mantra1")})
    _finish(sent)
    assert sent is not None and "not the main thread" in (sent.error or "")
    assert "could not submit" in hou_session.UI_LOG.messages[-1]["text"]
    assert submit.WORKER_PRESET == "hython-worker"


def test_a_failed_save_is_one_message(make_scene: Any, hou_session: Any, farm: RecordingSink) -> None:
    hip = make_scene(TWO_ROPS, unsaved=True)
    hip.parent.chmod(0o500)
    hip.chmod(0o400)
    try:
        hou_session.UI_LOG.answers.append(0)
        if os.access(hip, os.W_OK):  # root writes anyway: make the save fail the way a full disk does
            hou_session.SESSION.hip_path = str(hip.parent / "missing-dir" / "x.hip")
        assert entry.render_node({"node": hou_session.node("/out/mantra1")}) is None
    finally:
        hip.parent.chmod(0o700)
    assert "could not save" in hou_session.UI_LOG.messages[-1]["text"]
    assert farm.specs == []


def test_plan_matches_houdinis_render_plan(make_scene: Any, hou_session: Any) -> None:
    """The glue's dependency order equals ``render -p -c -F`` (as the fake models it)."""
    from farmhand.houdini import graph, rops

    make_scene([
        {"path": "/out/sim", "type": "geometry"},
        {"path": "/out/a", "type": "geometry", "inputs": ["/out/sim"]},
        {"path": "/out/b", "type": "geometry", "inputs": ["/out/sim"]},
        {"path": "/out/beauty", "type": "ifd", "inputs": ["/out/a", "/out/b"]},
    ])
    plan_text = hou_session.hscript("render -p -c -F /out/beauty")[0]
    from_houdini = [line.split("] ")[1].split(" \t")[0] for line in plan_text.splitlines()]
    assert [i.path for i in graph.render_order(rops.find_rop("/out/beauty"))] == from_houdini
