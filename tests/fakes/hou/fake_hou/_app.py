"""Module-level ``hou`` functions and the static classes (``hipFile``, ``text``, ``ui``, ``qt``)."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional, cast

from fake_hou import _nodes
from fake_hou._nodes import Node, OpNode, Parm, RopNode, build_nodes, resolve_path, scene_node
from fake_hou._panes import DESKTOP, Desktop, PaneTab
from fake_hou._render import dependency_plan, rop_frames
from fake_hou._session import SESSION, guard, hython_mode, read_scene
from fake_hou._stubs import EnumValueBase, hipFileBase, qtBase, textBase, uiBase
from fake_hou._values import LoadWarning, OperationFailed, severityType


class hipFile(hipFileBase):
    @staticmethod
    def load(file_name: str, suppress_save_prompt: bool = False, ignore_load_warnings: bool = False) -> None:
        guard()
        path = os.path.abspath(os.path.expanduser(file_name))
        try:
            doc = read_scene(path)
        except FileNotFoundError:
            raise OperationFailed(f"Unable to open file: {file_name}") from None
        except ValueError as exc:
            raise OperationFailed(f"Unable to load file {file_name}: {exc}") from None
        if doc.get("load_error"):
            raise OperationFailed(str(doc["load_error"]))
        time.sleep(float(doc.get("load_seconds", 0.0)))
        SESSION.hip_path = path
        SESSION.doc = doc
        SESSION.saved_vars = {str(k): str(v) for k, v in doc.get("vars", {}).items()}
        SESSION.frame = float(doc.get("frame", 1))
        SESSION.unsaved = bool(doc.get("unsaved", False))
        SESSION.current_take = str(doc.get("current_take", "Main"))
        SESSION.new_file = False
        build_nodes(doc.get("nodes", []))
        warnings = [str(w) for w in doc.get("load_warnings", [])]
        if warnings and not ignore_load_warnings:
            # Like Houdini: the scene is loaded, then the warnings are raised.
            raise LoadWarning("\n".join(warnings))

    @staticmethod
    def path() -> str:
        guard()
        return SESSION.hip_path or str(Path.cwd() / "untitled.hip")

    @staticmethod
    def basename() -> str:
        return os.path.basename(hipFile.path())

    @staticmethod
    def name() -> str:
        return hipFile.path()

    @staticmethod
    def hasUnsavedChanges() -> bool:
        guard()
        # Documented: in hython this always returns True.
        return True if hython_mode() else SESSION.unsaved

    @staticmethod
    def isNewFile() -> bool:
        return SESSION.new_file

    @staticmethod
    def save(file_name: Optional[str] = None, save_to_recent_files: bool = True) -> None:
        guard()
        target = os.path.abspath(file_name) if file_name else hipFile.path()
        doc = dict(SESSION.doc) or {"fake_houdini_scene": 1}
        doc["fake_houdini_scene"] = 1
        doc["vars"] = dict(SESSION.saved_vars)
        doc["unsaved"] = False
        doc["nodes"] = [dict(n._spec) for p, n in _nodes.NODES.items() if p != "/" and not _implicit(n)]
        try:
            Path(target).write_text(json.dumps(doc, indent=1), encoding="utf-8")
        except OSError as exc:
            raise OperationFailed(f"Unable to save {target}: {exc.strerror}") from None
        SESSION.hip_path = target
        SESSION.doc = doc
        SESSION.unsaved = False
        SESSION.new_file = False

    @staticmethod
    def saveAndIncrementFileName() -> None:
        path = Path(hipFile.path())
        stem, suffix = path.stem, path.suffix
        match = re.search(r"(\d+)$", stem)
        if match:
            digits = match.group(1)
            stem = stem[: match.start()] + str(int(digits) + 1).zfill(len(digits))
        else:
            stem += "1"
        hipFile.save(str(path.with_name(stem + suffix)))


def _implicit(node: OpNode) -> bool:
    """Containers and the file cache's inner ROP are made by the fake, not stored in the scene."""
    return (node._spec.get("type") in ("obj", "out", "stage", "root", "geo", "subnet") and set(
        node._spec
    ) <= {"path", "type", "parms"}) or (node.path().endswith("/render") and isinstance(
        node.parent(), _nodes.SopNode
    ))


class text(textBase):
    @staticmethod
    def expandString(str: str, expand_tilde: bool = True) -> str:
        out = SESSION.expand(str)
        return os.path.expanduser(out) if expand_tilde else out

    @staticmethod
    def expandStringAtFrame(str: str, frame: float, expand_tilde: bool = True) -> str:
        out = SESSION.expand(str, frame)
        return os.path.expanduser(out) if expand_tilde else out


