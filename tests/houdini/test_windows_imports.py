"""Everything Houdini loads imports on a Windows workstation: the POSIX-only modules (``resource``,
``fcntl``, ``pwd``, ``grp``, ``termios``, ``tty``) are made unimportable, as on Windows, and every module
a Houdini session can reach is imported (the glue, the panel, the client, node scanning and probing)."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POSIX_ONLY = ("resource", "fcntl", "pwd", "grp", "termios", "tty")
#: Run by other processes, never imported by Houdini: the CLI, the test lab, the node-side worker.
NOT_IN_HOUDINI = ("farmhand.cli", "farmhand.lab", "farmhand.houdini.worker", "farmhand.__main__")

SCRIPT = """
import importlib, json, sys
for name in {blocked!r}:
    sys.modules[name] = None
failed = {{}}
for module in {modules!r}:
    try:
        importlib.import_module(module)
    except Exception as exc:
        failed[module] = type(exc).__name__ + ": " + str(exc)
print(json.dumps(failed))
"""


def houdini_modules() -> list[str]:
    sys.path.insert(0, str(ROOT / "python"))
    import farmhand

    names = [m.name for m in pkgutil.walk_packages(farmhand.__path__, "farmhand.")]
    return sorted(n for n in names if not any(n == x or n.startswith(x + ".") for x in NOT_IN_HOUDINI))


@pytest.fixture(scope="module")
def failures() -> dict[str, str]:
    code = SCRIPT.format(blocked=POSIX_ONLY, modules=houdini_modules())
    path = os.pathsep.join(str(p) for p in (ROOT / "tests/fakes/hou/pythonpath", ROOT / "tests/fakes/hou",
                                            ROOT / "python"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": path, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stderr
    result: dict[str, str] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_the_list_covers_what_houdini_loads() -> None:
    modules = houdini_modules()
    for name in ("farmhand.houdini.entry", "farmhand.houdini.panel", "farmhand.client", "farmhand.ui.panel",
                 "farmhand.nodes.registry", "farmhand.ssh", "farmhand.presets"):
        assert name in modules


@pytest.mark.parametrize("module", houdini_modules())
def test_imports_without_posix_only_modules(module: str, failures: dict[str, str]) -> None:
    assert module not in failures, failures[module]


def test_scan_for_nodes_sizes_itself_without_rlimits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ``resource`` (Windows) the scanner still picks how many probes to run at once: as many as
    select() takes there."""
    from farmhand.nodes import discovery

    monkeypatch.setitem(sys.modules, "resource", None)  # type: ignore[arg-type]
    monkeypatch.setattr(sys, "platform", "win32")
    assert discovery.default_concurrency() == 500
    assert discovery.default_concurrency(cap=8) == 8


def test_state_lives_in_local_appdata_on_windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The job store is SQLite: never in the roaming profile (%APPDATA%), which Windows copies around."""
    from farmhand import paths

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.delenv("FARMHAND_HOME", raising=False)
    monkeypatch.setenv("APPDATA", str(tmp_path / "Roaming"))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path / "Local"))
    assert paths.home() == tmp_path / "Local" / "Farmhand"
    assert paths.jobs_db().parent == tmp_path / "Local" / "Farmhand"
    monkeypatch.delenv("LOCALAPPDATA")
    monkeypatch.setattr(Path, "home", lambda: tmp_path / "user")
    assert paths.home() == tmp_path / "user" / "AppData" / "Local" / "Farmhand"
    assert not (tmp_path / "Roaming").exists()
