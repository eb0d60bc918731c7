"""A typed fake of SideFX Houdini's ``hou`` module, for tests only (Houdini cannot run here).

Import it as ``hou`` by putting ``tests/fakes/hou/pythonpath`` (and ``tests/fakes/hou``) on ``sys.path``;
the fake ``hython`` in ``tests/fakes/hfs`` does that. Scenes are JSON files with a ``.hip`` name, described
in :mod:`fake_hou._session`. Every class derives (for mypy only) from the stub class of the same name in
``types-houdini`` so its signatures are checked against the real ones; module functions are checked in
:mod:`fake_hou.conformance`.

Helpers for tests (not part of ``hou``): :func:`reset`, :func:`use_release`, :func:`load_scene`,
:func:`select`, ``UI_LOG``, ``SESSION``, ``RELEASES``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from fake_hou import _versions
from fake_hou._app import (
    UI_LOG,
    allowEnvironmentToOverwriteVariable,
    applicationName,
    applicationVersion,
    applicationVersionString,
    exit,
    fileReferences,
    fps,
    frame,
    getenv,
    hipFile,
    hscript,
    intFrame,
    isUIAvailable,
    node,
    putenv,
    qt,
    selectedNodes,
    setFrame,
    text,
    ui,
    unsetenv,
)
from fake_hou._nodes import (
    NODES,
    LopNode,
    Node,
    NodeType,
    NodeTypeCategory,
    OpNode,
    OpNodeType,
    OpNodeTypeCategory,
    Parm,
    ParmTuple,
    RopNode,
    SopNode,
)
from fake_hou._panes import (
    Desktop,
    PaneTab,
    PythonPanel,
    PythonPanelInterface,
    paneTabType,
    pypanel,
    reset_panes,
)
from fake_hou._session import SESSION, Session, env_build
from fake_hou._takes import Take, takes
from fake_hou._values import (
    EnumValue,
    Error,
    LoadWarning,
    NotAvailable,
    OperationFailed,
    renderMethod,
    ropRenderEventType,
    severityType,
)
from fake_hou._versions import BUILDS, RELEASES, Release, release


def use_release(build: str) -> Release:
    """Make this session Houdini ``build`` ("19.5.805"): its version, and the ``hou`` names it has."""
    chosen = release(build)
    SESSION.version = chosen.version
    module = _versions.hou_module()
    if module is not None:
        _versions.apply(module, chosen, {"OpNode": OpNode, "OpNodeType": OpNodeType,
                                         "OpNodeTypeCategory": OpNodeTypeCategory})
    return chosen


def reset() -> None:
    """Forget the scene, the selection and the UI log (a fresh, empty session of the release the
    environment names, ``FAKE_HOUDINI_VERSION``, default the newest)."""
    fresh = Session()
    for name in fresh.__dataclass_fields__:
        setattr(SESSION, name, getattr(fresh, name))
    SESSION.main_thread = threading.current_thread()
    NODES.clear()
    UI_LOG.messages.clear()
    UI_LOG.answers.clear()
    UI_LOG.status.clear()
    UI_LOG.lists.clear()
    UI_LOG.list_answers.clear()
    UI_LOG.inputs.clear()
    qt.main_window = None
    reset_panes()
    use_release(env_build())


def write_scene(path: Path, nodes: list[dict[str, Any]], **fields: Any) -> Path:
    """Write a fake scene file (see :mod:`fake_hou._session` for the fields)."""
    doc = {"fake_houdini_scene": 1, "fps": 24, "frame": 1, "fstart": 1, "fend": 24, **fields, "nodes": nodes}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    return path


def load_scene(path: Path, nodes: list[dict[str, Any]], **fields: Any) -> Path:
    """Write a fake scene and load it into this session, ignoring its load warnings."""
    write_scene(path, nodes, **fields)
    hipFile.load(str(path), ignore_load_warnings=True)
    return path


def select(*paths: str) -> None:
    SESSION.selected = list(paths)


__all__ = [
    "BUILDS",
    "NODES",
    "RELEASES",
    "SESSION",
    "UI_LOG",
    "Desktop",
    "EnumValue",
    "Error",
    "LoadWarning",
    "LopNode",
    "Node",
    "NodeType",
    "NodeTypeCategory",
    "NotAvailable",
    "OpNode",
    "OpNodeType",
    "OpNodeTypeCategory",
    "OperationFailed",
    "PaneTab",
    "Parm",
    "ParmTuple",
    "PythonPanel",
    "PythonPanelInterface",
    "Release",
    "RopNode",
    "SopNode",
    "Take",
    "allowEnvironmentToOverwriteVariable",
    "applicationName",
    "applicationVersion",
    "applicationVersionString",
    "exit",
    "fileReferences",
    "fps",
    "frame",
    "getenv",
    "hipFile",
    "hscript",
    "intFrame",
    "isUIAvailable",
    "load_scene",
    "node",
    "paneTabType",
    "putenv",
    "pypanel",
    "qt",
    "release",
    "renderMethod",
    "reset",
    "ropRenderEventType",
    "select",
    "selectedNodes",
    "setFrame",
    "severityType",
    "takes",
    "text",
    "ui",
    "unsetenv",
    "use_release",
    "write_scene",
]
