"""The fake hou is checked against types-houdini: these tests show the check catches drift."""

from __future__ import annotations

import ast
import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import fake_hou
import pytest

from .conftest import FAKE_HOU

ROOT = Path(__file__).resolve().parents[2]
MYPY = Path(sys.executable).with_name("mypy")
HELPERS = {"NODES", "SESSION", "UI_LOG", "reset", "load_scene", "write_scene", "select", "Session", "BUILDS",
           "RELEASES", "Release", "release", "use_release"}


def _stub_tree() -> ast.Module:
    candidates = [Path(p) / "hou-stubs" / "__init__.pyi" for p in sys.path]
    path = next((c for c in candidates if c.exists()), None)
    assert path is not None, "types-houdini is not installed in this environment"
    return ast.parse(path.read_text(encoding="utf-8"))


def _stub_names() -> tuple[set[str], dict[str, set[str]]]:
    tree = _stub_tree()
    top: set[str] = set()
    members: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            top.add(node.name)
        if isinstance(node, ast.ClassDef):
            names = members.setdefault(node.name, set())
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    names.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    names.add(item.target.id)
            bases = [b.id for b in node.bases if isinstance(b, ast.Name)]
            members[node.name + "/bases"] = set(bases)
    return top, members


def _all_members(cls: str, members: dict[str, set[str]]) -> set[str]:
    found = set(members.get(cls, set()))
    for base in members.get(cls + "/bases", set()):
        found |= _all_members(base, members)
    return found


def test_every_fake_name_exists_in_the_real_hou() -> None:
    top, members = _stub_names()
    invented = []
    for name in fake_hou.__all__:
        if name in HELPERS:
            continue
        if name not in top:
            invented.append(name)
            continue
        obj = getattr(fake_hou, name)
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            real = _all_members(name, members)
            for attr, value in vars(obj).items():
                if attr.startswith("_") or not (callable(value) or isinstance(value, (staticmethod,
                                                                                     fake_hou.EnumValue))):
                    continue
                if attr not in real and attr != "main_window":
                    invented.append(f"{name}.{attr}")
    assert invented == []


def test_every_fake_method_is_name_checked_in_conformance() -> None:
    text = (FAKE_HOU / "fake_hou" / "conformance.py").read_text(encoding="utf-8")
    missing = []
    for cls in (fake_hou.RopNode, fake_hou.LopNode, fake_hou.OpNode, fake_hou.Parm, fake_hou.hipFile,
                fake_hou.text, fake_hou.ui, fake_hou.NodeType, fake_hou.pypanel, fake_hou.Desktop,
                fake_hou.PaneTab, fake_hou.PythonPanel, fake_hou.PythonPanelInterface, fake_hou.takes,
                fake_hou.Take):
        for attr in vars(cls):
            if attr.startswith("_") or not callable(getattr(cls, attr)):
                continue
            if f".{attr}\n" not in text:
                missing.append(f"{cls.__name__}.{attr}")
    assert missing == []


def _mypy(*targets: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MYPY), "--strict", "--no-error-summary", *map(str, targets)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_mypy_catches_a_renamed_parameter(tmp_path: Path) -> None:
    clean = _mypy(FAKE_HOU / "fake_hou")
    assert clean.returncode == 0, clean.stdout
    copy = tmp_path / "fake_hou"
    shutil.copytree(FAKE_HOU / "fake_hou", copy)
    nodes = copy / "_nodes.py"
    text = nodes.read_text(encoding="utf-8")
    assert "        output_progress: bool = False," in text
    nodes.write_text(text.replace("        output_progress: bool = False,", "        progress: bool = False,")
                     .replace("output_progress=output_progress", "output_progress=progress"),
                     encoding="utf-8")
    drifted = _mypy(copy)
    assert drifted.returncode != 0
    assert "conformance.py" in drifted.stdout and "progress" in drifted.stdout


@pytest.mark.slow
def test_mypy_catches_a_wrong_return_type(tmp_path: Path) -> None:
    copy = tmp_path / "fake_hou"
    shutil.copytree(FAKE_HOU / "fake_hou", copy)
    app = copy / "_app.py"
    text = app.read_text(encoding="utf-8")
    app.write_text(text.replace("def applicationVersionString() -> str:\n    return",
                                "def applicationVersionString() -> int:\n    return 0 and"), encoding="utf-8")
    drifted = _mypy(copy)
    assert drifted.returncode != 0 and "Callable[[], int]" in drifted.stdout
