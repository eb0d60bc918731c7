"""The line protocol between the dispatcher and the persistent hython worker on a node.

The worker (``python/farmhand/houdini/worker.py``, run by ``hython`` on the node) loads the .hip once and then
reads one JSON object per line on stdin:

    {"op": "render", "frame": 12.0}     render one frame (frames may be fractional or negative)
    {"op": "quit"}                       finish cleanly (closing stdin means the same)

and writes, besides whatever Houdini itself prints, one event line per step on stdout:

    FARMHAND_EVENT {"event": "ready", "hip": "...", "rop": "...", "load_seconds": 4.9, "warnings": [...]}
    FARMHAND_EVENT {"event": "start", "frame": 12.0}
    FARMHAND_EVENT {"event": "progress", "frame": 12.0, "percent": 40.0}
    FARMHAND_EVENT {"event": "done", "frame": 12.0, "seconds": 0.52, "outputs": ["/share/out.0012.exr"]}
    FARMHAND_EVENT {"event": "error", "frame": 12.0, "message": "...", "kind": "render"}
    FARMHAND_EVENT {"event": "fatal", "message": "...", "kind": "load"}   the scene could not be used

``kind`` is one of :data:`ERROR_KINDS`. The worker is self-contained (it runs under the node's hython,
where Farmhand may not be importable), so it repeats the tiny encoder below; this module is the reference
both sides are tested against.

Event lines are honoured only from a preset whose mode is the worker protocol; in any other output they
are ordinary text. Even there an event is data until it checks out: an event line whose JSON is invalid,
holds NaN or infinities, or carries a field of the wrong type or out of range is refused whole
(:func:`parse_event` returns None) and the line is read as ordinary output.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Callable, Optional

from farmhand.presets import lines
from farmhand.presets.failures import FailureKind

EVENT_PREFIX = "FARMHAND_EVENT "
EVENTS = frozenset({"ready", "start", "progress", "done", "error", "fatal"})

#: The worker's error kinds and what each means in Farmhand's failure vocabulary.
ERROR_KINDS: Mapping[str, FailureKind] = {
    "load": FailureKind.SCENE_LOAD,
    "render": FailureKind.UNKNOWN,
    "licence": FailureKind.LICENCE,
    "missing_file": FailureKind.MISSING_FILE,
}

# The longest JSON integer read (more digits than any frame or duration; Python would parse any length).
_MAX_INT_DIGITS = 20
_MAX_SECONDS = 10.0 * 365 * 24 * 3600


def failure_kind(kind: object) -> FailureKind:
    """The failure kind of a worker error ``kind`` (an unknown or missing kind is ``UNKNOWN``)."""
    return ERROR_KINDS.get(kind, FailureKind.UNKNOWN) if isinstance(kind, str) else FailureKind.UNKNOWN


def render_command(frame: float) -> str:
    return json.dumps({"op": "render", "frame": frame}) + "\n"


def quit_command() -> str:
    return json.dumps({"op": "quit"}) + "\n"


def encode_event(event: str, **fields: Any) -> str:
    if event not in EVENTS:
        raise ValueError(f"unknown worker event {event!r}")
    return EVENT_PREFIX + json.dumps({"event": event, **fields}, sort_keys=True)


def _refuse(text: str) -> Any:
    raise ValueError(f"{text} is not a finite number")


def _finite(text: str) -> float:
    value = float(text)
    return value if lines.number(value) is not None else _refuse(text)


def _bounded_int(text: str) -> int:
    return int(text) if len(text.lstrip("-")) <= _MAX_INT_DIGITS else _refuse(text)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_frame(value: object) -> bool:
    return value is None or (_is_number(value) and lines.frame(value) is not None)


def _is_percent(value: object) -> bool:
    return _is_number(value) and lines.percent(value) is not None


def _is_seconds(value: object) -> bool:
    seconds = lines.number(value) if _is_number(value) else None
    return seconds is not None and 0 <= seconds <= _MAX_SECONDS


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _is_texts(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


# What each known field must hold; a field that fails its check refuses the whole event.
_FIELDS: Mapping[str, Callable[[object], bool]] = {
    "frame": _is_frame,
    "percent": _is_percent,
    "seconds": _is_seconds,
    "load_seconds": _is_seconds,
    "outputs": _is_texts,
    "warnings": _is_texts,
    "message": _is_text,
    "kind": _is_text,
    "hip": _is_text,
    "rop": _is_text,
}


def parse_event(line: str) -> Optional[dict[str, Any]]:
    """The event carried by ``line``, or None for ordinary output and for any event line that does not
    check out (invalid JSON, NaN or infinite numbers, huge integers, fields of the wrong type)."""
    start = line.find(EVENT_PREFIX)
    if start < 0:
        return None
    try:
        obj = json.loads(line[start + len(EVENT_PREFIX):], parse_constant=_refuse, parse_float=_finite,
                         parse_int=_bounded_int)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("event"), str) or obj["event"] not in EVENTS:
        return None
    for key, check in _FIELDS.items():
        if key in obj and not check(obj[key]):
            return None
    return obj
