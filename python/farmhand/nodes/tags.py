"""A node's tags: the ones read from its inventory, plus the ones given with ``farmhand nodes tag``.

Tags read from the inventory (``farmhand nodes probe``), so nobody has to keep them up to date:

==================  ==============================================================================
``linux``           the operating system (``linux``, ``macos``, ``windows``)
``x86_64``          the machine architecture as ``uname -m`` names it (``arm64``, ``aarch64`` ...)
``gpu``             at least one GPU was found
``houdini-21``      a Houdini build of that major version; ``houdini-21.0`` and ``houdini-21.0.512``
                    name the release and the exact build
``cores=16``        logical cores; a job asks ``--group cores>=16``
``ram=64``          memory in GB (decimal, rounded); a job asks ``--group ram>=64``
==================  ==============================================================================

Tags given by hand live in the node registry (:meth:`farmhand.nodes.registry.Registry.tag`). Names
are checked by :mod:`farmhand.labels`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from farmhand import labels

_OS = {"linux": "linux", "darwin": "macos", "macos": "macos", "windows": "windows"}
_BUILD = re.compile(r"^([0-9]{1,4})\.([0-9]{1,4})(?:\.([0-9]{1,6}))?")
_ARCH = re.compile(r"^[a-z0-9][a-z0-9_]{0,30}$")


def _os_tag(text: str) -> Optional[str]:
    word = text.strip().lower()
    if word.startswith(("mingw", "msys", "cygwin", "windows")):
        return "windows"
    return _OS.get(word)


def _whole(value: Any) -> int:
    """A count from an inventory (already range-checked when it was parsed); anything else is 0."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def houdini_tags(version: str) -> list[str]:
    """``houdini-21``, ``houdini-21.0`` and ``houdini-21.0.512`` for build ``21.0.512``."""
    match = _BUILD.match(str(version).strip())
    if not match:
        return []
    major, minor, build = match.groups()
    found = [f"houdini-{int(major)}", f"houdini-{int(major)}.{int(minor)}"]
    if build is not None:
        found.append(f"houdini-{int(major)}.{int(minor)}.{int(build)}")
    return found


def auto_tags(inventory: Optional[Mapping[str, Any]]) -> frozenset[str]:
    """The tags a node's inventory (the registry's JSON form) gives it; none before its first probe."""
    if not inventory:
        return frozenset()
    found: list[str] = []
    os_tag = _os_tag(str(inventory.get("os") or ""))
    if os_tag:
        found.append(os_tag)
    arch = str(inventory.get("arch") or "").strip().lower()
    if _ARCH.match(arch):
        found.append(arch)
    if inventory.get("gpus"):
        found.append("gpu")
    for install in inventory.get("houdini") or ():
        if isinstance(install, Mapping):
            found += houdini_tags(str(install.get("version") or ""))
    cores = _whole(inventory.get("cpus_logical")) or _whole(inventory.get("cpus_physical"))
    if cores:
        found.append(labels.fact("cores", cores))
    memory_mb = _whole(inventory.get("mem_total_mb"))
    if memory_mb:
        found.append(labels.fact("ram", round(memory_mb * 1024 * 1024 / 1e9)))
    return frozenset(found)


def node_tags(inventory: Optional[Mapping[str, Any]], manual: Iterable[str] = ()) -> frozenset[str]:
    """Every tag of a node: read from its inventory, and given by hand."""
    return auto_tags(inventory) | frozenset(manual)


def group_names(tag_sets: Iterable[Iterable[str]]) -> list[str]:
    """The groups a menu offers: every tag some node carries (facts left out: they are asked as
    ``cores>=N``), sorted."""
    return sorted({t for tags in tag_sets for t in tags if not labels.is_fact(t)})


def unmatched(groups: Iterable[str], tag_sets: Iterable[Iterable[str]]) -> Optional[str]:
    """None when some node matches every group; else one line saying so, naming the groups that exist."""
    wanted = list(groups)
    sets = [frozenset(t) for t in tag_sets]
    if not wanted or any(labels.groups_match(wanted, tags) for tags in sets):
        return None
    known = group_names(sets)
    alone = [g for g in wanted if not any(labels.group_matches(g, tags) for tags in sets)]
    what = f"group {alone[0]}" if len(alone) == 1 else (
        f"groups {', '.join(alone)}" if alone else f"groups {' + '.join(wanted)} together")
    return (f"no trusted, enabled node is in {what}; groups that exist: {', '.join(known) or 'none'} "
            "(tag nodes with 'farmhand nodes tag HOST TAG', or probe them for gpu/houdini-X.Y tags)")
