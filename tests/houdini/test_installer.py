"""scripts/install_farmhand.py against fake preference trees; the pip step is recorded, never run."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load() -> ModuleType:
    path = ROOT / "scripts" / "install_farmhand.py"
    spec = importlib.util.spec_from_file_location("install_farmhand", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["install_farmhand"] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


inst = _load()


class Pip:
    """Records pip's arguments and fills --target with a stand-in package, like a successful install."""

    def __init__(self, code: int = 0) -> None:
        self.calls: list[list[str]] = []
        self.code = code

    def __call__(self, argv: list[str]) -> int:
        self.calls.append(argv)
        target = Path(argv[argv.index("--target") + 1])
        (target / "paramiko").mkdir(parents=True, exist_ok=True)
        (target / "paramiko" / "__init__.py").write_text("")
        return self.code


def _run(tmp_path: Path, *args: str, pip: Pip, system: str = "linux") -> int:
    code: int = inst.main(["--home", str(tmp_path / "home"), "--root", str(tmp_path / "checkout"),
                           "--os", system, *args], pip=pip)
    return code


@pytest.fixture
def trees(tmp_path: Path) -> Path:
    (tmp_path / "checkout").mkdir()
    home = tmp_path / "home"
    for name in ("houdini21.0", "houdini20.0", "houdini19.0", "houdini20.5"):
        (home / name).mkdir(parents=True)
    (home / "houdini21.0.txt").write_text("not a folder")
    return home


def test_installs_package_and_deps_per_houdini_python(tmp_path: Path, trees: Path) -> None:
    pip = Pip()
    assert _run(tmp_path, pip=pip) == 0
    checkout = (tmp_path / "checkout").resolve()
    versions = [call[call.index("--python-version") + 1] for call in pip.calls]
    assert versions == ["3.10", "3.11"]  # 20.0 → 3.10; 20.5 and 21.0 share 3.11 (installed once)
    first = pip.calls[0]
    assert "--only-binary=:all:" in first and inst.REQUIREMENTS[0] in first
    assert first[first.index("--platform") + 1].startswith("manylinux")
    for name, python in (("houdini21.0", "3.11"), ("houdini20.0", "3.10"), ("houdini20.5", "3.11")):
        package = json.loads((trees / name / "packages" / "farmhand.json").read_text())
        env = {k: v for item in package["env"] for k, v in item.items()}
        assert env["FARMHAND"] == checkout.as_posix()
        assert env["FARMHAND_DEPS"] == (checkout / "deps" / f"python{python}-linux").as_posix()
        assert env["FARMHAND_NODE_PACKAGE"] == "$FARMHAND/python/farmhand"
        assert package["hpath"] == "$FARMHAND"
        assert (checkout / "deps" / f"python{python}-linux" / "paramiko" / "__init__.py").exists()
    assert not (trees / "houdini19.0" / "packages").exists()  # 19.0 is not supported


def test_node_scripts_names_the_share_copy_for_the_dispatcher(
    tmp_path: Path, trees: Path, capsys: Any
) -> None:
    assert _run(tmp_path, "--houdini", "21.0", pip=Pip()) == 0
    assert "if this checkout is not on the share" in capsys.readouterr().out
    assert _run(tmp_path, "--houdini", "21.0", "--node-scripts", "P:\\pipeline\\farmhand\\scripts",
                pip=Pip()) == 0
    package = json.loads((trees / "houdini21.0" / "packages" / "farmhand.json").read_text())
    env = {k: v for item in package["env"] for k, v in item.items()}
    assert env["FARMHAND_NODE_PACKAGE"] == "P:/pipeline/farmhand/scripts"
    out = capsys.readouterr().out
    assert "wrote" in out and "from P:/pipeline/farmhand/scripts (FARMHAND_NODE_PACKAGE)" in out


def test_second_run_changes_nothing(tmp_path: Path, trees: Path, capsys: Any) -> None:
    _run(tmp_path, pip=Pip())
    package = trees / "houdini21.0" / "packages" / "farmhand.json"
    before = package.stat().st_mtime_ns
    again = Pip()
    assert _run(tmp_path, pip=again) == 0
    assert again.calls == []
    assert package.stat().st_mtime_ns == before
    assert "unchanged" in capsys.readouterr().out