class UiLog:
    """What the fake UI was asked to show, and the button indices tests script as answers."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.answers: list[int] = []
        self.status: list[str] = []
        self.lists: list[dict[str, Any]] = []
        self.list_answers: list[tuple[int, ...]] = []
        self.inputs: list[tuple[int, str]] = []


UI_LOG = UiLog()


class ui(uiBase):
    @staticmethod
    def displayMessage(
        text: str,
        buttons: Sequence[str] = ("OK",),
        severity: EnumValueBase = severityType.Message,
        default_choice: int = 0,
        close_choice: int = -1,
        help: str | None = None,
        title: str | None = None,
        details: str | None = None,
        details_label: str | None = None,
        details_expanded: bool = False,
        suppress: Any = None,
    ) -> int:
        guard()
        UI_LOG.messages.append(
            {"text": text, "buttons": tuple(buttons), "severity": severity, "title": title,
             "details": details}
        )
        return UI_LOG.answers.pop(0) if UI_LOG.answers else default_choice

    @staticmethod
    def selectFromList(
        choices: Sequence[str],
        default_choices: Sequence[int] = (),
        exclusive: bool = False,
        message: str | None = None,
        title: str | None = None,
        column_header: str = "Choices",
        num_visible_rows: int = 10,
        clear_on_cancel: bool = False,
        width: int = 0,
        height: int = 0,
        sort: bool = False,
        condense_paths: bool = False,
    ) -> tuple[int, ...]:
        guard()
        UI_LOG.lists.append({"choices": tuple(choices), "message": message, "title": title})
        return UI_LOG.list_answers.pop(0) if UI_LOG.list_answers else tuple(default_choices)

    @staticmethod
    def readInput(
        text: str,
        buttons: Sequence[str] = ("OK",),
        severity_type: EnumValueBase = severityType.Message,
        default_choice: int = 0,
        close_choice: int = -1,
        help: str | None = None,
        title: str | None = None,
        initial_contents: str | None = None,
    ) -> tuple[int, str]:
        guard()
        UI_LOG.messages.append({"text": text, "buttons": tuple(buttons), "severity": severity_type,
                                "title": title, "details": initial_contents})
        if UI_LOG.inputs:
            return UI_LOG.inputs.pop(0)
        return default_choice, initial_contents or ""

    @staticmethod
    def setStatusMessage(message: str, severity: EnumValueBase = severityType.Message) -> None:
        guard()
        UI_LOG.status.append(message)


    @staticmethod
    def curDesktop() -> Desktop:
        guard()
        return DESKTOP

    @staticmethod
    def paneTabs() -> tuple[PaneTab, ...]:
        guard()
        return DESKTOP.paneTabs()


class qt(qtBase):
    main_window: Any = None

    @staticmethod
    def mainWindow() -> Any:
        guard()
        return qt.main_window


def node(path: str) -> Optional[Node]:
    guard()
    return scene_node(resolve_path("/", path)) if path.startswith("/") else None


def selectedNodes(include_hidden: bool = False) -> tuple[Node, ...]:
    guard()
    found = (scene_node(p) for p in SESSION.selected)
    return tuple(n for n in found if n is not None)


def frame(full_precision: bool = False) -> float:
    guard()
    return SESSION.frame


def intFrame() -> int:
    return round(frame())


def setFrame(frame: float) -> None:
    guard()
    SESSION.frame = float(frame)


def fps() -> float:
    return float(SESSION.doc.get("fps", 24))


def applicationVersion(include_patch: bool = False) -> tuple[int, int, int]:
    return SESSION.version


def applicationVersionString() -> str:
    return ".".join(str(v) for v in SESSION.version)


def applicationName() -> str:
    return "hython" if hython_mode() else "houdini"


def isUIAvailable() -> bool:
    return not hython_mode()


def getenv(name: str, default_value: Optional[str] = None) -> Optional[str]:
    value = SESSION.getenv(name)
    return default_value if value is None else value


def putenv(name: str, value: str) -> None:
    SESSION.saved_vars[name] = value


def unsetenv(name: str) -> None:
    SESSION.saved_vars.pop(name, None)


def allowEnvironmentToOverwriteVariable(name: str, onoff: bool) -> None:
    if onoff:
        SESSION.overwrite_allowed.add(name)
    else:
        SESSION.overwrite_allowed.discard(name)


def fileReferences(
    project_dir_variable: str = "HIP", include_all_refs: bool = True
) -> Sequence[tuple[Parm, str]]:
    guard()
    refs: list[tuple[Parm, str]] = []
    for path, n in _nodes.NODES.items():
        if path == "/":
            continue
        for name in n._file_parm_names():
            parm = n.parm(name)
            if parm is not None and isinstance(parm._raw(), str) and parm._raw():
                refs.append((parm, parm.unexpandedString()))
    # Asset libraries the scene uses come with no parameter: real Houdini gives None there although the
    # stub says Parm (pipelines that call parm.node() on every entry crash on scenes with HDAs).
    for library in SESSION.doc.get("asset_libraries", []):
        refs.append((cast(Parm, None), str(library)))
    return refs


def hscript(command: str) -> tuple[str, ...]:
    """Only ``render -p -c -F [-f START END] [-i INC] ROP`` (the render plan) is modelled; anything else is
    an error line."""
    guard()
    words = command.split()
    if words[:1] == ["render"] and "-p" in words and words[-1].startswith("/"):
        rop = scene_node(words[-1])
        if not isinstance(rop, RopNode):
            return ("", f"Invalid ROP: {words[-1]}\n")
        requested: tuple[float, ...] = ()
        if "-f" in words:
            at = words.index("-f")
            step = float(words[words.index("-i") + 1]) if "-i" in words else 1.0
            requested = tuple(rop_frames(rop, (float(words[at + 1]), float(words[at + 2]), step)))
        lines = []
        order = {}
        for index, (n, frames) in enumerate(dependency_plan(rop, requested), start=1):
            order[n.path()] = index
            deps = " ".join(str(order[i.path()]) for i in n.inputs() if i is not None and i.path() in order)
            span = f"( {_f(frames[0])} )" if len(frames) == 1 else (
                f"( {_f(frames[0])} {_f(frames[-1])} {_f(frames[1] - frames[0])} )"
            )
            lines.append(f"{index} [ {deps + ' ' if deps else ''}] {n.path()} \t{span}")
        return ("\n".join(lines) + "\n", "")
    return ("", f"fake hou: hscript command not modelled: {command}\n")


def _f(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def exit(exit_code: int = 0, suppress_save_prompt: bool = False) -> None:
    raise SystemExit(exit_code)
