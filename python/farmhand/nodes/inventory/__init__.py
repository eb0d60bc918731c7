"""Node inventory: one SSH exec per node, fanned out, parsed into :class:`Inventory`.

    from farmhand.nodes.inventory import probe, probe_many, Inventory
    inv = probe(executor, "render01", share="/mnt/projects", extra_roots=["/tools/houdini"])
    results = probe_many(executor, hosts, share=...)     # host -> Inventory | exception
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Optional

from farmhand.errors import NodeError
from farmhand.nodes.inventory.model import (
    Gpu,
    HoudiniInstall,
    Interface,
    Inventory,
    InventoryParseError,
    normalise_mac,
    parse,
)
from farmhand.nodes.inventory.scripts import posix_argv, powershell_script, windows_command
from farmhand.remote import Executor
from farmhand.ssh.fanout import FanOut, fan_out
from farmhand.ssh.quoting import printable

log = logging.getLogger(__name__)


def probe(
    executor: Executor, host: str, *, share: str = "", extra_roots: Sequence[str] = (),
    timeout: Optional[float] = 30.0,
) -> Inventory:
    """Inventory one POSIX (Linux/macOS) node with a single command."""
    res = executor.run(host, posix_argv(share, extra_roots), timeout=timeout)
    try:
        return parse(res.stdout)
    except InventoryParseError as exc:
        detail = printable((res.stderr.strip().splitlines() or [""])[-1], 120)  # the node's words
        raise NodeError(host, f"inventory failed (exit {res.exit_code}): {exc}"
                        + (f"; node said: {detail}" if detail else "")) from exc


def probe_many(
    executor: Executor, hosts: Sequence[str], *, share: str = "", extra_roots: Sequence[str] = (),
    timeout: Optional[float] = 30.0, workers: Optional[int] = None,
) -> FanOut[Inventory]:
    return fan_out(hosts, lambda h: probe(executor, h, share=share, extra_roots=extra_roots, timeout=timeout),
                   workers=workers)


__all__ = [
    "Gpu", "HoudiniInstall", "Interface", "Inventory", "InventoryParseError", "normalise_mac", "parse",
    "posix_argv", "powershell_script", "probe", "probe_many", "windows_command",
]
