"""Path mapping for the Houdini glue: the core module :mod:`farmhand.pathmap`, re-exported, and the same
rules in the form Houdini itself applies them on a node (``HOUDINI_PATHMAP``).

The rules live in the core because the dispatcher applies them per node when it builds each chunk's
command; the glue uses the same code for preflight (is the .hip on a share the nodes can see?).
"""

from __future__ import annotations

import json
import re

from farmhand.pathmap import (
    LOCAL_PREFIXES,
    PathMap,
    PathRule,
    default_path,
    from_dict,
    load,
    normalise,
    outside,
)

_DRIVE_PREFIX = re.compile(r"^[A-Z]:/")


def houdini_pathmap(pmap: PathMap, host: str = "") -> str:
    """``HOUDINI_PATHMAP`` for ``host``: a JSON object from each prefix as the submitter names it to the
    same place as ``host`` names it, built from the rules the dispatcher uses for the .hip
    (:meth:`PathMap.to_node`). With it, absolute paths saved inside the .hip (textures, caches, assets)
    resolve on the node the way the .hip itself does. Prefixes end with ``/``; a Windows drive prefix is
    listed with ``/`` and with ``\\``, as a scene saved on Windows may hold either. "" when no rule
    applies to ``host``."""
    sources = [r.source for r in (*pmap.node_rules.get(host, ()), *pmap.rules)]
    mapping: dict[str, str] = {}
    for source in sources:
        # Both sides end with "/": a prefix must stop at a folder boundary ("/mnt/p/" never maps "/mnt/px").
        key = normalise(source).rstrip("/") + "/"
        target = pmap.to_node(key, host).rstrip("/") + "/"
        if target == key or key in mapping:
            continue
        mapping[key] = target
        if _DRIVE_PREFIX.match(key):
            mapping.setdefault(key.replace("/", "\\"), target)
    return json.dumps(mapping, separators=(",", ":")) if mapping else ""


__all__ = [
    "LOCAL_PREFIXES", "PathMap", "PathRule", "default_path", "from_dict", "houdini_pathmap", "load",
    "normalise", "outside",
]
