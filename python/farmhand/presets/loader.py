"""Finding, reading and validating preset files.

Presets are looked up by name in this order, the first match winning:

1. ``FARMHAND_HOME/presets/NAME.toml`` (the artist's own),
2. each directory in ``FARMHAND_PRESET_PATH`` (``os.pathsep``-separated; a studio share),
3. the built-ins shipped in ``farmhand/presets/builtin/``.

So a studio can override a built-in (say, a different ``hrender`` line) without touching Farmhand.
A file's name is its preset's name; errors in a file are one line naming the file, the key and the fix.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Callable, Optional

from farmhand import paths
from farmhand.errors import ConfigError, NotFound, UsageError
from farmhand.presets import minitoml
from farmhand.presets.failures import FailureKind
from farmhand.presets.model import (
    PLACEHOLDERS,
    OutputSyntax,
    Preset,
    PresetMode,
    ProgressScope,
    placeholders_in,
)

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
ENV_PATH = "FARMHAND_PRESET_PATH"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")

_TOP_KEYS = {"name", "description", "argv", "mode", "splittable", "needs_houdini", "progress_scope",
             "output_syntax", "integer_frames", "integer_step", "negative_frames", "needs_command",
             "patterns", "errors", "params"}
_PATTERN_KEYS = {"progress": "progress_patterns", "frame_start": "frame_start_patterns",
                 "frame_done": "frame_done_patterns", "output": "output_patterns",
                 "exit_zero_is_not_success_when": "exit_zero_is_not_success_when"}


def _toml_parser() -> tuple[Optional[Callable[[str], dict[str, Any]]], str]:
    try:
        import tomllib

        return tomllib.loads, "tomllib"
    except ImportError:
        pass
    try:
        import tomli  # type: ignore[import-not-found,unused-ignore]

        return tomli.loads, "tomli"  # type: ignore[no-any-return,unused-ignore]
    except ImportError:
        return None, "minitoml"


_LOADS, _PARSER_NAME = _toml_parser()


def read_toml(path: Path) -> dict[str, Any]:
    """Parse one TOML file; errors become a :class:`ConfigError` naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read preset file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: preset file is not UTF-8 text") from None
    if _LOADS is not None:
        try:
            return _LOADS(text)
        except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    try:
        return minitoml.loads(text)
    except minitoml.TomlSubsetError as exc:
        raise ConfigError(f"{path}: {exc} (this Python has no tomllib; `pip install tomli` reads full TOML)"
                          ) from None


def _strings(where: str, key: str, value: Any, *, regex: bool = False) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of strings")
    if regex:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"{where}: {key}: invalid regular expression {pattern!r} ({exc})") from None
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
        raise ConfigError(f"{where}: patterns.{key}: {pattern!r} captures nothing Farmhand can use; "
                          f"add {example} (or one plain group)")


