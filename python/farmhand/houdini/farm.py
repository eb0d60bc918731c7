"""Where the Houdini glue meets the farm: the node registry, the path map and the job sink.

The three module values below are what every entry point uses to reach the farm; tests (and hosts that
embed Farmhand differently) swap them. No ``hou`` here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable

from farmhand.errors import FarmhandError
from farmhand.houdini import pathmap
from farmhand.houdini.preflight import NodeFacts
from farmhand.nodes.registry import NodeState, Registry

if TYPE_CHECKING:
    from farmhand.houdini.submit import JobSink

log = logging.getLogger(__name__)


def facts_from_registry_node(node: Any) -> NodeFacts:
    """One :class:`farmhand.nodes.registry.Node` as preflight sees it."""
    inventory = node.inventory or {}
    builds = tuple(str(h.get("version", "")) for h in inventory.get("houdini") or () if isinstance(h, dict))
    return NodeFacts(host=node.name, enabled=bool(node.enabled), trusted=node.state is NodeState.TRUSTED,
                     houdini=builds)


def registry_nodes() -> list[NodeFacts]:
    """Every node in the registry (an empty list, logged, when the registry cannot be read)."""
    try:
        return [facts_from_registry_node(n) for n in Registry().list()]
    except FarmhandError as exc:
        log.warning("cannot read the node registry: %s", exc)
        return []


def client_sink() -> JobSink:
    """The dispatcher's client (imported here, so this module stays free of ``hou``)."""
    from farmhand.houdini.submit import ClientSink

    return ClientSink()


#: Where jobs go.
sink_factory: Callable[[], JobSink] = client_sink
#: The render nodes preflight checks against.
nodes_provider: Callable[[], list[NodeFacts]] = registry_nodes
#: The shares and path-mapping rules.
pathmap_loader: Callable[[], pathmap.PathMap] = pathmap.load
