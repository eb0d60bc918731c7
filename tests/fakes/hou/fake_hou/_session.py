"""The fake Houdini session: the loaded scene, global variables, the current frame, string expansion.

A *fake scene* is a JSON document saved under a ``.hip`` name (see ``docs/houdini.md``, "Fake scenes")::

    {"fake_houdini_scene": 1, "fps": 24, "frame": 1, "fstart": 1, "fend": 48,
     "vars": {"JOB": "/share/proj"}, "unsaved": false, "load_seconds": 0.0, "load_warnings": [],
     "load_error": null, "speed_by_host": {"render01": 2.0},
     "nodes": [{"path": "/out/mantra1", "type": "ifd", "parms": {"trange": 1, "f1": 1, "f2": 10},
                "inputs": ["/out/cache"], "seconds_per_frame": 0.05, "file_parms": ["file"],
                "failures": [{"kind": "licence", "frames": [3], "times": 1}]}]}
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCENE_MARKER = "fake_houdini_scene"
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_PAD = re.compile(r"F(\d)$")


def hython_mode() -> bool:
    """True inside the fake ``hython`` (no UI: ``hou.ui`` is absent, unsaved changes always True)."""
    return os.environ.get("FAKE_HOUDINI_HYTHON") == "1"


@dataclass
class Session:
    """Everything one fake Houdini process knows. Reset by ``fake_hou.reset()`` between tests."""

    hip_path: str = ""
    doc: dict[str, Any] = field(default_factory=dict)
    saved_vars: dict[str, str] = field(default_factory=dict)
    overwrite_allowed: set[str] = field(default_factory=set)
    frame: float = 1.0
    unsaved: bool = False
    new_file: bool = True
    selected: list[str] = field(default_factory=list)
    current_take: str = "Main"
    main_thread: threading.Thread = field(default_factory=threading.main_thread)
    enforce_main_thread: bool = True
    messages: list[str] = field(default_factory=list)
    version: tuple[int, int, int] = field(default_factory=lambda: _env_version())

    def variables(self) -> dict[str, str]:
        hip = Path(self.hip_path) if self.hip_path else Path.cwd() / "untitled.hip"
        values = {
            "HIP": str(hip.parent),
            "HIPFILE": str(hip),
            "HIPNAME": hip.name[: -len(hip.suffix)] if hip.suffix else hip.name,
            "FSTART": _num(self.doc.get("fstart", 1)),
            "FEND": _num(self.doc.get("fend", 240)),
            "FPS": _num(self.doc.get("fps", 24)),
        }
        for name, value in self.saved_vars.items():
            env = os.environ.get(name)
            values[name] = env if (name in self.overwrite_allowed and env is not None) else value
        if "JOB" not in values:
            values["JOB"] = os.environ.get("JOB", values["HIP"])
        return values

    def getenv(self, name: str) -> str | None:
        values = self.variables()
        if name in values:
            return values[name]
        return os.environ.get(name)

    def expand(self, text: str, frame: float | None = None, node_name: str = "") -> str:
        """Expand ``$VAR``/``${VAR}``, ``$F``, ``$FF``, ``$F2``–``$F9`` and ``$OS`` the way Houdini does;
        unknown variables are left as they are."""
        f = self.frame if frame is None else frame
        values = self.variables()

        def sub(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            pad = _PAD.match(name)
            if pad:
                return f"{round(f):0{int(pad.group(1))}d}"
            if name == "F":
                return str(round(f))
            if name == "FF":
                return _num(f)
            if name == "OS" and node_name:
                return node_name
            if name in values:
                return values[name]
            env = os.environ.get(name)
            return env if env is not None else match.group(0)

        return _VAR.sub(sub, text)


def env_build() -> str:
    """The build the fake install reports (its ``hfsX.Y.Z`` directory name, passed on by the fake hython),
    default the newest release the fake knows."""
    from fake_hou._versions import NEWEST

    return os.environ.get("FAKE_HOUDINI_VERSION") or NEWEST.build


def _env_version() -> tuple[int, int, int]:
    from fake_hou._versions import release

    return release(env_build()).version


def _num(value: Any) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def read_scene(path: str) -> dict[str, Any]:
    """Parse a fake scene file; raises ValueError when the file is not one."""
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    if not isinstance(doc, dict) or doc.get(SCENE_MARKER) != 1:
        raise ValueError(f"{path} is not a fake Houdini scene (no '{SCENE_MARKER}: 1')")
    return doc


SESSION = Session()


def guard() -> None:
    """Real ``hou`` must only be touched from Houdini's main thread; the fake makes a violation loud."""
    if SESSION.enforce_main_thread and threading.current_thread() is not SESSION.main_thread:
        raise RuntimeError(
            f"fake hou: accessed from thread {threading.current_thread().name!r}, not the main thread "
            "(use hdefereval.executeInMainThreadWithResult)"
        )
