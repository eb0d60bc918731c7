"""What the panel gets from Houdini (SubmitContext, findings with fixes) and what its Submit does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from farmhand.errors import JobError
from farmhand.houdini import panel
from farmhand.jobs import ChunkPolicy as JobChunks
from farmhand.ui.records import ChunkPolicy, Severity, SubmitRequest

from .fakesink import RecordingSink

ROOT = Path(__file__).resolve().parents[2]


def test_context_for_the_selected_rop(make_scene: Any, hou_session: Any, farm: RecordingSink,
                                      houdini_build: str) -> None:
    hip = make_scene([{"path": "/out/m", "type": "ifd", "parms": {"trange": 1, "f1": 10, "f2": 20, "f3": 2}}],
                     unsaved=True)
    hou_session.select("/out/m")
    context = panel.current_context()
    frames = (context.frame_start, context.frame_end, context.frame_step)
    assert context.rop_path == "/out/m" and frames == (10, 20, 2)
    assert context.hip_path == str(hip) and context.houdini_version == houdini_build
    assert context.preset == "hython-worker" and "hrender" in context.presets
    unsaved = next(f for f in context.findings if "unsaved" in f.message)
    assert unsaved.severity is Severity.ERROR and unsaved.fix_label == "Save"
    assert unsaved.fix is not None
    unsaved.fix()
    assert not hou_session.hipFile.hasUnsavedChanges()
    assert not [f for f in panel.current_context().findings if f.severity is Severity.ERROR]


def test_context_without_selection_and_with_a_bad_rop(make_scene: Any, hou_session: Any,
                                                      farm: RecordingSink) -> None:
    make_scene([{"path": "/out/m", "type": "ifd", "parms": {"trange": 1, "f1": 9, "f2": 1}}])
    assert panel.current_context().rop_path == ""
    bad = panel.submit_context("/out/m")
    assert bad.findings[0].severity is Severity.ERROR and "ends before it starts" in bad.findings[0].message


def test_context_for_a_merge_or_a_bypassed_rop(make_scene: Any, hou_session: Any,
                                               farm: RecordingSink) -> None:
    """A Merge (or a bypassed ROP) renders only its inputs: the Submit tab shows the last of them."""
    rng = {"trange": 1, "f1": 1, "f2": 5}
    make_scene([{"path": "/out/a", "type": "ifd", "parms": rng},
                {"path": "/out/b", "type": "karma", "parms": {"trange": 1, "f1": 3, "f2": 8}},
                {"path": "/out/all", "type": "merge", "inputs": ["/out/a", "/out/b"]},
                {"path": "/out/off", "type": "ifd", "inputs": ["/out/a"], "parms": rng, "bypassed": True}])
    merged = panel.submit_context("/out/all")
    assert merged.rop_path == "/out/all" and merged.job_name.endswith("/out/b")
    assert not [f for f in merged.findings if f.severity is Severity.ERROR]
    bypassed = panel.submit_context("/out/off")
    assert bypassed.rop_path == "/out/off" and (bypassed.frame_start, bypassed.frame_end) == (1, 5)


def test_submit_request_becomes_jobs(make_scene: Any, hou_session: Any, farm: RecordingSink) -> None:
    hip = make_scene([{"path": "/out/m", "type": "ifd"}])
    request = SubmitRequest(rop_path="/out/m", hip_path=str(hip), frame_start=1, frame_end=9, frame_step=2,
                            preset="hrender", chunk_policy=ChunkPolicy.FIXED, chunk_size=3, nodes=("n1",),
                            priority=80, single_node=False, job_name="lookdev")
    assert panel.submit_handler(request) == "job1"
    spec = farm.specs[0]
    assert (spec.frames, spec.preset, spec.chunk, spec.nodes, spec.priority, spec.name) == (
        "1-9x2", "hrender", JobChunks.fixed(3), ("n1",), 80, "lookdev")
    plain = SubmitRequest("/out/m", str(hip), 1, 1, 1, "", ChunkPolicy.ADAPTIVE)
    adaptive = panel.options_from_request(plain)
    assert adaptive.chunk == JobChunks() and adaptive.preset is None
    hou_session.SESSION.unsaved = True
    with pytest.raises(JobError, match="unsaved changes"):
        panel.submit_handler(request)


def test_hou_free_modules_import_without_hou() -> None:
    code = ("import sys; import farmhand.houdini.pathmap, farmhand.houdini.preflight, farmhand.houdini.farm; "
            "assert 'hou' not in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT / "python"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
