"""`farmhand monitor`: the same panel in its own window, started as a user would start it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.ui


def run_monitor(args: list[str], env: dict[str, str], *global_args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "farmhand", *global_args, "monitor", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_monitor_opens_the_panel_and_saves_a_picture(tmp_path: Path, farmhand_home: Path) -> None:
    from farmhand.client import Client
    from farmhand.jobs import JobSpec

    client = Client(autostart=False)
    job_id = client.submit(JobSpec(preset="hrender", frames="1-48", file="/share/a.hip",
                                   target="/out/karma1"))
    client.close()
    picture = tmp_path / "monitor.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = run_monitor(["--job", job_id, "--screenshot", str(picture), "--after", "1.5"], env)
    assert proc.returncode == 0, proc.stderr
    assert picture.stat().st_size > 10_000

    from farmhand.ui.qt import QtGui

    image = QtGui.QImage(str(picture))
    assert (image.width(), image.height()) == (1100, 760)


def test_no_display_is_one_line(farmhand_home: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = run_monitor([], env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "farmhand: no display to open a window on; run it in a desktop session (or over ssh -X), "
        "or use 'farmhand status' in a terminal"]


def test_an_unknown_job_is_said_in_the_window(tmp_path: Path, farmhand_home: Path) -> None:
    picture = tmp_path / "monitor.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = run_monitor(["--job", "4242", "--screenshot", str(picture), "--after", "1"], env, "-v")
    assert proc.returncode == 0, proc.stderr
    # The status line's messages are logged too (shown with -v).
    assert "no job 4242 in the queue; see 'farmhand jobs'" in proc.stderr


@pytest.mark.parametrize(("target", "says"), [
    ("/proc/farmhand-none/monitor.png", "cannot create the folder /proc/farmhand-none"),  # even for root
    ("{tmp}/monitor.txt", "give a .png (or .jpg) file name"),
    ("{tmp}", "give a .png (or .jpg) file name"),
])
def test_an_unwritable_screenshot_is_one_line(tmp_path: Path, farmhand_home: Path, target: str,
                                              says: str) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    # Before any window opens: it used to raise inside the timer's slot and leave the window open.
    proc = run_monitor(["--screenshot", target.format(tmp=tmp_path), "--after", "0.2"], env)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("farmhand: --screenshot ") and says in line
