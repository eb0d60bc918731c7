"""Where the Houdini glue meets the farm: the node registry, the path map and the job sink.

The three module values below are what every entry point uses to reach the farm; tests (and hosts that
embed Farmhand differently) swap them. No ``hou`` here.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from farmhand.errors import FarmhandError
from farmhand.houdini import pathmap
from farmhand.houdini.preflight import NodeFacts
from farmhand.houdini.sending import ClientSink, JobSink
from farmhand.nodes.registry import NodeState, Registry

log = logging.getLogger(__name__)


def facts_from_registry_node(node: Any) -> NodeFacts:
    """One :class:`farmhand.nodes.registry.Node` as preflight sees it."""
    inventory = node.inventory or {}
    builds = tuple(str(h.get("version", "")) for h in inventory.get("houdini") or () if isinstance(h, dict))
    return NodeFacts(host=node.name, enabled=bool(node.enabled), trusted=node.state is NodeState.TRUSTED,
                     houdini=builds, gpus=len(inventory.get("gpus") or ()))


def registry_nodes() -> list[NodeFacts]:
    """Every node in the registry (an empty list, logged, when the registry cannot be read)."""
    try:
        return [facts_from_registry_node(n) for n in Registry().list()]
    except FarmhandError as exc:
        log.warning("cannot read the node registry: %s", exc)
        return []


#: Where jobs go (the dispatcher's client).
sink_factory: Callable[[], JobSink] = ClientSink
#: The render nodes preflight checks against.
nodes_provider: Callable[[], list[NodeFacts]] = registry_nodes
#: The shares and path-mapping rules.
pathmap_loader: Callable[[], pathmap.PathMap] = pathmap.load
