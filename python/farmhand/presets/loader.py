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
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, Optional

from farmhand import paths
from farmhand.errors import ConfigError, NotFound, UsageError
from farmhand.presets.model import Preset
from farmhand.presets.validate import preset_from_dict

log = logging.getLogger(__name__)

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"
ENV_PATH = "FARMHAND_PRESET_PATH"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_BUILTIN = "builtin:"


def _toml_loads() -> Callable[[str], dict[str, Any]]:
    """``tomllib.loads`` (Python 3.11+) or ``tomli.loads`` (the same reader, for Houdini's 3.9/3.10)."""
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib.loads
    try:
        import tomli  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise ConfigError("reading preset files on Python 3.9/3.10 needs the tomli package; install it "
                          "(pip install tomli, or run scripts/install_farmhand.py for Houdini)") from None
    loads: Callable[[str], dict[str, Any]] = tomli.loads
    return loads


def read_toml(path: Path) -> dict[str, Any]:
    """Parse one TOML file; errors become a :class:`ConfigError` naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read preset file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: preset file is not UTF-8 text") from None
    return loads_toml(text, str(path))


def loads_toml(text: str, where: str) -> dict[str, Any]:
    """Parse TOML ``text``; errors become one :class:`ConfigError` line naming ``where``."""
    loads = _toml_loads()
    try:
        return loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError is a ValueError; its message names line and column
        raise ConfigError(f"{where}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{where}: invalid TOML: nested too deeply") from None


def load_file(path: Path, source: Optional[str] = None, *, probe: bool = True) -> Preset:
    """Read and validate one preset file (its name is the file's stem).

    ``probe`` times its patterns on long lines too (:func:`farmhand.presets.regexcheck.probe`): on for
    user and studio files, off for the built-ins, which the test suite checks.
    """
    name = path.stem
    if not _NAME.match(name):
        raise ConfigError(f"{path}: preset file names must be lower-case letters, digits, '_', '-' or '.'")
    return preset_from_dict(read_toml(path), name, source or str(path), probe=probe)


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
            return load_file(candidate, f"{_BUILTIN}{name}" if builtin else None, probe=not builtin)
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
                found[path.stem] = load_file(path, f"{_BUILTIN}{path.stem}" if builtin else None,
                                             probe=not builtin)
            except ConfigError as exc:
                if errors is None:
                    raise
                log.warning("skipping preset file: %s", exc)
                errors.append(exc)
    return [found[name] for name in sorted(found)]
