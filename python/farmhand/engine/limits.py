"""Limits: named counters with a capacity, held by running chunks. Pure accounting, no I/O.

A job takes limits (``submit --limit karma``, or its preset's ``limits``). Every chunk of it that runs
(a render process, a persistent worker session, a backup copy) holds one unit of each until its process
has ended, wherever it runs. A chunk may start only when every limit it takes has a unit free:

* a farm-wide limit counts the chunks holding it on every node against its capacity (licence seats:
  ``farmhand limits set karma 4``);
* a per-node limit counts them on each node separately (``farmhand limits set gpu 1 --per-node``: one
  GPU render per node, even while the previous chunk is still exiting).

A limit nobody defined holds nothing back (a preset may name limits a farm does not use). The counts are
those of this dispatcher's own chunks: two artists' dispatchers each count their own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Limit:
    name: str
    capacity: int
    per_node: bool = False


@dataclass(frozen=True)
class Holding:
    """One running chunk: the node it runs on and the limits it holds."""

    node: str
    limits: tuple[str, ...]


def in_use(limit: Limit, holdings: Iterable[Holding], node: Optional[str] = None) -> int:
    """Units of ``limit`` held: on the whole farm, or on ``node`` for a per-node limit (given a node)."""
    return sum(1 for h in holdings
               if limit.name in h.limits and (not limit.per_node or node is None or h.node == node))


def blocking(wanted: Iterable[str], node: str, holdings: Sequence[Holding],
             limits: Mapping[str, Limit]) -> Optional[tuple[Limit, int]]:
    """The first limit in ``wanted`` that has no unit free for a chunk on ``node``, with its units in use
    (where it counts: the farm, or that node); None when the chunk may start."""
    for name in wanted:
        limit = limits.get(name)
        if limit is None:
            continue
        used = in_use(limit, holdings, node)
        if used >= limit.capacity:
            return limit, used
    return None


def usage(limits: Iterable[Limit], holdings: Sequence[Holding]) -> dict[str, int]:
    """Units in use per limit: farm-wide, or on the busiest node for a per-node limit."""
    out: dict[str, int] = {}
    for limit in limits:
        if limit.per_node:
            per = Counter(h.node for h in holdings if limit.name in h.limits)
            out[limit.name] = max(per.values(), default=0)
        else:
            out[limit.name] = in_use(limit, holdings)
    return out


def describe(limit: Limit, used: int, node: str) -> str:
    """Why a chunk waits, in the words the CLI and the panel show."""
    where = f" on {node}" if limit.per_node else ""
    return f"waiting for limit {limit.name} ({used} of {limit.capacity} in use{where})"
