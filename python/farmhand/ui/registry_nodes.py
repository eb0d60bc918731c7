"""The Nodes tab over the node registry (``farmhand.nodes.registry``), discovery, the SSH layer and inventory.

Every method blocks (SQLite, sockets, SSH) and is called from the panel's worker threads. The node
actions are :mod:`farmhand.nodes.actions`, shared with ``farmhand nodes …``, so the panel and the CLI
leave the registry the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Callable, Optional

from farmhand.errors import UsageError
from farmhand.nodes import actions as nodeops
from farmhand.nodes import discovery
from farmhand.nodes.inventory import Inventory
from farmhand.nodes.registry import Node, NodeState, Registry, display_names
from farmhand.nodes.tags import group_names, node_tags
from farmhand.ui.view.backend import ScanProgress
from farmhand.ui.view.records import NodeStatus, NodeView

log = logging.getLogger(__name__)

#: Least seconds between two scan progress reports (each one crosses to the UI thread).
PROGRESS_SECONDS = 0.1


def node_view(node: Node, manual_tags: Sequence[str] = (), shown_as: str = "") -> NodeView:
    """A registry row in the panel's words (job activity is laid over it by the client backend);
    ``shown_as``: the name :func:`farmhand.nodes.registry.display_names` gives it, when not its own."""
    inv = Inventory.from_dict(node.inventory) if node.inventory else None
    if node.state is not NodeState.TRUSTED:
        status, note = NodeStatus.UNTRUSTED, "found by a scan; check and trust its host key"
    elif not node.enabled:
        status, note = NodeStatus.DISABLED, ""
    elif node.last_error:
        status, note = NodeStatus.UNREACHABLE, node.last_error
    elif inv is None:
        status, note = NodeStatus.UNKNOWN, "not probed yet: select it and press Probe"
    else:
        status, note = NodeStatus.IDLE, ""
    return NodeView(
        host=node.name, status=status, address=_address(node, inv), trusted=node.state is NodeState.TRUSTED,
        enabled=node.enabled, cores=inv.cpus_logical if inv else None,
        ram_gb=inv.mem_total_mb / 1024 if inv else None,
        gpus=tuple(g.name for g in inv.gpus) if inv else (),
        houdini=tuple(h.version for h in inv.houdini) if inv else (),
        load=inv.load[0] if inv and inv.load else None, note=note,
        macs=tuple(inv.macs) if inv else (),
        os=" ".join(part for part in (inv.os_name or inv.os, inv.arch) if part) if inv else "",
        share_free_gb=inv.share_free_mb / 1024 if inv and inv.share_free_mb is not None else None,
        probed_at=node.last_seen if inv else None,
        tags=tuple(group_names([node_tags(node.inventory, manual_tags)])),
        shown_as=shown_as if shown_as != node.name else "",
    )


def _address(node: Node, inv: Optional[Inventory]) -> str:
    """The address a wrangler knows the machine by: the recorded one, or, for a node added by a name
    that ``~/.ssh/config`` or DNS resolves, the IPv4 addresses its last probe reported."""
    if node.address != node.name or inv is None:
        return node.address
    found = [ip.split("/")[0] for i in inv.interfaces for ip in i.ipv4 if not ip.startswith("127.")]
    return ", ".join(found) or node.address


class RegistryNodes:
    """:class:`farmhand.ui.view.backend.NodesSource` over this ``FARMHAND_HOME``'s registry."""

    def __init__(self, registry: Optional[Registry] = None, *, share: Optional[str] = None,
                 houdini_roots: Sequence[str] = ()) -> None:
        self._registry = registry
        self.share = nodeops.default_share() if share is None else share
        self.houdini_roots = nodeops.houdini_roots(houdini_roots)

    @property
    def registry(self) -> Registry:
        # Opened on first use, so building the panel never touches the disk on the UI thread.
        if self._registry is None:
            self._registry = Registry()
        return self._registry

    def nodes(self) -> list[NodeView]:
        manual = self.registry.manual_tags()
        listed = self.registry.list()
        # A node a scan registered by its address goes by the host name it reports, as in the CLI.
        shown = display_names(listed)
        return [node_view(node, manual.get(node.name, ()), shown[node.name]) for node in listed]

    def scan(self, spec: str, progress: ScanProgress, cancelled: Callable[[], bool]) -> list[NodeView]:
        spans = discovery.parse_targets(spec.replace(",", " ").split())
        total = discovery.count(spans)
        if total > discovery.BIG_SCAN:
            raise UsageError(f"{spec} is {total} addresses (more than a /16); scan a smaller range, or use "
                             "'farmhand scan --yes' in a terminal")
        checked = reported = 0
        found: list[NodeView] = []
        shown = 0.0
        # Stop (``cancelled``) ends the scan within one probe deadline: nothing new is started, what is in
        # flight finishes and is recorded.
        for result in discovery.scan_iter(discovery.iter_addresses(spans), should_stop=cancelled):
            checked += 1
            if result.state is discovery.ProbeState.SSH:
                found.append(node_view(self.registry.record_discovered(result.address, result.banner)))
            now = time.monotonic()
            if now - shown >= PROGRESS_SECONDS:
                shown, reported = now, checked
                progress(checked, total, len(found))
        if reported != checked:
            progress(checked, total, len(found))
        return found

    def probe(self, host: str) -> NodeView:
        registry = self.registry
        with registry.executor() as executor:
            node = nodeops.probe_node(registry, executor, host, share=self.share,
                                      extra_roots=self.houdini_roots)
        return node_view(node)

    def fingerprint(self, host: str) -> str:
        with self.registry.executor() as executor:
            return nodeops.check_host_key(executor, host).shown

    def trust(self, host: str, fingerprint: str) -> None:
        registry = self.registry
        with registry.executor() as executor:
            nodeops.trust(registry, executor, host, shown=fingerprint)

    def set_enabled(self, host: str, enabled: bool) -> None:
        self.registry.set_enabled(host, enabled)

    def wake(self, host: str) -> None:
        nodeops.wake(self.registry, host)

    def add(self, name: str) -> NodeView:
        return node_view(nodeops.add(self.registry, name))
