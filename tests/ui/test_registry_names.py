"""The Nodes tab names nodes as ``farmhand nodes list`` does, read from a real registry (no SSH needed):
a node a scan registered by its address goes by the host name its probe reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from farmhand.nodes.inventory import Inventory
from farmhand.nodes.registry import NodeState, Registry, display_names
from farmhand.ui.registry_nodes import RegistryNodes

pytestmark = pytest.mark.ui


def inventory(hostname: str) -> dict[str, object]:
    return Inventory(hostname=hostname, os="Linux", cpus_logical=8, mem_total_mb=16384).to_dict()


def test_nodes_are_named_as_the_cli_names_them(farmhand_home: Path) -> None:
    del farmhand_home
    registry = Registry()
    registry.record_discovered("10.77.0.13", "SSH-2.0-OpenSSH_9.2")  # found by a scan
    registry.set_state("10.77.0.13", NodeState.TRUSTED)
    registry.record_inventory("10.77.0.13", inventory("render03"))
    registry.add("10.77.0.14")
    registry.record_inventory("10.77.0.14", inventory("render01"))  # a name another node has: not used
    registry.add("render01", "10.77.0.11")
    registry.record_inventory("render01", inventory("ws-old-name"))  # added by name: keeps it
    registry.record_discovered("10.77.0.15")  # not probed yet: by its address
    views = {v.host: v for v in RegistryNodes(registry, share="").nodes()}
    cli = display_names(registry.list())
    assert {host: view.name for host, view in views.items()} == cli
    assert cli == {"10.77.0.13": "render03", "10.77.0.14": "10.77.0.14", "10.77.0.15": "10.77.0.15",
                   "render01": "render01"}
    assert (views["10.77.0.13"].shown_as, views["10.77.0.13"].address) == ("render03", "10.77.0.13")
    assert views["render01"].shown_as == "" and views["10.77.0.15"].shown_as == ""
