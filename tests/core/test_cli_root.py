"""The CLI root: one-line errors and option values that look like options."""

from __future__ import annotations

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
