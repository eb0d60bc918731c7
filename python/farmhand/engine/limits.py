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
from collections.abc import Iterable, Mapping
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


class Tally:
    """Units held per limit, farm-wide and per node: built from the running chunks once per assignment
    pass and kept up to date as the pass starts chunks, so each check is a look-up, not a walk over
    every running chunk."""

    def __init__(self, holdings: Iterable[Holding] = ()) -> None:
        self.total: Counter[str] = Counter()
        self.on: Counter[tuple[str, str]] = Counter()
        for holding in holdings:
            self.add(holding)

    def add(self, holding: Holding) -> None:
        for name in holding.limits:
            self.total[name] += 1
            self.on[(name, holding.node)] += 1

    def used(self, limit: Limit, node: Optional[str] = None) -> int:
        """Units of ``limit`` held: on ``node`` for a per-node limit (on its busiest node when no node is
        given), else on the whole farm."""
        if not limit.per_node:
            return self.total[limit.name]
        if node is not None:
            return self.on[(limit.name, node)]
        return max((n for (name, _node), n in self.on.items() if name == limit.name), default=0)


def blocking(wanted: Iterable[str], node: str, tally: Tally,
             limits: Mapping[str, Limit]) -> Optional[tuple[Limit, int]]:
    """The first limit in ``wanted`` that has no unit free for a chunk on ``node``, with its units in use
    (where it counts: the farm, or that node); None when the chunk may start."""
    for name in wanted:
        limit = limits.get(name)
        if limit is None:
            continue
        used = tally.used(limit, node)
        if used >= limit.capacity:
            return limit, used
    return None


def usage(limits: Iterable[Limit], tally: Tally) -> dict[str, int]:
    """Units in use per limit: farm-wide, or on the busiest node for a per-node limit."""
    return {limit.name: tally.used(limit) for limit in limits}


def describe(limit: Limit, used: int, node: str) -> str:
    """Why a chunk waits, in the words the CLI and the panel show."""
    where = f" on {node}" if limit.per_node else ""
    return f"waiting for limit {limit.name} ({used} of {limit.capacity} in use{where})"
