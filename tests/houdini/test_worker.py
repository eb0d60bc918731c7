"""python/farmhand/houdini/worker.py under the fake hython, speaking the protocol of
python/farmhand/presets/worker_protocol.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import fake_hou

from farmhand.presets import worker_protocol

from .conftest import FAKE_HFS

WORKER = Path(__file__).resolve().parents[2] / "python" / "farmhand" / "houdini" / "worker.py"


def run_worker(hip: Path, rop: str, commands: list[str], *extra: str, env: dict[str, str] | None = None,
               hfs: Path = FAKE_HFS) -> tuple[list[dict[str, Any]], subprocess.CompletedProcess[str]]:
    argv = [str(hfs / "bin" / "hython"), str(WORKER), "--hip", str(hip), "--rop", rop, *extra]
    done = subprocess.run(argv,
                          input="".join(commands), capture_output=True, text=True, timeout=60, env=env)
    events = [e for e in map(worker_protocol.parse_event, done.stdout.splitlines()) if e is not None]
    return events, done


def run_builtin(name: str, hip: Path, rop: str, commands: list[str], hfs: Path, *, output: str = "",
                start: float = 1, end: float = 1, **params: str,
                ) -> tuple[list[dict[str, Any]], subprocess.CompletedProcess[str]]:
    """The built-in preset ``name``'s command for one chunk, run here with the fake install ``hfs``: its
    real bash script, the arguments the dispatcher would give and ``commands`` on stdin."""
    from farmhand.presets import CommandContext, load_preset

    ctx = CommandContext(file=str(hip), target=rop, start=start, end=end, output=output or None,
                         hfs=str(hfs), farmhand=str(WORKER.parents[1]), extra=params)
    done = subprocess.run(load_preset(name, search_dirs=[]).command(ctx), input="".join(commands),
                          capture_output=True, text=True, timeout=60, check=False)
    events = [e for e in map(worker_protocol.parse_event, done.stdout.splitlines()) if e is not None]
    return events, done


def test_renders_streamed_frames_and_reports_each(tmp_path: Path, hfs: Path) -> None:
    hip = fake_hou.write_scene(tmp_path / "shot.hip", [
        {"path": "/out/beauty", "type": "ifd", "parms": {"vm_picture": "$HIP/r/$OS.$F4.exr"},
         "failures": [{"kind": "licence", "frames": [3]}, {"kind": "error_after_render", "frames": [4]},
                      {"kind": "missing_file", "frames": [5], "path": "/gone/tex.rat"}]},
    ], load_warnings=["Skipping unrecognized parameter: foo"], load_seconds=0.2)
    commands = [worker_protocol.render_command(f) for f in (1, 2.5, 3, 4, 5)] + ["garbage\n"]
    events, done = run_worker(hip, "/out/beauty", [*commands, worker_protocol.quit_command(),
                                                   worker_protocol.render_command(9)], hfs=hfs)
    assert done.returncode == 0, done.stderr
    kinds = [(e["event"], e.get("frame")) for e in events]
    assert kinds == [("ready", None), ("start", 1), ("done", 1), ("start", 2.5), ("done", 2.5),
                     ("start", 3), ("error", 3), ("start", 4), ("error", 4), ("start", 5), ("error", 5),
                     ("error", None)]  # nothing after quit
    ready = events[0]
    assert ready["rop"] == "/out/beauty" and ready["warnings"] == ["Skipping unrecognized parameter: foo"]
    assert ready["load_seconds"] >= 0.2
    assert events[2]["outputs"] == [str(tmp_path / "r" / "beauty.0001.exr")]
    assert Path(events[2]["outputs"][0]).stat().st_size > 0
    assert (events[6]["kind"], events[8]["kind"], events[10]["kind"]) == ("licence", "render", "missing_file")
    assert "/gone/tex.rat" in events[10]["message"]
    assert "ALF_PROGRESS 100%" in done.stdout  # the ROP's ALF toggle was switched on
    assert all(e["event"] in worker_protocol.EVENTS for e in events)


def test_exits_when_stdin_closes_and_forces_job(tmp_path: Path) -> None:
    hip = fake_hou.write_scene(tmp_path / "shot.hip", [
        {"path": "/out/geo", "type": "geometry", "parms": {"sopoutput": "$JOB/cache/$F4.bgeo"}}],
        vars={"JOB": "/the/artists/machine"})
    job = tmp_path / "nodejob"
    events, done = run_worker(hip, "/out/geo", [worker_protocol.render_command(7)], "--job", str(job))
    assert done.returncode == 0
    assert events[-1]["event"] == "done"
    assert events[-1]["outputs"] == [str(job / "cache" / "0007.bgeo")]
    assert (job / "cache" / "0007.bgeo").exists()


def test_fatal_events_for_missing_scene_rop_and_load_error(tmp_path: Path) -> None:
    events, done = run_worker(tmp_path / "nope.hip", "/out/x", [])
    assert done.returncode == 1 and events == [
        {"event": "fatal", "kind": "missing_file",
         "message": f"Cannot find file {tmp_path}/nope.hip on this node"}]
    hip = fake_hou.write_scene(tmp_path / "s.hip", [{"path": "/out/m", "type": "ifd"}])
    events, done = run_worker(hip, "/out/other", [])
    assert done.returncode == 1 and events[0]["kind"] == "load" and "/out/other" in events[0]["message"]
    bad = fake_hou.write_scene(tmp_path / "b.hip", [],
                               load_error="No licenses could be found to run this application.")
    events, _ = run_worker(bad, "/out/m", [])
    assert events[0]["event"] == "fatal" and events[0]["kind"] == "licence"


def test_file_cache_renders_through_its_inner_rop(tmp_path: Path, hfs: Path) -> None:
    """Found through the file cache SOP (an operator node: ``hou.OpNode`` from 20.0, ``hou.Node`` in 19.5)."""
    hip = fake_hou.write_scene(tmp_path / "c.hip", [
        {"path": "/obj/geo1/cache", "type": "filecache", "parms": {"file": "$HIP/c/$F4.bgeo.sc"}}])
    events, done = run_worker(hip, "/obj/geo1/cache", [worker_protocol.render_command(2)], hfs=hfs)
    assert [e["event"] for e in events] == ["ready", "start", "done"], done.stderr
    assert events[0]["rop"] == "/obj/geo1/cache/render"
    assert json.loads(json.dumps(events[-1]))["outputs"] == [str(tmp_path / "c" / "0002.bgeo.sc")]


def test_worker_knows_every_output_parm_the_glue_knows() -> None:
    """The worker repeats the glue's table (Farmhand is not importable on the node): keep them equal."""
    import ast

    from farmhand.houdini import rops

    tree = ast.parse(WORKER.read_text())
    table = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                 and any(isinstance(t, ast.Name) and t.id == "OUTPUT_PARMS" for t in node.targets))
    worker = ast.literal_eval(table)
    assert worker == {k: v for k, v in rops.OUTPUT_PARMS.items() if k != "filecache"}
    assert ast.literal_eval(next(node.value for node in tree.body if isinstance(node, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == "ALF_PARMS" for t in node.targets))) == tuple(
        dict.fromkeys(rops.ALF_PARMS.values()))


def test_worker_renders_the_frames_it_is_given_not_the_current_frame(make_scene: Any,
                                                                      hou_session: Any) -> None:
    """Like stock hrender.py, the worker puts a ROP on "Render Frame Range" (trange 1) before it passes
    frame_range, so a ROP saved on "Render Current Frame" renders the frames the dispatcher sends."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("farmhand_worker_under_test", WORKER)
    assert spec is not None and spec.loader is not None
    worker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(worker)
    make_scene([{"path": "/out/now", "type": "ifd"},  # trange 0: Render Current Frame
                {"path": "/out/strict", "type": "ifd", "parms": {"trange": 2}},
                {"path": "/out/noparm", "type": "merge"}])
    for path in ("/out/now", "/out/strict"):
        worker.render_given_frames(hou_session.node(path))
        assert hou_session.node(path).parm("trange").evalAsInt() == 1
    worker.render_given_frames(hou_session.node("/out/noparm"))  # no trange: nothing to set, no error
