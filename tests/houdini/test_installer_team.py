"""The installer's team-farm option: psycopg for each Houdini Python only when the studio asks for it.

pip is recorded, never run (as in test_installer.py); the environment is passed in, so the machine
running the tests decides nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import pytest

from .test_installer import ROOT, Pip, inst

URL = "postgresql://alice@db.studio/farm?sslmode=verify-full"
HOUDINIS = {"houdini19.5": "3.9", "houdini20.0": "3.10", "houdini20.5": "3.11", "houdini21.0": "3.11"}


@pytest.fixture
def trees(tmp_path: Path) -> Path:
    (tmp_path / "checkout").mkdir()
    for name in HOUDINIS:
        (tmp_path / "home" / name).mkdir(parents=True)
    return tmp_path / "home"


def _run(tmp_path: Path, *args: str, pip: Pip, env: Optional[dict[str, str]] = None,
         system: str = "linux") -> int:
    code: int = inst.main(["--home", str(tmp_path / "home"), "--root", str(tmp_path / "checkout"),
                           "--os", system, *args], pip=pip, env={} if env is None else env)
    return code


def _requirements(call: list[str]) -> list[str]:
    """What pip is asked to install: everything after the last ``--platform TAG``."""
    last = max(i for i, a in enumerate(call) if a.startswith("-"))
    assert call[last] == "--platform"
    return call[last + 2:]


def _marker(tmp_path: Path, python: str) -> dict[str, Any]:
    path = tmp_path / "checkout" / "deps" / f"python{python}-linux" / inst.MARKER
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_team_adds_psycopg_for_every_houdini_python(tmp_path: Path, trees: Path, capsys: Any) -> None:
    del trees
    pip = Pip()
    assert _run(tmp_path, "--team", pip=pip) == 0
    versions = [call[call.index("--python-version") + 1] for call in pip.calls]
    assert versions == ["3.9", "3.10", "3.11"]
    for call, python in zip(pip.calls, versions):
        assert _requirements(call) == [*inst.REQUIREMENTS, *inst.TEAM_REQUIREMENTS]
        assert "--only-binary=:all:" in call and call[call.index("--implementation") + 1] == "cp"
        assert not any(";" in a for a in call)  # no marker for pip to judge by the installer's Python
        assert _marker(tmp_path, python)["requirements"] == [*inst.REQUIREMENTS, *inst.TEAM_REQUIREMENTS]
    out = capsys.readouterr().out
    assert "psycopg for the team farm's PostgreSQL store as well (--team)" in out
    assert "installing paramiko, tomli and psycopg for Python 3.9" in out


def test_without_team_nothing_changes(tmp_path: Path, trees: Path, capsys: Any) -> None:
    del trees
    pip = Pip()
    assert _run(tmp_path, pip=pip) == 0
    for call in pip.calls:
        target = Path(call[call.index("--target") + 1])
        python = call[call.index("--python-version") + 1]
        assert call == inst.pip_args(target, python, inst.pip_platforms("linux"))
        assert _requirements(call) == list(inst.REQUIREMENTS)
        assert _marker(tmp_path, python)["requirements"] == list(inst.REQUIREMENTS)
    out = capsys.readouterr().out
    assert "psycopg" not in out and "installing paramiko and tomli for Python 3.11" in out


def test_psycopg_stays_in_a_shared_deps_folder(tmp_path: Path, trees: Path, capsys: Any) -> None:
    """Another artist of the same checkout runs the installer without --team: psycopg is not taken away."""
    del trees
    assert _run(tmp_path, "--houdini", "21.0", "--team", pip=Pip()) == 0
    again = Pip()
    assert _run(tmp_path, "--houdini", "21.0", pip=again) == 0
    assert again.calls == []
    assert "paramiko, tomli and psycopg for Python 3.11 already installed" in capsys.readouterr().out
    forced = Pip()
    assert _run(tmp_path, "--houdini", "21.0", "--force", pip=forced) == 0
    assert inst.TEAM_REQUIREMENTS[0] in forced.calls[0]


def test_team_later_adds_psycopg_to_an_installed_folder(tmp_path: Path, trees: Path) -> None:
    del trees
    assert _run(tmp_path, "--houdini", "20.0", pip=Pip()) == 0
    unchanged = Pip()
    assert _run(tmp_path, "--houdini", "20.0", pip=unchanged) == 0
    assert unchanged.calls == []
    added = Pip()
    assert _run(tmp_path, "--houdini", "20.0", "--team", pip=added) == 0
    (call,) = added.calls
    assert inst.TEAM_REQUIREMENTS[0] in call and call[call.index("--python-version") + 1] == "3.10"


@pytest.mark.parametrize(("env", "store", "team"), [
    ({"FARMHAND_STORE": URL}, None, True),
    ({}, {"url": URL, "keep_days": 3}, True),
    ({}, URL, True),
    ({"FARMHAND_STORE": ""}, {"url": URL}, False),  # set but empty: this artist keeps to SQLite
    ({}, {"keep_days": 3}, False),
    ({}, None, False),
])
def test_a_configured_farm_database_asks_for_psycopg(
        tmp_path: Path, trees: Path, env: dict[str, str], store: Any, team: bool) -> None:
    del trees
    home = tmp_path / "farmhand-home"
    home.mkdir()
    if store is not None:
        (home / "dispatcher.json").write_text(json.dumps({"store": store}))
    pip = Pip()
    assert _run(tmp_path, "--houdini", "21.0", pip=pip, env={"FARMHAND_HOME": str(home), **env}) == 0
    assert (inst.TEAM_REQUIREMENTS[0] in pip.calls[0]) is team


@pytest.mark.parametrize(("system", "relative"), [
    ("linux", ".local/share/farmhand"),
    ("macos", "Library/Application Support/Farmhand"),
    ("windows", "AppData/Local/Farmhand"),
])
def test_the_default_farmhand_home_is_looked_in(tmp_path: Path, system: str, relative: str) -> None:
    home = tmp_path / "home"
    (home / relative).mkdir(parents=True)
    (home / relative / "dispatcher.json").write_text(json.dumps({"store": {"url": URL}}))
    found = inst.farm_store_named(home, system, {})
    assert found == f"{home / relative / 'dispatcher.json'} names a farm database"
    (home / relative / "dispatcher.json").write_text("{not json")  # Farmhand itself reports a broken file
    assert inst.farm_store_named(home, system, {}) is None


def test_dry_run_and_no_deps(tmp_path: Path, trees: Path, capsys: Any) -> None:
    del trees
    assert _run(tmp_path, "--houdini", "19.5", "--team", "--dry-run", pip=Pip()) == 0
    out = capsys.readouterr().out
    assert "would run: pip install" in out and "'psycopg[binary]>=3.1'" in out and "3.9" in out
    assert not (tmp_path / "checkout" / "deps").exists()
    nothing = Pip()
    assert _run(tmp_path, "--houdini", "19.5", "--team", "--no-deps", pip=nothing) == 0
    assert nothing.calls == [] and "psycopg" not in capsys.readouterr().out


# Platform tags of the psycopg-binary wheels pip picked for the installer's own --platform lists, with
# `pip install --dry-run --report` for Python 3.9, 3.10 and 3.11 (psycopg-binary 3.2.13 for 3.9, 3.3.9 for
# 3.10 and 3.11). Facts, not a download.
PSYCOPG_WHEELS = {
    ("linux", "x86_64"): ["manylinux2014_x86_64"],
    ("linux", "aarch64"): ["manylinux2014_aarch64", "manylinux_2_28_aarch64"],
    ("macos", "x86_64"): ["macosx_10_9_x86_64"],
    ("macos", "arm64"): ["macosx_11_0_arm64"],
    ("windows", "AMD64"): ["win_amd64"],
}


@pytest.mark.parametrize(("system", "machine"), list(PSYCOPG_WHEELS))
def test_pip_platforms_accept_the_psycopg_wheels(system: str, machine: str) -> None:
    from packaging.tags import mac_platforms

    accepted: set[str] = set()
    for tag in inst.pip_platforms(system, machine):
        if tag.startswith("macosx_"):
            _, major, minor, arch = tag.split("_", 3)
            accepted.update(mac_platforms((int(major), int(minor)), arch))
        else:
            accepted.add(tag)
    assert set(PSYCOPG_WHEELS[(system, machine)]) <= accepted


def test_team_requirements_match_the_team_extra() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert inst.TEAM_REQUIREMENTS[0] in project["optional-dependencies"]["team"]