def test_dry_run_writes_nothing(tmp_path: Path, trees: Path, capsys: Any) -> None:
    pip = Pip()
    assert _run(tmp_path, "--dry-run", pip=pip) == 0
    assert pip.calls == []
    assert not (trees / "houdini21.0" / "packages").exists()
    assert not (tmp_path / "checkout" / "deps").exists()
    out = capsys.readouterr().out
    assert "would write" in out and "--python-version 3.11" in out


def test_failed_pip_leaves_no_half_folder_and_no_package(tmp_path: Path, trees: Path) -> None:
    assert _run(tmp_path, "--houdini", "21.0", pip=Pip(code=1)) == 1
    assert not (trees / "houdini21.0" / "packages" / "farmhand.json").exists()
    assert list((tmp_path / "checkout" / "deps").iterdir()) == []


def test_uninstall_removes_only_farmhand_files(tmp_path: Path, trees: Path) -> None:
    _run(tmp_path, pip=Pip())
    other = trees / "houdini20.5" / "packages" / "other.json"
    other.write_text("{}")
    foreign = trees / "houdini20.0" / "packages" / "farmhand.json"
    foreign.write_text(json.dumps({"env": [{"SOMEONE": "else"}]}))
    assert _run(tmp_path, "--uninstall", "--houdini", "21.0", pip=Pip()) == 0
    assert not (trees / "houdini21.0" / "packages" / "farmhand.json").exists()
    assert (trees / "houdini20.5" / "packages" / "farmhand.json").exists()
    # Other artists on a shared checkout still load paramiko from deps/: it stays unless asked.
    assert (tmp_path / "checkout" / "deps" / "python3.11-linux" / "paramiko").is_dir()
    assert _run(tmp_path, "--uninstall", "--remove-deps", pip=Pip()) == 0
    assert not (trees / "houdini20.5" / "packages" / "farmhand.json").exists()
    assert other.exists() and foreign.exists()
    assert not (tmp_path / "checkout" / "deps").exists()


@pytest.mark.parametrize(("system", "relative", "platform_tag"), [
    ("macos", "Library/Preferences/houdini/21.0", "macosx"),
    ("windows", "Documents/houdini21.0", "win_amd64"),
])
def test_macos_and_windows_preference_folders(tmp_path: Path, system: str, relative: str,
                                              platform_tag: str) -> None:
    (tmp_path / "checkout").mkdir()
    (tmp_path / "home" / relative).mkdir(parents=True)
    pip = Pip()
    assert _run(tmp_path, pip=pip, system=system) == 0
    assert (tmp_path / "home" / relative / "packages" / "farmhand.json").exists()
    assert pip.calls[0][pip.calls[0].index("--platform") + 1].startswith(platform_tag)


def test_houdini_user_pref_dir_is_honoured(tmp_path: Path) -> None:
    env = {"HOUDINI_USER_PREF_DIR": str(tmp_path / "prefs" / "h__HVER__")}
    (tmp_path / "prefs" / "h21.0").mkdir(parents=True)
    (tmp_path / "prefs" / "h20.5").mkdir(parents=True)
    found = inst.pref_dirs(tmp_path / "home", "linux", env)
    assert [(t.pref_dir.name, t.houdini) for t in found] == [("h20.5", "20.5"), ("h21.0", "21.0")]
    single = inst.pref_dirs(tmp_path, "linux", {"HOUDINI_USER_PREF_DIR": str(tmp_path / "houdini21.0")})
    assert [t.houdini for t in single] == ["21.0"]


def test_no_houdini_found_says_what_to_do(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "checkout").mkdir()
    (tmp_path / "home").mkdir()
    assert _run(tmp_path, pip=Pip()) == 1
    assert "No Houdini preference folder found" in capsys.readouterr().out


def test_python_versions() -> None:
    assert [inst.python_for(v) for v in ("19.5", "20.0", "20.5", "21.0", "21.5")] == [
        "3.9", "3.10", "3.11", "3.11", "3.11"]
    with pytest.raises(ValueError, match="not supported"):
        inst.python_for("18.5")


# Platform tags of the wheels paramiko's compiled dependencies publish, as `pip install --dry-run
# --report` resolved them (bcrypt 5.0, PyNaCl 1.6, cryptography 43-50, cffi 2.x). Facts, not a download.
PUBLISHED = {
    ("macos", "x86_64"): ["macosx_10_12_universal2", "macosx_10_10_universal2", "macosx_10_9_universal2",
                          "macosx_10_15_x86_64"],
    ("macos", "arm64"): ["macosx_10_12_universal2", "macosx_10_10_universal2", "macosx_11_0_arm64"],
    ("windows", "AMD64"): ["win_amd64"],
    ("linux", "x86_64"): ["manylinux2014_x86_64"],
    ("linux", "aarch64"): ["manylinux_2_17_aarch64"],
}


