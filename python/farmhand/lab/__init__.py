"""A lab of real OpenSSH render nodes on one machine, for tests, benchmarks and ``farmhand demo``.

    from farmhand.lab import LocalFarm
    with LocalFarm(n=3, mode="netns") as farm:      # or mode="loopback" (no root needed)
        farm.nodes            # [LabNode(name, address, port, hostname, netns), ...]
        farm.identity_file    # private key every node accepts
        farm.trust()          # write the nodes' host keys to Farmhand's known_hosts
        farm.run_in_lab(["farmhand", "scan", "10.77.0.0/24", "--json"])
        with farm.inside():   # this thread (and what it starts) now reaches the nodes
            ...

See :mod:`farmhand.lab.farm` for the topology and the fault-injection methods.
"""

from __future__ import annotations

from farmhand.lab import guard
from farmhand.lab.farm import LabNode, LocalFarm, cleanup_stale
from farmhand.lab.netns import GATEWAY, GHOST, SUBNET, can_use

__all__ = ["GATEWAY", "GHOST", "SUBNET", "LabNode", "LocalFarm", "can_use", "cleanup_stale", "guard"]
