"""The Houdini releases the fake stands in for, and how their ``hou`` differs where Farmhand notices.

Each difference here is listed, with its public source, in ``docs/houdini.md`` ("Houdini versions").
The in-process tests run once per release (``tests/houdini/conftest.py``); the fake installs in
``tests/fakes/hfs/hfsX.Y.Z`` apply the release their directory names.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Optional


@dataclass(frozen=True)
class Release:
    """One Houdini release as Farmhand sees it."""

    build: str  # "19.5.805"
    python: str  # the Python hython embeds, "3.9"
    qt: str  # the Qt binding Houdini ships, "PySide2"
    absent: tuple[str, ...] = ()  # hou names this release does not have
    husk_fails_with_exit_code: bool = True  # husk exits non-zero after an error

    @property
    def version(self) -> tuple[int, int, int]:
        major, minor, build = (int(p) for p in self.build.split("."))
        return major, minor, build

    @property
    def major_minor(self) -> str:
        return ".".join(self.build.split(".")[:2])


#: The OpNode family arrived in Houdini 20.0 (APEX nodes are hou.Node too, but not operators).
_OP_NODE_NAMES = ("OpNode", "OpNodeType", "OpNodeTypeCategory")

RELEASES: tuple[Release, ...] = (
    Release("19.5.805", "3.9", "PySide2", absent=_OP_NODE_NAMES, husk_fails_with_exit_code=False),
    Release("20.0.751", "3.10", "PySide2", husk_fails_with_exit_code=False),
    Release("20.5.487", "3.11", "PySide2"),
    Release("21.0.512", "3.11", "PySide6"),
)
BUILDS = tuple(r.build for r in RELEASES)
NEWEST = RELEASES[-1]


def release(build: str) -> Release:
    """The release of ``build`` ("19.5.805"; another build of a known X.Y gets that X.Y's API)."""
    for known in RELEASES:
        if known.build == build:
            return known
    prefix = ".".join(build.split(".")[:2])
    for known in RELEASES:
        if known.major_minor == prefix:
            return Release(build, known.python, known.qt, known.absent, known.husk_fails_with_exit_code)
    raise ValueError(f"fake hou knows Houdini {', '.join(BUILDS)}, not {build!r}")


def apply(module: ModuleType, chosen: Release, full_api: dict[str, Any]) -> None:
    """Give ``module`` (the fake ``hou``) exactly the names ``chosen`` has: a name another release lacks
    comes back from ``full_api``."""
    for name in _all_absent():
        if name in chosen.absent:
            if hasattr(module, name):
                delattr(module, name)
        elif name in full_api:
            setattr(module, name, full_api[name])


def _all_absent() -> set[str]:
    return {name for r in RELEASES for name in r.absent}


def hou_module() -> Optional[ModuleType]:
    """The module product code imports as ``hou`` (the one-line re-export), once imported."""
    return sys.modules.get("hou")
