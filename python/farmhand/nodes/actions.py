"""Node actions shared by ``farmhand nodes …`` and the panel's Nodes tab: add, remove, trust, probe, wake.

Each action leaves the registry the same way whichever front end called it. The front ends only decide
how to ask (a terminal prompt, a dialog showing the fingerprint) and how to show the result. Everything
here blocks (SQLite, sockets, SSH); no Qt, no ``hou``.

    key = nodeops.check_host_key(executor, "render05")     # what to show before trusting
    node, key = nodeops.trust(registry, executor, "render05", shown=key.shown)
    results = nodeops.probe(registry, executor, ["render05"])  # host -> Inventory | exception, recorded
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Optional, Union

from farmhand.errors import FarmhandError, HostKeyUnknown, NodeError, UsageError
from farmhand.nodes import wol
from farmhand.nodes.inventory import Inventory, probe_many
from farmhand.nodes.registry import Node, NodeState, Registry

if TYPE_CHECKING:
    from farmhand.ssh import HostKeyInfo, HostKeyStore, SSHExecutor

log = logging.getLogger(__name__)

#: Seconds one node's inventory may take before it counts as failed.
PROBE_TIMEOUT = 30.0


def default_share() -> str:
    """The share whose free space a probe reports: ``$FARMHAND_SHARE`` (empty: none)."""
    return os.environ.get("FARMHAND_SHARE", "")


def houdini_roots(extra: Sequence[str] = ()) -> list[str]:
    """Directories holding ``hfs*`` installs to look in besides the usual ones: ``extra`` first, then
    ``$FARMHAND_HOUDINI_ROOTS`` (``os.pathsep``-separated)."""
    env = [r for r in os.environ.get("FARMHAND_HOUDINI_ROOTS", "").split(os.pathsep) if r]
    return [*extra, *env]


def _host_keys() -> HostKeyStore:
    from farmhand.ssh import HostKeyStore

    return HostKeyStore()


# ------------------------------------------------------------------------------------------ add, remove
def add(
    registry: Registry,
    name: str,
    address: Optional[str] = None,
    *,
    port: Optional[int] = None,
    user: Optional[str] = None,
    identity: Optional[str] = None,
    host_keys: Optional[HostKeyStore] = None,
) -> Node:
    """Add (or update) a node: trusted at once when its host key is already known, else discovered.

    Without ``address`` the node's address is what ``name`` resolves to now (``~/.ssh/config``'s HostName,
    else the name itself)."""
    target = registry.target(name)
    target = replace(target, hostname=address or target.hostname, port=port or target.port)
    known = (host_keys or _host_keys()).known_types(target)
    state = NodeState.TRUSTED if known else NodeState.DISCOVERED
    return registry.add(name, target.hostname, port=port, user=user, identity=identity, state=state)


def remove(registry: Registry, name: str, *, host_keys: Optional[HostKeyStore] = None) -> Node:
    """Remove a node and Farmhand's record of its host key (OpenSSH's own files are never written)."""
    target = registry.target(name)
    node = registry.remove(name)
    (host_keys or _host_keys()).forget(target)
    return node


# ------------------------------------------------------------------------------------------ trust
@dataclass(frozen=True)
class HostKeyCheck:
    """A node's presented host key and whether a known_hosts file already trusts it."""

    host: str
    info: HostKeyInfo
    trusted: bool

    @property
    def shown(self) -> str:
        """The key as the user is shown it (``ssh-ed25519 SHA256:…``); compare this, not parts of it."""
        return f"{self.info.key_type} {self.info.fingerprint}"


def check_host_key(executor: SSHExecutor, host: str) -> HostKeyCheck:
    """Fetch ``host``'s key (no login). Raises HostKeyChanged when it differs from the recorded one."""
    info = executor.fetch_host_key(host)
    try:
        executor.host_keys.verify(executor.target(host), info.pkey())
        trusted = True
    except HostKeyUnknown:
        trusted = False
    return HostKeyCheck(host, info, trusted)


