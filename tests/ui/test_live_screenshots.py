"""Screenshots of every tab while a real job renders on the lab's sshd nodes.

The dispatcher is the real one (started by the client, inside the lab's network namespace), the nodes
are real OpenSSH servers running Farmhand's stand-in renderer, and the panel reads the real job store
and registry. One node fails a frame out of memory so the failure-in-words path is on the pictures.
The PNGs land in ``artifacts/screenshots/<binding>/`` for people to look at.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from farmhand.client import Client, default_submitter
from farmhand.jobs import JobSpec, NodeActivity
from farmhand.lab import LocalFarm
from farmhand.nodes.registry import NodeState, Registry
from farmhand.ui.client_backend import ClientBackend
from farmhand.ui.panel import FarmhandPanel
from farmhand.ui.qt import BINDING, QtWidgets
from farmhand.ui.registry_nodes import RegistryNodes
from farmhand.ui.view.records import FrameStatus, NodeStatus, PreflightFinding, Severity, SubmitContext
from farmhand.ui.widgets import apply_standalone_look

pytestmark = [pytest.mark.ui, pytest.mark.lab, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def _submit(client: Client, share: Path) -> str:
    spec = JobSpec(
        preset="demo", frames="1001-1400", output=str(share / "shot010_beauty.$F4.png"),
        name="shot010_beauty", priority=60, submitter=default_submitter(),
        params=(("seconds_per_frame", "0.6"), ("fail_at", "1013"), ("fail_mode", "oom")),
    )
    return client.submit(spec)


def _rendering_well(panel: FarmhandPanel, job_id: str) -> bool:
    detail = panel.last_snapshot.detail if panel.last_snapshot else None
    if detail is None or detail.job.job_id != job_id:
        return False
    counts = {s: sum(f.status is s for f in detail.frames) for s in FrameStatus}
    busy = [n for n in detail.nodes if n.state is NodeActivity.RENDERING and n.frame_percent is not None]
    return counts[FrameStatus.DONE] >= 40 and len(busy) >= 2 and (
        counts[FrameStatus.FAILED] + counts[FrameStatus.RETRYING] > 0 or any(f.error for f in detail.frames))


def _check_nodes(panel: FarmhandPanel, lab: LocalFarm, job_id: str) -> None:
    # One node selected: the line under the table shows it in full (address, OS, MACs, its note).
    blocked = [n.host for n in panel.nodes_tab.model.records() if n.status is NodeStatus.BLOCKLISTED]
    panel.nodes_tab.select_hosts((blocked or [lab.nodes[0].name])[:1])
    assert " · MAC" in panel.nodes_tab.details.text()
    selected = panel.jobs_tab.selected_job()
    assert selected is not None and selected.job_id == job_id
    snap = panel.last_snapshot
    assert snap is not None and snap.detail is not None
    # Every frame 1013 attempt dies, so a node may be blocklisted for the job by now.
    assert {n.status for n in snap.nodes} <= {NodeStatus.RENDERING, NodeStatus.IDLE, NodeStatus.BLOCKLISTED}
    # Failures read as words, not exit codes.
    assert any("out of memory" in f.error for f in snap.detail.frames if f.error)


def _houdini_context(panel: FarmhandPanel, share: Path) -> None:
    """What farmhand.houdini injects for a selected ROP (there is no Houdini here)."""
    saved: list[bool] = []
    panel.submit_tab.set_context(SubmitContext(
        rop_path="/out/karma_beauty", frame_start=1001, frame_end=1400, frame_step=1,
        hip_path=str(share / "shot010_lighting_v012.hip"), houdini_version="21.0.512",
        presets=("hython-worker", "hrender", "husk"), preset="hython-worker", job_name="shot010_beauty",
        findings=(PreflightFinding(Severity.WARNING, "The scene has unsaved changes; the farm renders "
                                   "the saved file", "Save", lambda: saved.append(True)),
                  PreflightFinding(Severity.INFO, "Output $HIP/render/beauty.$F4.exr is on the share"))))


def _save_tabs(qtbot, panel: FarmhandPanel) -> Path:
    tab = panel.jobs_tab
    tab.grid.select_frame(1013.0)
    tab._show_log(None, 1013.0)
    qtbot.waitUntil(lambda: "1013" in tab.log_view.toPlainText(), timeout=10_000)
    # The last finished frame's preview, made by the dispatcher, is on the picture.
    qtbot.waitUntil(lambda: tab.preview.shown_path != "", timeout=10_000)
    out = ARTIFACTS / BINDING
    out.mkdir(parents=True, exist_ok=True)
    for name, widget in (("nodes", panel.nodes_tab), ("submit", panel.submit_tab), ("jobs", tab)):
        panel.tabs.setCurrentWidget(widget)
        qtbot.wait(300)
        path = out / f"{name}.png"
        assert panel.grab().save(str(path)), path
        assert path.stat().st_size > 20_000
    return out


def _reattach(qtbot, client: Client, job_id: str) -> None:
    """Houdini reopened: a new panel finds the job still running and sees it progress."""
    done_at_close = client.job(job_id).summary.frames_done
    time.sleep(1.5)
    assert not client.job(job_id).state.finished
    again = FarmhandPanel(ClientBackend(nodes=RegistryNodes(share="")), poll_seconds=0.2)
    qtbot.addWidget(again)
    again.show()
    qtbot.waitUntil(lambda: again.jobs_tab.grid.frames() != (), timeout=10_000)
    selected = again.jobs_tab.selected_job()
    assert selected is not None and selected.job_id == job_id and selected.frames_done > done_at_close
    again.detach()


def test_screenshots_of_a_live_job(qtbot, trusted_lab, in_lab, tmp_path: Path) -> None:
    registry = Registry()
    for node in in_lab.nodes:
        registry.add(node.name, state=NodeState.TRUSTED)
    client = Client()
    share = tmp_path / "share"
    share.mkdir()
    job_id = _submit(client, share)
    app = QtWidgets.QApplication.instance()
    assert isinstance(app, QtWidgets.QApplication)
    old_style, old_palette = app.style().objectName(), app.palette()
    apply_standalone_look(app)
    panel = FarmhandPanel(ClientBackend(nodes=RegistryNodes(share="")), poll_seconds=0.2)
    qtbot.addWidget(panel)
    try:
        panel.resize(1100, 760)
        panel.show()
        qtbot.waitExposed(panel)
        qtbot.waitUntil(lambda: panel.nodes_tab.model.rowCount() == len(in_lab.nodes), timeout=10_000)
        # The panel's own Probe button, run in worker threads, over real SSH.
        panel.nodes_tab.select_hosts([node.name for node in in_lab.nodes])
        panel.nodes_tab.probe_button.click()
        qtbot.waitUntil(lambda: _rendering_well(panel, job_id), timeout=90_000)
        qtbot.waitUntil(lambda: all(n.cores for n in panel.nodes_tab.model.records()), timeout=30_000)
        _check_nodes(panel, in_lab, job_id)
        _houdini_context(panel, share)
        out = _save_tabs(qtbot, panel)
        # Closing the panel leaves the job running in the dispatcher.
        panel.close()
        _reattach(qtbot, client, job_id)
    finally:
        panel.detach()
        app.setStyle(old_style or "Fusion")
        app.setPalette(old_palette)
        client.cancel(job_id)
        client.stop_dispatcher()
        client.close()
    assert os.path.isdir(out)
