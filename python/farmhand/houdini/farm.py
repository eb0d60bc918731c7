"""What the farm side knows, as plain values for preflight: the registry's nodes. No ``hou`` here."""

from __future__ import annotations

import logging
from typing import Any

from farmhand.errors import FarmhandError
from farmhand.houdini.preflight import NodeFacts

log = logging.getLogger(__name__)


def facts_from_registry_node(node: Any) -> NodeFacts:
    """One :class:`farmhand.nodes.registry.Node` as preflight sees it."""
    inventory = node.inventory or {}
    builds = tuple(str(h.get("version", "")) for h in inventory.get("houdini") or () if isinstance(h, dict))
    state = getattr(node.state, "value", node.state)
    return NodeFacts(host=node.name, enabled=bool(node.enabled), trusted=state == "trusted", houdini=builds)


def registry_nodes() -> list[NodeFacts]:
    """Every node in the registry (an empty list, logged, when the registry cannot be read)."""
    try:
        from farmhand.nodes.registry import Registry

        return [facts_from_registry_node(n) for n in Registry().list()]
    except FarmhandError as exc:
        log.warning("cannot read the node registry: %s", exc)
        return []