def _accepted_by_pip(tags: list[str]) -> set[str]:
    """What pip accepts for ``--platform`` tags: for macOS every older version it implies (pip expands
    them with packaging's ``mac_platforms``), otherwise the tag itself."""
    from packaging.tags import mac_platforms

    accepted: set[str] = set()
    for tag in tags:
        if tag.startswith("macosx_"):
            _, major, minor, arch = tag.split("_", 3)
            accepted.update(mac_platforms((int(major), int(minor)), arch))
        else:
            accepted.add(tag)
    return accepted


@pytest.mark.parametrize(("system", "machine"), list(PUBLISHED))
def test_pip_platforms_accept_the_wheels_paramiko_needs(system: str, machine: str) -> None:
    accepted = _accepted_by_pip(inst.pip_platforms(system, machine))
    assert set(PUBLISHED[(system, machine)]) <= accepted
    args = inst.pip_args(Path("/t"), "3.11", inst.pip_platforms(system, machine))
    # pip refuses --platform/--python-version without --target and binary-only installs.
    assert args[:2] == ["install", "--quiet"] and args[args.index("--target") + 1] == "/t"
    assert "--only-binary=:all:" in args and args[args.index("--implementation") + 1] == "cp"


def test_python_without_pip_says_how_to_get_it(tmp_path: Path, trees: Path, capsys: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inst, "pip_available", lambda: False)
    assert _run(tmp_path, "--houdini", "21.0", pip=inst.default_pip) == 1
    out = capsys.readouterr().out
    assert "has no pip: install it (python3 -m ensurepip --user, or the python3-pip" in out
    assert "--no-deps" in out
    assert not (trees / "houdini21.0" / "packages" / "farmhand.json").exists()


def test_pref_dir_typo_is_refused_in_one_line(tmp_path: Path, trees: Path, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_:
        _run(tmp_path, "--pref-dir", str(trees / "houdini21.O"), pip=Pip())
    assert exit_.value.code == 2
    assert "houdini21.O is not a folder; check the path" in capsys.readouterr().err
    assert not (trees / "houdini21.O").exists()
    assert _run(tmp_path, "--pref-dir", str(trees / "houdini21.0"), "--no-deps", pip=Pip()) == 0
    assert (trees / "houdini21.0" / "packages" / "farmhand.json").exists()


def test_installer_installs_what_pyproject_declares() -> None:
    """Houdini gets the requirements the core is tested with (no drift between the two); tomli without its
    ``python_version`` marker, which pip would judge by the Python running the installer."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert list(inst.REQUIREMENTS) == [d.split(";")[0].strip() for d in project["dependencies"]]


@pytest.mark.parametrize("houdini", ["19.5", "20.0", "20.5", "21.0"])
def test_tomli_is_vendored_for_every_houdini_python(tmp_path: Path, houdini: str) -> None:
    """Presets read TOML with tomllib on 3.11+ and tomli below: every Houdini gets tomli next to paramiko,
    with no marker left for pip to evaluate against the wrong Python."""
    (tmp_path / "checkout").mkdir()
    (tmp_path / "home" / f"houdini{houdini}").mkdir(parents=True)
    pip = Pip()
    assert _run(tmp_path, pip=pip) == 0
    (call,) = pip.calls
    assert call[call.index("--python-version") + 1] == inst.python_for(houdini)
    requirements = [a for a in call if not a.startswith("-") and a[:1].isalpha()]
    assert set(inst.REQUIREMENTS) <= set(requirements) and "tomli>=1.1" in requirements
    assert not any(";" in a for a in call)


def test_only_unsupported_houdinis_is_an_error_not_a_silent_success(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "checkout").mkdir()
    (tmp_path / "home" / "houdini19.0").mkdir(parents=True)
    (tmp_path / "home" / "houdini22.0").mkdir(parents=True)
    assert _run(tmp_path, pip=Pip()) == 1
    out = capsys.readouterr().out
    assert "no supported Houdini (19.5 to 21.x) among the folders found; nothing installed" in out
