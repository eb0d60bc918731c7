"""A parsed preset file checked key by key and turned into a :class:`~farmhand.presets.model.Preset`.

Every error is one :class:`~farmhand.errors.ConfigError` line: ``SOURCE: KEY: what is wrong`` and, where
it helps, what to write instead. Regular expressions are checked for catastrophic backtracking
(:mod:`farmhand.presets.regexcheck`) before a renderer's output ever meets them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any, Optional, TypeVar

from farmhand import labels
from farmhand.errors import ConfigError, UsageError
from farmhand.presets import regexcheck
from farmhand.presets.failures import FailureKind
from farmhand.presets.model import (
    PLACEHOLDERS,
    ArgTemplate,
    OutputSyntax,
    Preset,
    PresetMode,
    ProgressScope,
    placeholders_in,
)

TOP_KEYS = frozenset({"name", "description", "argv", "mode", "splittable", "needs_houdini", "progress_scope",
                      "output_syntax", "integer_frames", "integer_step", "negative_frames", "needs_command",
                      "patterns", "errors", "params", "groups", "limits", "env", "outputs_images"})
#: ``[patterns]`` keys and the :class:`Preset` fields they fill.
PATTERN_KEYS = {"progress": "progress_patterns", "frame_start": "frame_start_patterns",
                "frame_done": "frame_done_patterns", "output": "output_patterns",
                "exit_zero_is_not_success_when": "exit_zero_is_not_success_when"}
_FLAGS = ("splittable", "needs_houdini", "integer_frames", "integer_step", "negative_frames",
          "outputs_images")
_DEFAULT_FLAGS = {"splittable": True, "negative_frames": True}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

E = TypeVar("E", bound=Enum)


def _key(text: str) -> str:
    """A key as it can be shown on one line (quoted when it is not a plain name)."""
    return text if _IDENTIFIER.match(text) else repr(text[:60])


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _bool(where: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {key} must be true or false, not {_shown(value)}")
    return value


def _enum(where: str, key: str, value: Any, kind: type[E]) -> E:
    allowed = [member.value for member in kind]
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"{where}: {key} must be one of {', '.join(allowed)}, not {_shown(value)}")
    return kind(value)


def _regexes(where: str, key: str, value: Any, probe: bool) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of regular expressions (strings)")
    for pattern in value:
        problem = regexcheck.problem(pattern, probe)
        if problem is not None:
            raise ConfigError(f"{where}: {key}: {_shown(pattern)} {problem}")
    return tuple(value)


def _check_groups(where: str, key: str, regexes: Sequence[str], needed: Sequence[set[str]],
                  example: str) -> None:
    """A pattern whose match carries no value would be silently useless: it needs one of the ``needed``
    sets of named groups, or a single plain group."""
    for pattern in regexes:
        compiled = re.compile(pattern)
        names = set(compiled.groupindex)
        if any(group <= names for group in needed) or (not names and compiled.groups >= 1):
            continue
        raise ConfigError(f"{where}: patterns.{key}: {_shown(pattern)} captures nothing Farmhand can use; "
                          f"add {example} (or one plain group)")


def _top(where: str, data: Mapping[str, Any], name: str) -> str:
    """Checks the top-level keys and the name; returns the description."""
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0][:60]!r}; allowed: {', '.join(sorted(TOP_KEYS))}")
    if "name" in data and data["name"] != name:
        raise ConfigError(f"{where}: name {_shown(data['name'])} must match the file name {name!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{where}: description must be a string")
    return description


def _params(where: str, raw: Any) -> tuple[tuple[str, Optional[str]], ...]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [params] must be a table of name = \"default\"")
    params: list[tuple[str, Optional[str]]] = []
    for key, default in raw.items():
        if key in PLACEHOLDERS or not _IDENTIFIER.match(key):
            raise ConfigError(f"{where}: params.{_key(key)}: not a usable parameter name")
        number = isinstance(default, (int, float)) and not isinstance(default, bool)
        usable = isinstance(default, str) or (number and math.isfinite(default))
        if not usable:
            raise ConfigError(f"{where}: params.{key}: default must be a string or a finite number "
                              "(\"\" = none)")
        text = str(default)
        params.append((key, text if text != "" else None))
    return tuple(params)


def _argv(where: str, raw: Any, known: set[str], needs_command: bool) -> tuple[ArgTemplate, ...]:
    if not isinstance(raw, list) or (not raw and not needs_command):
        raise ConfigError(f"{where}: argv must be a non-empty list of strings")
    argv: list[ArgTemplate] = []
    for i, arg in enumerate(raw):
        parts = arg if isinstance(arg, list) else [arg]
        if not parts or not all(isinstance(p, str) for p in parts):
            raise ConfigError(f"{where}: argv[{i}] must be a string or a list of strings (an optional group)")
        for part in parts:
            for placeholder in placeholders_in(part):
                if placeholder not in known:
                    raise ConfigError(f"{where}: argv[{i}]: unknown placeholder {{{placeholder}}}; known: "
                                      + " ".join(f"{{{p}}}" for p in sorted(known)))
        argv.append(tuple(parts) if isinstance(arg, list) else arg)
    return tuple(argv)


def _patterns(where: str, raw: Any, probe: bool) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [patterns] must be a table")
    bad = sorted(set(raw) - set(PATTERN_KEYS))
    if bad:
        raise ConfigError(f"{where}: patterns.{_key(bad[0])}: unknown; allowed: {', '.join(PATTERN_KEYS)}")
    fields = {field: _regexes(where, f"patterns.{key}", raw.get(key, []), probe)
              for key, field in PATTERN_KEYS.items()}
    _check_groups(where, "progress", fields["progress_patterns"], ({"percent"}, {"done", "total"}),
                  "(?P<percent>...) or (?P<done>...)/(?P<total>...)")
    _check_groups(where, "output", fields["output_patterns"], ({"path"},), "(?P<path>...)")
    return fields


def _errors(where: str, raw: Any, probe: bool) -> tuple[tuple[str, FailureKind], ...]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [errors] must be a table of kind = [regex, ...]")
    found: list[tuple[str, FailureKind]] = []
    for kind, regexes in raw.items():
        failure_kind = _enum(where, f"errors.{_key(kind)}", kind, FailureKind)
        found.extend((p, failure_kind) for p in _regexes(where, f"errors.{kind}", regexes, probe))
    return tuple(found)


_Farm = tuple[tuple[str, ...], tuple[str, ...], tuple[tuple[str, str], ...]]  # groups, limits, env


def _farm(where: str, data: Mapping[str, Any]) -> _Farm:
    """``groups`` and ``limits`` (lists of names) and the ``[env]`` table, checked by farmhand.labels."""
    found: dict[str, Any] = {}
    try:
        for key, check in (("groups", labels.group), ("limits", labels.limit_name)):
            raw = data.get(key, [])
            if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
                raise ConfigError(f"{where}: {key} must be a list of names, e.g. [\"gpu\"]")
            found[key] = labels.names(raw, check)
        env = data.get("env", {})
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise ConfigError(f"{where}: [env] must be a table of NAME = \"value\" (strings)")
        found["env"] = labels.env(env)
    except UsageError as exc:
        raise ConfigError(f"{where}: {exc.message}") from None
    return found["groups"], found["limits"], found["env"]


def preset_from_dict(data: Mapping[str, Any], name: str, source: str, *, probe: bool = True) -> Preset:
    """Validate a parsed preset file and build the :class:`Preset`.

    Args:
        data: the parsed TOML document.
        name: the preset's name (its file's stem).
        source: where it came from, named in every error (a path, or ``builtin:NAME``).
        probe: also time each pattern on long adversarial lines (:func:`regexcheck.probe`); the
            static checks always run.

    Raises:
        ConfigError: one line: ``SOURCE: KEY: what is wrong``.
    """
    where = source
    description = _top(where, data, name)
    params = _params(where, data.get("params", {}))
    needs_command = _bool(where, "needs_command", data.get("needs_command", False))
    argv = _argv(where, data.get("argv", []), {*PLACEHOLDERS, *(k for k, _ in params)}, needs_command)
    flags = {key: _bool(where, key, data.get(key, _DEFAULT_FLAGS.get(key, False))) for key in _FLAGS}
    groups, limits, env = _farm(where, data)
    return Preset(
        name=name,
        description=description,
        argv=argv,
        mode=_enum(where, "mode", data.get("mode", PresetMode.CHUNK.value), PresetMode),
        progress_scope=_enum(where, "progress_scope", data.get("progress_scope", ProgressScope.FRAME.value),
                             ProgressScope),
        output_syntax=_enum(where, "output_syntax", data.get("output_syntax", OutputSyntax.AS_IS.value),
                            OutputSyntax),
        params=params,
        needs_command=needs_command,
        splittable=flags["splittable"],
        needs_houdini=flags["needs_houdini"],
        integer_frames=flags["integer_frames"],
        integer_step=flags["integer_step"],
        negative_frames=flags["negative_frames"],
        outputs_images=flags["outputs_images"],
        error_patterns=_errors(where, data.get("errors", {}), probe),
        groups=groups,
        limits=limits,
        env=env,
        source=source,
        **_patterns(where, data.get("patterns", {}), probe),
    )
