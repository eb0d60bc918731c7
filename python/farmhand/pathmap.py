"""Which paths the render nodes can see, and under which name (path mapping). Core: no ``hou``, no Qt.

A studio describes its shared storage once, in ``FARMHAND_HOME/pathmap.json``::

    {"shares": ["/mnt/projects", "P:/"],
     "rules": [{"from": "P:/", "to": "/mnt/projects/"}],
     "nodes": {"mac01": [{"from": "/mnt/projects/", "to": "/Volumes/projects/"}]}}

``shares`` are prefixes (as the submitting machine writes them) that every node can read; ``rules``
rewrite a prefix for all nodes, ``nodes`` for one node. Jobs keep paths as the submitter wrote them;
the dispatcher (which runs next to the submitter) maps the scene, output and scripts paths for each node
when it builds that node's command (:meth:`PathMap.to_node`), and gives Houdini on the node the same
rules as ``HOUDINI_PATHMAP`` (:func:`houdini_pathmap`) for the paths saved inside the scene. Windows paths
are compared with ``/`` separators and a case-insensitive drive letter, so ``p:\\shots\\a.hip`` matches
``P:/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from farmhand import paths
from farmhand.errors import ConfigError

_DRIVE = re.compile(r"^([A-Za-z]):(?:[\\/]|$)")
_DRIVE_PREFIX = re.compile(r"^[A-Z]:/")

#: Prefixes that are almost never shared storage; without a configured share list a scene here is flagged.
LOCAL_PREFIXES = ("/tmp/", "/var/tmp/", "/private/tmp/", "C:/Users/", "/Users/", "/home/", "/root/")


def normalise(path: str) -> str:
    """Forward slashes and an upper-case drive letter: ``c:\\a\\b`` → ``C:/a/b``."""
    text = path.replace("\\", "/")
    match = _DRIVE.match(text)
    if match:
        text = match.group(1).upper() + ":/" + text[match.end():]
    # keep a UNC "//server" head, collapse doubled separators elsewhere
    head, tail = (text[:2], text[2:]) if text.startswith("//") else ("", text)
    return head + re.sub("/{2,}", "/", tail)


def _under(path: str, prefix: str) -> bool:
    p, q = normalise(path), normalise(prefix)
    if not q:
        return False
    if _DRIVE.match(q):
        p, q = p[:1].upper() + p[1:], q[:1].upper() + q[1:]
    q = q if q.endswith("/") else q + "/"
    return p == q.rstrip("/") or p.startswith(q)


@dataclass(frozen=True)
class PathRule:
    source: str  # prefix as the submitter sees it
    target: str  # the same place as the node sees it

    def apply(self, path: str) -> Optional[str]:
        if not _under(path, self.source):
            return None
        rest = normalise(path)[len(normalise(self.source).rstrip("/")):].lstrip("/")
        target = normalise(self.target)
        if not rest:
            return target.rstrip("/") or target
        return target.rstrip("/") + "/" + rest


@dataclass(frozen=True)
class PathMap:
    shares: tuple[str, ...] = ()
    rules: tuple[PathRule, ...] = ()
    node_rules: Mapping[str, tuple[PathRule, ...]] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        return bool(self.shares or self.rules or self.node_rules)

    def to_node(self, path: str, host: str = "") -> str:
        """``path`` as ``host`` must open it (unchanged when no rule applies).

        The node's own rules are tried on the path first. Otherwise the first matching general rule
        maps it, and the node's rules are tried again on the result: a node rule may be written for
        the submitter's name of a place (``P:/``) or for the farm's (``/mnt/projects/``).
        """
        own = self.node_rules.get(host, ()) if host else ()
        for rule in own:
            mapped = rule.apply(path)
            if mapped is not None:
                return mapped
        for rule in self.rules:
            mapped = rule.apply(path)
            if mapped is not None:
                for node_rule in own:
                    again = node_rule.apply(mapped)
                    if again is not None:
                        return again
                return mapped
        return normalise(path) if _DRIVE.match(path) or "\\" in path else path

    def has_rules(self, host: str = "") -> bool:
        return bool(self.rules or self.node_rules.get(host))

    def visible(self, path: str, host: str = "") -> Optional[bool]:
        """True when nodes can see ``path``, False when they cannot, None when nothing is configured
        and the path does not look local (the caller can only guess)."""
        if any(_under(path, s) for s in self.shares):
            return True
        if any(_under(path, r.source) for r in (*self.node_rules.get(host, ()), *self.rules)):
            return True
        if self.configured and self.shares:
            return False
        if any(_under(path, p) for p in LOCAL_PREFIXES):
            return False
        return None


def _rules(raw: Any, where: str) -> tuple[PathRule, ...]:
    if not isinstance(raw, list):
        raise ConfigError(f"{where} must be a list of {{\"from\": ..., \"to\": ...}} objects")
    rules = []
    for item in raw:
        if not isinstance(item, dict) or not isinstance(item.get("from"), str) or not isinstance(
            item.get("to"), str
        ):
            raise ConfigError(f"{where}: each rule needs string 'from' and 'to' keys, got {item!r}")
        rules.append(PathRule(item["from"], item["to"]))
    return tuple(rules)


def from_dict(data: Mapping[str, Any], where: str = "path map") -> PathMap:
    shares = data.get("shares", [])
    if not isinstance(shares, list) or not all(isinstance(s, str) for s in shares):
        raise ConfigError(f"{where}: 'shares' must be a list of path prefixes")
    nodes = data.get("nodes", {})
    if not isinstance(nodes, dict):
        raise ConfigError(f"{where}: 'nodes' must map node names to rule lists")
    return PathMap(
        shares=tuple(shares),
        rules=_rules(data.get("rules", []), f"{where} 'rules'"),
        node_rules={str(h): _rules(r, f"{where} node {h!r}") for h, r in nodes.items()},
    )


def default_path() -> Path:
    return paths.home() / "pathmap.json"


def load(path: Optional[Path] = None) -> PathMap:
    """The studio's path map (``FARMHAND_HOME/pathmap.json``); an empty map when there is none."""
    file = path or default_path()
    if not file.exists():
        return PathMap()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{file}: cannot read the path map ({exc}); fix or remove the file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: the path map must be a JSON object")
    return from_dict(data, str(file))


def outside(paths_: Sequence[str], pmap: PathMap) -> list[str]:
    """The paths nodes cannot see (unknown counts as visible: only certain problems are reported)."""
    return [p for p in paths_ if pmap.visible(p) is False]


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
