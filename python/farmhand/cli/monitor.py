"""`farmhand monitor`: the Farmhand panel in its own window, for a wrangler without Houdini open.

It is the same widget as Houdini's panel, reading the same job store; closing it never stops a job.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from farmhand.cli import args as types
from farmhand.display import safe_text
from farmhand.errors import UsageError

if TYPE_CHECKING:  # Qt is imported only when the window opens
    from farmhand.ui.panel import FarmhandPanel
    from farmhand.ui.qt import QtWidgets

TABS = ("nodes", "submit", "jobs")
#: Longest --after: a screenshot is for docs and tests, not for watching a farm.
MAX_WAIT = 3600.0


def register(sub: Any) -> None:
    parser = types.command(
        sub, "monitor", "open the Farmhand panel in a window (no Houdini needed)",
        "farmhand monitor", "farmhand monitor --job 7",
        "farmhand monitor --tab nodes --screenshot /tmp/nodes.png --after 3",
        description="Open the Farmhand panel (nodes, submit, jobs) in its own window. Jobs keep running "
                    "when it closes.")
    parser.add_argument("--job", metavar="ID", type=types.job_id, help="select this job")
    parser.add_argument("--tab", choices=TABS, default="jobs", help="tab to show first (default: jobs)")
    parser.add_argument("--screenshot", metavar="PNG", type=Path,
                        help="save a picture of the window after --after seconds, then exit")
    parser.add_argument("--after", metavar="SECONDS", type=types.seconds(MAX_WAIT), default=2.0,
                        help="wait this long before --screenshot (default: 2)")
    parser.set_defaults(func=run)


def _check_display(screenshot: bool) -> None:
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    if screenshot:
        # A picture needs no screen: render offscreen rather than fail.
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return
    raise UsageError("no display to open a window on; run it in a desktop session (or over ssh -X), "
                     "or use 'farmhand status' in a terminal")


def _check_screenshot(target: Path) -> None:
    """Before any window opens: a picture that cannot be written is one line, not a traceback in a Qt
    slot and a window that never closes."""
    if target.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
        raise UsageError(f"--screenshot {target}: give a .png (or .jpg) file name")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--screenshot {target}: cannot create the folder {target.parent} "
                         f"({exc.strerror}); pick a writable folder") from None
    if target.is_dir() or not os.access(target.parent, os.W_OK) or (
            target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"--screenshot {target}: cannot write there; pick a writable file name")


def run(args: argparse.Namespace) -> int:
    if args.screenshot is not None:
        _check_screenshot(args.screenshot)
    _check_display(args.screenshot is not None)
    from farmhand.errors import ConfigError
    from farmhand.ui.panel import create_panel
    from farmhand.ui.qt import QtWidgets, binding_problem, exec_app
    from farmhand.ui.widgets import apply_standalone_look

    problem = binding_problem()
    if problem:
        raise ConfigError(problem)

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(["farmhand monitor"])
    assert isinstance(app, QtWidgets.QApplication)
    apply_standalone_look(app)
    panel = create_panel()
    panel.resize(1100, 760)
    panel.tabs.setCurrentIndex(TABS.index(args.tab))
    if args.job:
        _select_when_listed(panel, str(args.job))
    panel.show()
    if args.screenshot is not None:
        _shoot_after(panel, app, args.screenshot, args.after)
    code = exec_app(app)
    panel.detach()
    if args.screenshot is not None and not Path(args.screenshot).exists():
        raise UsageError(f"could not write the screenshot {args.screenshot}; check the folder exists and is "
                         "writable")
    return code


def _select_when_listed(panel: FarmhandPanel, job_id: str) -> None:
    """Select ``job_id`` once, on the first snapshot that has a queue (the job must be in it)."""
    pending = [True]

    def select(_snapshot: object) -> None:
        if not pending or panel.last_snapshot is None:
            return
        pending.clear()
        if panel.jobs_tab.jobs.row_of(job_id) >= 0:
            panel.jobs_tab.select_job(job_id)
        else:
            panel.show_message(f"no job {safe_text(job_id)} in the queue; see 'farmhand jobs'")

    panel.snapshotApplied.connect(select)


def _shoot_after(panel: FarmhandPanel, app: QtWidgets.QApplication, target: Path, seconds: float) -> None:
    """Save a picture of the panel after ``seconds``, then close it and end the event loop."""
    from farmhand.ui.qt import QtCore

    def shoot() -> None:
        try:
            if not panel.grab().save(str(target)):
                panel.show_message(f"could not write {target}")
        finally:  # whatever happened, the window closes and the command returns
            panel.close()
            app.quit()

    QtCore.QTimer.singleShot(int(seconds * 1000), shoot)
