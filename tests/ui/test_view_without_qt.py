"""The panel's Qt-free half works with no Qt binding at all: imports, conversions, words and summaries.

Run in a subprocess whose import system refuses every Qt binding, so a Qt import slipping into
``farmhand.ui.view`` (or the backends that feed it) fails here, not in Houdini's Python panel.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import farmhand.ui.view

ROOT = Path(__file__).resolve().parents[2]
VIEW = sorted(p.stem for p in Path(farmhand.ui.view.__file__).parent.glob("*.py") if p.stem != "__init__")
#: Outside the view package but Qt-free too: they run in the panel's worker threads.
BACKENDS = ["farmhand.ui.client_backend", "farmhand.ui.registry_nodes", "farmhand.ui.records"]

PROBE = textwrap.dedent("""
    import importlib.abc, sys

    class NoQt(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("PySide2", "PySide6", "shiboken2", "shiboken6", "hou"):
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, NoQt())
    import importlib
    for name in sys.argv[1:]:
        importlib.import_module(name)

    from farmhand.jobs import FrameRow, FrameState, JobSnapshot, JobSpec, JobState, JobSummary
    from farmhand.jobs import NodeActivity, NodeRow
    from farmhand.ui.view import convert, summaries
    summary = JobSummary(id="1", title="<b>x</b>\\x1b[2J", preset="demo", state=JobState.RUNNING, priority=50,
                         created=0.0, frames_total=2, frames_done=1, frames_failed=0, frames_rendering=1)
    snap = JobSnapshot(summary=summary, spec=JobSpec(preset="demo", frames="1-2"),
                       nodes=(NodeRow("n1", NodeActivity.RENDERING, 2, 50.0),),
                       frames=(FrameRow(1, FrameState.DONE, "n1"), FrameRow(2, FrameState.RENDERING, "n1")))
    detail = convert.job_detail(snap)
    html = summaries.summary_html(detail.job)
    assert "&lt;b&gt;x&lt;/b&gt;\\\\x1b[2J" in html, html
    assert not any(m.startswith(("PySide", "shiboken")) for m in sys.modules)
    print("ok")
""")


def _probe(*modules: str) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(ROOT / "python"), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", PROBE, *modules], capture_output=True, text=True,
                          timeout=120, env=env)


def test_view_modules_and_backends_need_no_qt() -> None:
    modules = [f"farmhand.ui.view.{name}" for name in VIEW] + BACKENDS
    assert {"records", "backend", "words", "summaries", "columns", "convert"} <= set(VIEW)
    done = _probe(*modules)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "ok"


def test_the_blocker_would_notice_a_qt_import() -> None:
    done = _probe("farmhand.ui.widgets")
    assert done.returncode != 0 and "is blocked in this test" in done.stderr
