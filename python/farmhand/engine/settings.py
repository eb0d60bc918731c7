"""The dispatcher's thresholds, read from ``FARMHAND_HOME/dispatcher.json`` and checked at the edge.

Every key is optional; each section is one value object::

    {"retry":  {"max_attempts": 4, "stall_floor": 120, ...},      # farmhand.jobs.Retry
     "policy": {"target_chunk_seconds": 180, ...},                # farmhand.engine.scheduler.Policy
     "verify": {"grace_seconds": 75, "quiet_seconds": 2, ...},    # Verification (below)
     "store":  {"url": "postgresql://…",                         # the farm database (docs/team.md)
                "keep_days": 14, "log_mb": 64, ...}}              # farmhand.engine.store.retention.Retention

A value is a finite number in its range (a whole number where the field is a count), so a typo, a string,
``NaN``, ``Infinity`` or a 22-digit number is refused here in one line naming the file and the key,
instead of inside a running dispatcher.

``store.url`` (or ``"store": "postgresql://…"`` when no threshold is set) names a team farm's PostgreSQL
database for every process of this ``FARMHAND_HOME``; ``FARMHAND_STORE`` in the environment, when set,
wins over it (see :func:`farmhand.engine.store.backend.store_url`). Its password is never shown.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, NamedTuple, Optional, TypeVar

from farmhand import paths
from farmhand.engine.pg.url import parse as parse_url
from farmhand.engine.pg.url import redact
from farmhand.engine.scheduler import Policy
from farmhand.engine.store.retention import Retention
from farmhand.errors import ConfigError
from farmhand.jobs import Retry

#: The largest number any setting takes (a billion seconds is 31 years; a billion frames or rows is
#: beyond any farm).
MAX_SETTING = 1e9


@dataclasses.dataclass(frozen=True)
class Verification:
    """When a frame's outputs are checked, and how long a missing file is looked for.

    Attributes:
        quiet_seconds: a frame reported done is checked once its process started the next frame, ended,
            or printed nothing for this long (renderers print "100%" before they close the file).
        grace_seconds: a missing output is looked for again, with fresh directory lookups, for this long
            before the frame fails (NFS clients cache attributes and listings for up to 60 s by default).
        recheck_seconds: the first pause between two looks; it doubles up to ``max_recheck_seconds``.
        max_recheck_seconds: the longest pause between two looks.
    """

    quiet_seconds: float = 2.0
    grace_seconds: float = 75.0
    recheck_seconds: float = 1.0
    max_recheck_seconds: float = 10.0


class Settings(NamedTuple):
    retry: Retry
    policy: Policy
    verify: Verification
    store: Retention


SECTIONS: dict[str, type[Any]] = {
    "retry": Retry, "policy": Policy, "verify": Verification, "store": Retention,
}
#: Sections read by other modules (``notify``: :mod:`farmhand.engine.hooks`), allowed here.
OTHER_SECTIONS = ("notify",)
#: The key of the ``store`` section that is no retention threshold: the farm database's URL.
URL_KEY = "url"


def settings_path() -> Path:
    return paths.home() / "dispatcher.json"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def load_settings(path: Optional[Path] = None) -> Settings:
    """The thresholds of ``path`` (default ``FARMHAND_HOME/dispatcher.json``; absent: the defaults).

    Raises:
        ConfigError: the file is not valid JSON, or a key or value is not one this version takes.
    """
    path = path or settings_path()
    data = read(path)
    store_setting(path, data)
    values = {name: data.get(name, {}) for name in SECTIONS}
    if isinstance(values["store"], str):
        values["store"] = {}  # the URL alone: every retention threshold at its default
    return Settings(*(section(path, name, cls, values[name], also=(URL_KEY,) if name == "store" else ())
                      for name, cls in SECTIONS.items()))


def store_setting(path: Optional[Path] = None, data: Optional[dict[str, Any]] = None) -> Optional[str]:
    """The farm database URL of ``dispatcher.json`` (``store.url``, or ``store`` as a string), or None.

    Raises:
        ConfigError: the file is unreadable, or the URL is not a ``postgresql://`` URL libpq would take
            (one line naming the key, the password hidden).
    """
    path = path or settings_path()
    store = (read(path) if data is None else data).get("store")
    key = "store"
    if isinstance(store, dict):
        store, key = store.get(URL_KEY), f"store.{URL_KEY}"
    if store is None:
        return None
    if not isinstance(store, str) or not store.strip():
        raise ConfigError(f"{path}: {key} must be a postgresql://… URL naming the farm database, not "
                          f"{json.dumps(store)[:30]} (leave it out for the SQLite store in FARMHAND_HOME)")
    try:
        parse_url(store.strip())
    except ConfigError as exc:
        raise ConfigError(f"{path}: {key}: {redact(str(exc))}; see docs/team.md") from None
    return store.strip()


def read(path: Path) -> dict[str, Any]:
    """The file's JSON object (empty when there is no file).

    Raises:
        ConfigError: not valid JSON, a NaN or Infinity in it, or keys that are no section.
    """
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
    except (OSError, ValueError, RecursionError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); see docs/jobs.md#thresholds") from None
    known = (*SECTIONS, *OTHER_SECTIONS)
    if not isinstance(data, dict) or set(data) - set(known):
        raise ConfigError(f"{path}: write an object with the keys {', '.join(repr(k) for k in known)} "
                          "(each optional); see docs/jobs.md#thresholds")
    return data


_T = TypeVar("_T")


def section(path: Path, name: str, cls: type[_T], values: Any, also: tuple[str, ...] = ()) -> _T:
    """``cls`` from a JSON object: known keys only, each a finite number in range (a whole number >= 1
    for counts). Keys in ``also`` are checked elsewhere and skipped here."""
    fields = {f.name: f.type for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    names = ", ".join((*also, *fields))
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: '{name}' must be an object of {names}")
    values = {key: value for key, value in values.items() if key not in also}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"{path}: {name}.{key} is not a setting; use one of {names}")
        whole = fields[key] in (int, "int")
        least = 1 if whole else 0
        kind = "a whole number" if whole else "a number"
        number = not isinstance(value, bool) and isinstance(value, int if whole else (int, float))
        if not number or not math.isfinite(value) or not least <= value <= MAX_SETTING:
            shown = json.dumps(value) if len(json.dumps(value)) <= 30 else json.dumps(value)[:30] + "..."
            raise ConfigError(f"{path}: {name}.{key} must be {kind} from {least} to {MAX_SETTING:g}, "
                              f"not {shown}")
    return cls(**values)