def trust(
    registry: Registry,
    executor: SSHExecutor,
    host: str,
    *,
    shown: Optional[str] = None,
    confirm: Optional[Callable[[HostKeyCheck], bool]] = None,
    port: Optional[int] = None,
    user: Optional[str] = None,
    identity: Optional[str] = None,
) -> tuple[Node, HostKeyCheck]:
    """Trust ``host``'s current host key and record the node as trusted (adding it if unknown).

    Args:
        shown: the key the user was shown (:attr:`HostKeyCheck.shown`); if the node now presents another
            one nothing is trusted (NodeError), so a key is never trusted that was not shown.
        confirm: asked with the key before trusting an unknown one; False refuses (UsageError).
        port, user, identity: recorded with a node that is not in the registry yet.
    """
    key = check_host_key(executor, host)
    if shown is not None and key.shown != shown:
        raise NodeError(host, f"its host key is now {key.shown}, not the {shown} you were shown; not "
                        "trusted, check the node")
    if not key.trusted:
        if confirm is not None and not confirm(key):
            raise UsageError(f"{host}: not trusted (answered no)")
        executor.trust(key.info)
        log.info("trusted %s host key %s", host, key.shown)
    existing = registry.find(host)
    if existing is None:
        node = registry.add(host, executor.target(host).hostname, port=port, user=user, identity=identity,
                            state=NodeState.TRUSTED)
    else:
        node = registry.set_state(existing.name, NodeState.TRUSTED)
        if node.last_error and not key.trusted:
            # Recorded while the key was not trusted ("unknown host key … trust it"); the next probe
            # says what is true now. An error of an already trusted node stays.
            node = registry.record_error(node.name, None)
    return node, key


# ------------------------------------------------------------------------------------------ probe
def error_message(host: str, exc: BaseException) -> str:
    """One line for a failed action on ``host`` (Farmhand errors already name the host)."""
    return exc.message if isinstance(exc, FarmhandError) else f"{host}: {exc}"


def probe(
    registry: Registry,
    executor: SSHExecutor,
    hosts: Sequence[str],
    *,
    share: str = "",
    extra_roots: Sequence[str] = (),
    timeout: Optional[float] = PROBE_TIMEOUT,
) -> dict[str, Union[Inventory, BaseException]]:
    """Inventory ``hosts`` in parallel; host → its inventory or the exception it raised.

    Each result is recorded on the host's registry node (inventory, or the error's message); hosts not in
    the registry are probed but not recorded."""
    results = probe_many(executor, hosts, share=share, extra_roots=extra_roots, timeout=timeout)
    out: dict[str, Union[Inventory, BaseException]] = {}
    for host, res in results.items():
        node = registry.find(host)
        if node is not None:
            if isinstance(res, BaseException):
                registry.record_error(node.name, error_message(host, res))
            else:
                registry.record_inventory(node.name, res.to_dict())
        out[host] = res
    return out


def probe_node(
    registry: Registry,
    executor: SSHExecutor,
    host: str,
    *,
    share: str = "",
    extra_roots: Sequence[str] = (),
    timeout: Optional[float] = PROBE_TIMEOUT,
) -> Node:
    """Probe one registry node and return its updated record; the failure is recorded, then raised."""
    res = probe(registry, executor, [host], share=share, extra_roots=extra_roots, timeout=timeout)[host]
    if isinstance(res, BaseException):
        raise res
    return registry.get(host)


# ------------------------------------------------------------------------------------------ wake
def wake(registry: Registry, name: str, broadcasts: Optional[Sequence[str]] = None
         ) -> tuple[Node, list[str], list[str]]:
    """Send a Wake-on-LAN packet to a registry node: returns (node, MACs used, addresses sent to)."""
    node = registry.get(name)
    macs, sent = wol.wake_node(node, broadcasts)
    return node, macs, sent
