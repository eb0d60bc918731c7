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

``kind`` is one of ``load``, ``render``, ``licence``, ``missing_file``. The worker is self-contained
(it runs under the node's hython, where Farmhand may not be importable), so it repeats the tiny
encoder below; this module is the reference both sides are tested against.
"""

from __future__ import annotations

import json
from typing import Any, Optional

EVENT_PREFIX = "FARMHAND_EVENT "
EVENTS = frozenset({"ready", "start", "progress", "done", "error", "fatal"})
ERROR_KINDS = frozenset({"load", "render", "licence", "missing_file"})


def render_command(frame: float) -> str:
    return json.dumps({"op": "render", "frame": frame}) + "\n"


def quit_command() -> str:
    return json.dumps({"op": "quit"}) + "\n"


def encode_event(event: str, **fields: Any) -> str:
    if event not in EVENTS:
        raise ValueError(f"unknown worker event {event!r}")
    return EVENT_PREFIX + json.dumps({"event": event, **fields}, sort_keys=True)


def parse_event(line: str) -> Optional[dict[str, Any]]:
    """The event carried by ``line``, or None for ordinary output (and for malformed event lines)."""
    start = line.find(EVENT_PREFIX)
    if start < 0:
        return None
    try:
        obj = json.loads(line[start + len(EVENT_PREFIX):])
    except ValueError:
        return None
    if not isinstance(obj, dict) or obj.get("event") not in EVENTS:
        return None
    return obj
