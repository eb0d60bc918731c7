"""The farm's own tables in the job store: limits, power rules, node power states and job holds.

Jobs carry their groups, limits and environment in their spec (``jobs.spec``,
:class:`~farmhand.jobs.JobSpec`); the tables here hold what belongs to the farm rather than to one job:

==============  ==========================================================================================
``limits``      named counters with a capacity (``farmhand limits set karma 4``), per farm or per node;
                the dispatcher writes how many are in use and how many jobs wait for each
``power_rules`` which nodes Farmhand may put to sleep: after how long idle, with which command, and how
                long a woken node may take to boot (``farmhand power set``)
``node_power``  what the dispatcher knows of each managed node: awake, asleep, waking, did not wake
``job_holds``   why a job that could run is held back: a limit at capacity, nodes waking for it
==============  ==========================================================================================

Clients write limits and power rules (they are settings, read by the dispatcher every few seconds);
only the dispatcher writes usage, power states and holds. The tables are created on first use, by a
short writing connection when the caller's own connection only reads.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Protocol

from farmhand import labels
from farmhand.errors import NotFound
from farmhand.nodes.power import PowerRule, PowerState

FARM_SCHEMA = """
CREATE TABLE IF NOT EXISTS limits(
  name TEXT PRIMARY KEY, capacity INTEGER NOT NULL, per_node INTEGER NOT NULL DEFAULT 0,
  in_use INTEGER NOT NULL DEFAULT 0, waiting INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS power_rules(
  scope TEXT PRIMARY KEY, idle REAL NOT NULL, command TEXT NOT NULL, boot_timeout REAL NOT NULL,
  retry REAL NOT NULL);
CREATE TABLE IF NOT EXISTS node_power(
  node TEXT PRIMARY KEY, state TEXT NOT NULL, since REAL NOT NULL, message TEXT);
CREATE TABLE IF NOT EXISTS job_holds(job INTEGER PRIMARY KEY, reason TEXT NOT NULL, since REAL NOT NULL);
"""
_TABLES = frozenset({"limits", "power_rules", "node_power", "job_holds"})


class _Db(Protocol):
    """What this module needs of :class:`farmhand.engine.store.Store` (kept structural: no import cycle)."""

    path: Path
    db: sqlite3.Connection

    def tx(self) -> AbstractContextManager[sqlite3.Connection]: ...


def create_tables(db: sqlite3.Connection) -> None:
    """Create the farm tables on a writing connection (idempotent)."""
    db.executescript(FARM_SCHEMA)


def _ensure(store: _Db) -> None:
    names = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not names >= _TABLES:
        writer = sqlite3.connect(str(store.path), timeout=10.0)
        try:
            create_tables(writer)
            writer.commit()
        finally:
            writer.close()


@dataclass(frozen=True)
class LimitInfo:
    """A limit as ``farmhand limits list`` shows it."""

    name: str
    capacity: int
    per_node: bool = False  # the capacity is per node (one GPU job per GPU), not for the whole farm
    in_use: int = 0  # running chunks holding it (most on one node, for a per-node limit)
    waiting: int = 0  # jobs that could run but wait for it


@dataclass(frozen=True)
class NodePower:
    """One managed node's power state, as the dispatcher last wrote it."""

    node: str
    state: PowerState
    since: float
    message: Optional[str] = None


class FarmTables:
    """Reads and writes of the farm tables over one open job store."""

    def __init__(self, store: _Db) -> None:
        self.store = store
        _ensure(store)

    def _rows(self, sql: str, *args: object) -> list[sqlite3.Row]:
        try:
            return list(self.store.db.execute(sql, args))
        except sqlite3.OperationalError as exc:
            # A read snapshot taken before the tables were created (by another connection) lacks them.
            if "no such table" in str(exc):
                return []
            raise

    # --- limits (clients) -----------------------------------------------------------------------------

    def set_limit(self, name: str, size: int, *, per_node: bool = False) -> LimitInfo:
        """Create a limit or change its capacity (jobs already holding it keep running)."""
        name, size = labels.limit_name(name), labels.capacity(size)
        with self.store.tx() as db:
            db.execute("INSERT INTO limits(name, capacity, per_node) VALUES (?, ?, ?) ON CONFLICT(name) DO "
                       "UPDATE SET capacity = excluded.capacity, per_node = excluded.per_node",
                       (name, size, int(per_node)))
        return self.limit(name)

    def remove_limit(self, name: str) -> None:
        """Forget a limit: jobs that take it are no longer held by it."""
        name = labels.limit_name(name)
        with self.store.tx() as db:
            if db.execute("DELETE FROM limits WHERE name = ?", (name,)).rowcount == 0:
                raise NotFound(f"there is no limit named {name}; see 'farmhand limits list'")

    def limits(self) -> list[LimitInfo]:
        return [LimitInfo(r["name"], int(r["capacity"]), bool(r["per_node"]), int(r["in_use"]),
                          int(r["waiting"])) for r in self._rows("SELECT * FROM limits ORDER BY name")]

    def limit(self, name: str) -> LimitInfo:
        found = next((lim for lim in self.limits() if lim.name == name), None)
        if found is None:
            raise NotFound(f"there is no limit named {name}; create it with 'farmhand limits set {name} N'")
        return found

    # --- limits (the dispatcher) ----------------------------------------------------------------------

    def set_usage(self, usage: Mapping[str, tuple[int, int]]) -> None:
        """``{limit: (in use, jobs waiting)}``; limits not named are idle. Rows that did not change are
        not written (every write wakes every client)."""
        with self.store.tx() as db:
            for lim in self.limits():
                in_use, waiting = usage.get(lim.name, (0, 0))
                if (in_use, waiting) != (lim.in_use, lim.waiting):
                    db.execute("UPDATE limits SET in_use = ?, waiting = ? WHERE name = ?",
                               (in_use, waiting, lim.name))

    # --- power rules (clients) ------------------------------------------------------------------------

    def set_power_rule(self, rule: PowerRule) -> PowerRule:
        with self.store.tx() as db:
            db.execute("INSERT OR REPLACE INTO power_rules(scope, idle, command, boot_timeout, retry) "
                       "VALUES (?, ?, ?, ?, ?)",
                       (rule.scope, rule.idle, json.dumps(list(rule.command)), rule.boot_timeout, rule.retry))
        return rule

    def remove_power_rule(self, scope: str) -> None:
        with self.store.tx() as db:
            if db.execute("DELETE FROM power_rules WHERE scope = ?", (scope,)).rowcount == 0:
                raise NotFound(f"no power rule for {scope}; see 'farmhand power list'")

    def power_rules(self) -> list[PowerRule]:
        return [PowerRule(r["scope"], float(r["idle"]), tuple(json.loads(r["command"])),
                          float(r["boot_timeout"]), float(r["retry"]))
                for r in self._rows("SELECT * FROM power_rules ORDER BY scope")]

    # --- node power and job holds (the dispatcher) ----------------------------------------------------

    def set_node_power(self, node: str, state: PowerState, message: Optional[str] = None,
                       now: Optional[float] = None) -> None:
        with self.store.tx() as db:
            db.execute("INSERT OR REPLACE INTO node_power(node, state, since, message) VALUES (?, ?, ?, ?)",
                       (node, PowerState(state).value, time.time() if now is None else now, message))

    def node_power(self) -> list[NodePower]:
        return [NodePower(r["node"], PowerState(r["state"]), float(r["since"]), r["message"])
                for r in self._rows("SELECT * FROM node_power ORDER BY node")]

    def set_holds(self, holds: Mapping[str, str], now: Optional[float] = None) -> None:
        """Replace every job hold with ``holds`` ({job id: reason}); unchanged rows are left alone."""
        old = self.holds()
        if dict(old) == dict(holds):
            return
        stamp = time.time() if now is None else now
        with self.store.tx() as db:
            for job in set(old) - set(holds):
                db.execute("DELETE FROM job_holds WHERE job = ?", (int(job),))
            for job, reason in holds.items():
                if old.get(job) != reason:
                    db.execute("INSERT OR REPLACE INTO job_holds(job, reason, since) VALUES (?, ?, ?)",
                               (int(job), reason, stamp))

    def holds(self) -> dict[str, str]:
        return {str(r["job"]): str(r["reason"]) for r in self._rows("SELECT job, reason FROM job_holds")}
