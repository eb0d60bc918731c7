"""The Nodes tab over the node registry (``farmhand.registry``), discovery, the SSH layer and inventory.

Every method blocks (SQLite, sockets, SSH) and is called from the panel's worker threads. It follows what
``farmhand nodes …`` and ``farmhand scan`` do, so the panel and the CLI leave the registry the same way.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Callable, Optional

from farmhand import discovery, wol
from farmhand.errors import FarmhandError, NodeError, UsageError
from farmhand.inventory import Inventory
from farmhand.inventory import probe as inventory_probe
from farmhand.registry import Node, NodeState, Registry
from farmhand.ui.backend import ScanProgress
from farmhand.ui.records import NodeStatus, NodeView

log = logging.getLogger(__name__)

#: Addresses probed per round of a scan; the Stop button takes effect between rounds.
SCAN_ROUND = 256


def node_view(node: Node) -> NodeView:
    """A registry row in the panel's words (job activity is laid over it by the client backend)."""
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
        host=node.name, status=status, address=node.address, trusted=node.state is NodeState.TRUSTED,
        enabled=node.enabled, cores=inv.cpus_logical if inv else None,
        ram_gb=inv.mem_total_mb / 1024 if inv else None,
        gpus=tuple(g.name for g in inv.gpus) if inv else (),
        houdini=tuple(h.version for h in inv.houdini) if inv else (),
        load=inv.load[0] if inv and inv.load else None, note=note,
    )


class RegistryNodes:
    """:class:`farmhand.ui.nodes_source.NodesSource` over this ``FARMHAND_HOME``'s registry."""

    def __init__(self, registry: Optional[Registry] = None, *, share: Optional[str] = None,
                 houdini_roots: Sequence[str] = ()) -> None:
        self._registry = registry
        self.share = os.environ.get("FARMHAND_SHARE", "") if share is None else share
        env_roots = [r for r in os.environ.get("FARMHAND_HOUDINI_ROOTS", "").split(os.pathsep) if r]
        self.houdini_roots = [*houdini_roots, *env_roots]

    @property
    def registry(self) -> Registry:
        # Opened on first use, so building the panel never touches the disk on the UI thread.
        if self._registry is None:
            self._registry = Registry()
        return self._registry

    def nodes(self) -> list[NodeView]:
        return [node_view(node) for node in self.registry.list()]

    def scan(self, spec: str, progress: ScanProgress, cancelled: Callable[[], bool]) -> list[NodeView]:
        spans = discovery.parse_targets(spec.replace(",", " ").split())
        total = discovery.count(spans)
        if total > discovery.BIG_SCAN:
            raise UsageError(f"{spec} is {total} addresses (more than a /16); scan a smaller range, or use "
                             "'farmhand scan --yes' in a terminal")
        addresses = discovery.expand(spans)
        checked = 0
        found: list[NodeView] = []
        for start in range(0, len(addresses), SCAN_ROUND):
            if cancelled():
                break
            for result in discovery.scan(addresses[start:start + SCAN_ROUND]):
                checked += 1
                if result.state is discovery.ProbeState.SSH:
                    found.append(node_view(self.registry.record_discovered(result.address, result.banner)))
            progress(checked, total, len(found))
        return found

    def probe(self, host: str) -> NodeView:
        registry = self.registry
        try:
            with registry.executor() as executor:
                inv = inventory_probe(executor, host, share=self.share, extra_roots=self.houdini_roots)
        except FarmhandError as exc:
            if registry.find(host) is not None:
                registry.record_error(host, exc.message)
            raise
        return node_view(registry.record_inventory(host, inv.to_dict()))

    def fingerprint(self, host: str) -> str:
        with self.registry.executor() as executor:
            info = executor.fetch_host_key(host)
        return f"{info.key_type} {info.fingerprint}"

    def trust(self, host: str, fingerprint: str) -> None:
        registry = self.registry
        with registry.executor() as executor:
            info = executor.fetch_host_key(host)
            if f"{info.key_type} {info.fingerprint}" != fingerprint:
                # The key changed between showing it and the click: never trust what was not shown.
                raise NodeError(host, f"its host key is now {info.key_type} {info.fingerprint}, not the "
                                f"{fingerprint} you were shown; not trusted, check the node")
            executor.trust(info)
            address = executor.target(host).hostname
        if registry.find(host) is None:
            registry.add(host, address, state=NodeState.TRUSTED)
        else:
            registry.set_state(host, NodeState.TRUSTED)

    def set_enabled(self, host: str, enabled: bool) -> None:
        self.registry.set_enabled(host, enabled)

    def wake(self, host: str) -> None:
        node = self.registry.get(host)
        inv = Inventory.from_dict(node.inventory) if node.inventory else None
        if inv is None:
            raise NodeError(node.name, "no MAC address recorded: probe the node once while it is up")
        macs = [i.mac for i in inv.interfaces
                if i.mac and any(a.split("/")[0] == node.address for a in i.ipv4)] or inv.macs
        cidrs = [a for i in inv.interfaces for a in i.ipv4]
        wol.send(node.name, macs, [wol.LIMITED_BROADCAST, *wol.directed_broadcasts(cidrs)])

    def add(self, name: str) -> NodeView:
        registry = self.registry
        with registry.executor() as executor:
            known = executor.host_keys.known_types(registry.target(name))
        state = NodeState.TRUSTED if known else NodeState.DISCOVERED
        return node_view(registry.add(name, state=state))
