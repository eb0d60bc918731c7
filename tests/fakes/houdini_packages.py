"""A fake of Houdini's package loader (tests only): applies a package ``.json`` the way Houdini does, so
tests can start from the environment a real Houdini session would have.

Modelled from SideFX's package documentation (https://www.sidefx.com/docs/houdini/ref/plugins.html,
summarised in shared/reference/houdini-facts.md §3.1): ``enable`` (bool or expression), ``env`` (a list of
``{VAR: value}``; a value is a string, a list of ``{"condition": value}`` of which the first true one
applies, or ``{"value": ..., "method": "prepend" | "append" | "replace"}``), ``hpath``/``path`` (added to
``HOUDINI_PATH``), ``$HOUDINI_PACKAGE_PATH`` (the folder holding the .json) and ``$VAR``/``${VAR}``
expanded from what the package set so far, then the outer environment. Expressions compare the
keywords ``houdini_version`` ("21.0", compared as a version), ``houdini_python`` ("python3.11") and
``houdini_os`` ("linux", "macos", "windows") with quoted strings, joined by ``and``/``or``.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_TERM = re.compile(r"^\s*(\w+)\s*(==|!=|>=|<=|>|<)\s*'([^']*)'\s*$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, ">=": operator.ge, "<=": operator.le, ">": operator.gt,
    "<": operator.lt,
}


@dataclass(frozen=True)
class Session:
    """What a package's expressions can ask about the Houdini loading it."""

    houdini_version: str  # "19.5"
    houdini_python: str  # "python3.9"
    houdini_os: str  # "linux"

    def keyword(self, name: str) -> str:
        if name not in ("houdini_version", "houdini_python", "houdini_os"):
            raise ValueError(f"package expression uses unknown keyword {name!r}")
        return str(getattr(self, name))


def evaluate(expression: str, session: Session) -> bool:
    """``houdini_version >= '19.5' and houdini_version < '22.0'`` for ``session``."""
    return any(all(_term(t, session) for t in alt.split(" and ")) for alt in expression.split(" or "))


def _term(text: str, session: Session) -> bool:
    match = _TERM.match(text)
    if match is None:
        raise ValueError(f"cannot read package expression {text!r}")
    name, op, literal = match.groups()
    value: Any = session.keyword(name)
    other: Any = literal
    if name == "houdini_version":
        value, other = _version(value), _version(literal)
    return _OPS[op](value, other)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def apply(package_file: Path, session: Session, environ: Mapping[str, str],
          pathsep: str = ":") -> Optional[dict[str, str]]:
    """The environment after Houdini loaded ``package_file`` over ``environ``; None when not enabled."""
    package = json.loads(package_file.read_text(encoding="utf-8"))
    env = dict(environ)
    env["HOUDINI_PACKAGE_PATH"] = package_file.parent.as_posix()
    enable = package.get("enable", True)
    if (isinstance(enable, str) and not evaluate(enable, session)) or enable is False:
        return None
    for item in package.get("env", []):
        for name, raw in item.items():
            _set(env, name, raw, session, pathsep)
    for key in ("hpath", "path"):
        if key in package:
            paths = package[key] if isinstance(package[key], list) else [package[key]]
            _set(env, "HOUDINI_PATH", {"value": paths, "method": "prepend"}, session, pathsep)
    del env["HOUDINI_PACKAGE_PATH"]
    return env


def _set(env: dict[str, str], name: str, raw: Any, session: Session, pathsep: str) -> None:
    if isinstance(raw, list) and all(isinstance(c, dict) for c in raw):
        matches = [value for case in raw for cond, value in case.items() if evaluate(cond, session)]
        if not matches:
            return
        raw = matches[0]
    method = "replace"
    if isinstance(raw, dict):
        method = str(raw.get("method", "replace"))
        raw = raw["value"]
    values = raw if isinstance(raw, list) else [raw]
    text = pathsep.join(expand(str(v), env) for v in values)
    old = env.get(name, "")
    if method == "prepend" and old:
        text = text + pathsep + old
    elif method == "append" and old:
        text = old + pathsep + text
    env[name] = text


def expand(text: str, env: Mapping[str, str]) -> str:
    """``$VAR``/``${VAR}`` from ``env``; unknown variables stay as written (as Houdini leaves them)."""
    return _VAR.sub(lambda m: env.get(m.group(1) or m.group(2), m.group(0)), text)
