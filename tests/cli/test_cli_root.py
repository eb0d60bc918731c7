"""The CLI root: one-line errors and option values that look like options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from farmhand.cli import _join_dash_values, main


def test_negative_frame_spec_is_kept_as_the_value_of_frames() -> None:
    assert _join_dash_values(["submit", "--frames", "-10--1", "--json"]) == [
        "submit", "--frames=-10--1", "--json",
    ]
    assert _join_dash_values(["submit", "--frames", "1-10"]) == ["submit", "--frames", "1-10"]
    # a trailing --frames with no value is left for argparse to report
    assert _join_dash_values(["submit", "--frames"]) == ["submit", "--frames"]


def test_backwards_negative_range_gets_one_clear_line(
    capsys: pytest.CaptureFixture[str], tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FARMHAND_HOME", str(tmp_path))
    rc = main(["submit", "--preset", "demo", "--frames", "-1--10"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("farmhand: ") and "backwards" in err[0]


def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    # `farmhand scan ... --json | head -1`: the reader goes away mid-output; no traceback.
    env = {**os.environ, "FARMHAND_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "farmhand", "scan", "127.0.0.1-127.0.15.255", "--port", "9", "--json",
         "--no-record", "--timeout", "0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(30) == 141
    assert err == ""


def test_scan_targets_separated_by_commas(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in the panel's range field; a bad part is named alone (no DNS lookup of the whole string).
    monkeypatch.setenv("FARMHAND_HOME", str(tmp_path))
    assert main(["scan", "127.0.0.1,10.0.0.0/33"]) == 2
    assert capsys.readouterr().err.startswith("farmhand: invalid scan target '10.0.0.0/33'")
    assert main(["scan", "127.0.0.1,127.0.0.2", "127.0.0.3", "--port", "9", "--json", "--no-record"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["address"], r["state"]) for r in rows] == [(f"127.0.0.{i}", "refused") for i in (1, 2, 3)]