def _bool(where: str, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {key} must be true or false, not {value!r}")
    return value


def _choice(where: str, key: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ConfigError(f"{where}: {key} must be one of {', '.join(allowed)}, not {value!r}")
    return str(value)


def preset_from_dict(data: Mapping[str, Any], name: str, source: str) -> Preset:
    """Validate a parsed preset file and build the :class:`Preset`.

    Raises:
        ConfigError: one line: ``SOURCE: KEY: what is wrong``.
    """
    where = source
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(_TOP_KEYS))}")
    if "name" in data and data["name"] != name:
        raise ConfigError(f"{where}: name {data['name']!r} must match the file name {name!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{where}: description must be a string")

    params_raw = data.get("params", {})
    if not isinstance(params_raw, dict):
        raise ConfigError(f"{where}: [params] must be a table of name = \"default\"")
    params: list[tuple[str, Optional[str]]] = []
    for key, default in params_raw.items():
        if key in PLACEHOLDERS or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise ConfigError(f"{where}: params.{key}: not a usable parameter name")
        if not isinstance(default, (str, int, float)) or isinstance(default, bool):
            raise ConfigError(f"{where}: params.{key}: default must be a string or number (\"\" = none)")
        text = str(default)
        params.append((key, text if text != "" else None))
    known = set(PLACEHOLDERS) | {k for k, _ in params}

    needs_command = _bool(where, "needs_command", data.get("needs_command", False))
    argv_raw = data.get("argv", [])
    if not isinstance(argv_raw, list) or (not argv_raw and not needs_command):
        raise ConfigError(f"{where}: argv must be a non-empty list of strings")
    argv: list[Any] = []
    for i, arg in enumerate(argv_raw):
        parts = arg if isinstance(arg, list) else [arg]
        if not parts or not all(isinstance(p, str) for p in parts):
            raise ConfigError(f"{where}: argv[{i}] must be a string or a list of strings (an optional group)")
        for part in parts:
            for placeholder in placeholders_in(part):
                if placeholder not in known:
                    raise ConfigError(f"{where}: argv[{i}]: unknown placeholder {{{placeholder}}}; known: "
                                      + " ".join(f"{{{p}}}" for p in sorted(known)))
        argv.append(tuple(parts) if isinstance(arg, list) else arg)

    patterns = data.get("patterns", {})
    if not isinstance(patterns, dict):
        raise ConfigError(f"{where}: [patterns] must be a table")
    bad = sorted(set(patterns) - set(_PATTERN_KEYS))
    if bad:
        raise ConfigError(f"{where}: patterns.{bad[0]}: unknown; allowed: {', '.join(_PATTERN_KEYS)}")
    pattern_fields = {field: _strings(where, f"patterns.{key}", patterns.get(key, []), regex=True)
                      for key, field in _PATTERN_KEYS.items()}
    _check_groups(where, "progress", pattern_fields["progress_patterns"], ({"percent"}, {"done", "total"}),
                  "(?P<percent>...) or (?P<done>...)/(?P<total>...)")
    _check_groups(where, "output", pattern_fields["output_patterns"], ({"path"},), "(?P<path>...)")

    errors_raw = data.get("errors", {})
    if not isinstance(errors_raw, dict):
        raise ConfigError(f"{where}: [errors] must be a table of kind = [regex, ...]")
    error_patterns: list[tuple[str, FailureKind]] = []
    kinds = [k.value for k in FailureKind]
    for kind, regexes in errors_raw.items():
        _choice(where, f"errors.{kind}", kind, kinds)
        error_patterns.extend((p, FailureKind(kind)) for p in _strings(where, f"errors.{kind}", regexes,
                                                                        regex=True))

    mode = PresetMode(_choice(where, "mode", data.get("mode", "chunk"), [m.value for m in PresetMode]))
    return Preset(
        name=name,
        description=description,
        argv=tuple(argv),
        splittable=_bool(where, "splittable", data.get("splittable", True)),
        mode=mode,
        needs_houdini=_bool(where, "needs_houdini", data.get("needs_houdini", False)),
        progress_scope=ProgressScope(_choice(where, "progress_scope", data.get("progress_scope", "frame"),
                                             [s.value for s in ProgressScope])),
        output_syntax=OutputSyntax(_choice(where, "output_syntax", data.get("output_syntax", "as_is"),
                                           [s.value for s in OutputSyntax])),
        integer_frames=_bool(where, "integer_frames", data.get("integer_frames", False)),
        integer_step=_bool(where, "integer_step", data.get("integer_step", False)),
        negative_frames=_bool(where, "negative_frames", data.get("negative_frames", True)),
        params=tuple(params),
        needs_command=needs_command,
        error_patterns=tuple(error_patterns),
        source=source,
        **pattern_fields,
    )


def load_file(path: Path, source: Optional[str] = None) -> Preset:
    """Read and validate one preset file (its name is the file's stem)."""
    name = path.stem
    if not _NAME.match(name):
        raise ConfigError(f"{path}: preset file names must be lower-case letters, digits, '_', '-' or '.'")
    return preset_from_dict(read_toml(path), name, source or str(path))


def user_dirs() -> list[Path]:
    """The user and studio preset directories, highest priority first."""
    dirs = [paths.presets_dir()]
    for entry in os.environ.get(ENV_PATH, "").split(os.pathsep):
        if entry.strip():
            dirs.append(Path(entry.strip()).expanduser())
    return dirs


def _search(search_dirs: Optional[Sequence[Path]]) -> list[tuple[Path, bool]]:
    dirs = list(search_dirs) if search_dirs is not None else user_dirs()
    return [(Path(d), False) for d in dirs] + [(BUILTIN_DIR, True)]


def load_preset(name: str, search_dirs: Optional[Sequence[Path]] = None) -> Preset:
    """The preset called ``name`` (user and studio directories first, then the built-ins).

    Raises:
        UsageError: ``name`` is not a valid preset name.
        NotFound: no such preset (the message lists the available ones).
        ConfigError: the preset file is invalid.
    """
    if not _NAME.match(name):
        raise UsageError(f"preset name {name!r} is invalid; use lower-case letters, digits, '_', '-' or '.'")
    for directory, builtin in _search(search_dirs):
        candidate = directory / f"{name}.toml"
        if candidate.is_file():
            return load_file(candidate, f"builtin:{name}" if builtin else None)
    available = ", ".join(p.name for p in list_presets(search_dirs, errors=[]))
    raise NotFound(f"no preset named {name!r}; available: {available}")


def list_presets(search_dirs: Optional[Sequence[Path]] = None,
                 errors: Optional[list[ConfigError]] = None) -> list[Preset]:
    """Every preset by name (a user or studio file hides a built-in of the same name), sorted.

    Invalid files raise :class:`ConfigError`, unless ``errors`` is given: then they are appended to it and
    skipped, so one broken file on the share does not hide every other preset.
    """
    found: dict[str, Preset] = {}
    for directory, builtin in _search(search_dirs):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.toml")):
            if path.stem in found:
                continue
            try:
                found[path.stem] = load_file(path, f"builtin:{path.stem}" if builtin else None)
            except ConfigError as exc:
                if errors is None:
                    raise
                log.warning("skipping preset file: %s", exc)
                errors.append(exc)
    return [found[name] for name in sorted(found)]


def parser_name() -> str:
    """Which TOML reader is in use: ``tomllib``, ``tomli`` or ``minitoml`` (the built-in subset)."""
    return _PARSER_NAME
