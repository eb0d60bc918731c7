"""Path mapping for the Houdini glue: the core module :mod:`farmhand.pathmap`, re-exported.

The rules live in the core because the dispatcher applies them per node when it builds each chunk's
command (and gives Houdini on the node the same rules as ``HOUDINI_PATHMAP``); the glue uses the same
code for preflight (is the .hip on a share the nodes can see?).
"""

from __future__ import annotations

from farmhand.pathmap import (
    LOCAL_PREFIXES,
    PathMap,
    PathRule,
    default_path,
    from_dict,
    houdini_pathmap,
    load,
    normalise,
    outside,
)

__all__ = [
    "LOCAL_PREFIXES", "PathMap", "PathRule", "default_path", "from_dict", "houdini_pathmap", "load",
    "normalise", "outside",
]
