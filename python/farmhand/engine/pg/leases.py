"""Dispatchers and their expiring node leases: who may hand out work on which node.

A dispatcher registers itself (:func:`register`), leases the nodes it will serve (:func:`acquire`) and
keeps them by renewing well before they expire (:func:`renew`, which also beats its heartbeat). A node
is leased to one dispatcher at a time: the lease row is the decision, taken under PostgreSQL's row lock,
so two dispatchers racing for a node never both get it. When a dispatcher dies or loses the database,
its leases run out and another one takes them over with the chunks still open on them (:func:`adopt`);
it then checks each chunk's process group on the node and lets it finish or requeues its frames
(:func:`farmhand.engine.pg.work.requeue_chunk`). The node-side lock stays the last line of defence.

Times are epoch seconds. ``now=None`` means the database server's clock, one clock for every dispatcher
whatever their machines' clocks say; tests pass ``now`` to move time by hand. Every function here is one
statement or one transaction and safe to run again after a lost connection.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import psycopg
from psycopg import sql

from farmhand.engine.pg.schema import OPEN_CHUNKS
from farmhand.jobs import ChunkState

Conn = psycopg.Connection[Any]


@dataclass(frozen=True)
class Lease:
    node: str
    dispatcher: str
    acquired: float
    expires_at: float


@dataclass(frozen=True)
class DispatcherRow:
    id: str
    host: str
    pid: int
    login: str
    started: float
    heartbeat: float


@dataclass(frozen=True)
class OpenChunk:
    """A chunk that was starting or running on a node, as the store has it."""

    id: int
    job_id: str
    node: str
    idxs: tuple[int, ...]
    state: ChunkState
    pgid: Optional[int]
    started: float
    dispatcher: Optional[str]


@dataclass(frozen=True)
class Adopted:
    """A node whose expired lease this dispatcher took over, with the chunks left open on it."""

    node: str
    previous: str
    chunks: tuple[OpenChunk, ...]


def register(conn: Conn, dispatcher: str, host: str, pid: int, now: Optional[float] = None) -> None:
    """Record (or refresh) this dispatcher; needed before it can lease a node."""
    conn.execute(
        "INSERT INTO dispatchers(id, host, pid, started, heartbeat)"
        " VALUES (%(d)s, %(host)s, %(pid)s, farmhand_now(%(now)s), farmhand_now(%(now)s))"
        " ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid,"
        " started = excluded.started, heartbeat = excluded.heartbeat",
        {"d": dispatcher, "host": host, "pid": pid, "now": now},
    )


def dispatchers(conn: Conn) -> list[DispatcherRow]:
    rows = conn.execute("SELECT id, host, pid, login, started, heartbeat FROM dispatchers ORDER BY id")
    return [DispatcherRow(*r) for r in rows.fetchall()]


def acquire(
    conn: Conn, dispatcher: str, nodes: Sequence[str], ttl: float, now: Optional[float] = None
) -> list[str]:
    """Lease the free ones of ``nodes`` (and extend those already ours) for ``ttl`` seconds; the nodes
    this dispatcher holds afterwards. A node leased to another dispatcher is left alone, even if that
    lease expired: taking it over is :func:`adopt`'s job, which also takes its open chunks."""
    rows = conn.execute(
        # Sorted, so two dispatchers acquiring overlapping sets lock rows in the same order.
        "INSERT INTO node_leases(node, dispatcher, acquired, expires_at)"
        " SELECT n, %(d)s, t.now, t.now + %(ttl)s FROM (SELECT farmhand_now(%(now)s) AS now) t,"
        " unnest(%(nodes)s::text[]) AS n ORDER BY n"
        " ON CONFLICT (node) DO UPDATE SET expires_at = excluded.expires_at"
        " WHERE node_leases.dispatcher = excluded.dispatcher RETURNING node",
        {"d": dispatcher, "nodes": sorted(set(nodes)), "ttl": ttl, "now": now},
    ).fetchall()
    return sorted(r[0] for r in rows)


def renew(conn: Conn, dispatcher: str, ttl: float, now: Optional[float] = None) -> list[str]:
    """Extend every lease this dispatcher still holds and beat its heartbeat; the nodes it holds.

    A node missing from the answer was adopted by another dispatcher: stop handing out work on it."""
    rows = conn.execute(
        "WITH beat AS (UPDATE dispatchers SET heartbeat = farmhand_now(%(now)s) WHERE id = %(d)s)"
        " UPDATE node_leases SET expires_at = farmhand_now(%(now)s) + %(ttl)s WHERE dispatcher = %(d)s"
        " RETURNING node",
        {"d": dispatcher, "ttl": ttl, "now": now},
    ).fetchall()
    return sorted(r[0] for r in rows)


def release(conn: Conn, dispatcher: str, nodes: Optional[Sequence[str]] = None) -> list[str]:
    """Give up this dispatcher's leases on ``nodes`` (all of them when None); the nodes released."""
    rows = conn.execute(
        "DELETE FROM node_leases WHERE dispatcher = %(d)s"
        " AND (%(nodes)s::text[] IS NULL OR node = ANY(%(nodes)s::text[])) RETURNING node",
        {"d": dispatcher, "nodes": None if nodes is None else list(nodes)},
    ).fetchall()
    return sorted(r[0] for r in rows)


def leases(conn: Conn) -> list[Lease]:
    """Every lease, expired or not (the Nodes tab shows who holds each node)."""
    rows = conn.execute("SELECT node, dispatcher, acquired, expires_at FROM node_leases ORDER BY node")
    return [Lease(*r) for r in rows.fetchall()]


def adopt(
    conn: Conn, dispatcher: str, ttl: float, now: Optional[float] = None, limit: int = 1000
) -> list[Adopted]:
    """Take over the expired leases of other dispatchers and every chunk left open on those nodes.

    Leases another transaction is touching right now (a renewal, a rival adopting) are skipped, not
    waited for: the next call gets them if they are still expired."""
    with conn.transaction():
        taken = conn.execute(
            "WITH t AS (SELECT farmhand_now(%(now)s) AS now),"
            " gone AS (SELECT node, dispatcher FROM node_leases, t WHERE expires_at <= t.now"
            " AND dispatcher <> %(d)s ORDER BY node LIMIT %(limit)s FOR UPDATE OF node_leases SKIP LOCKED)"
            " UPDATE node_leases l SET dispatcher = %(d)s, acquired = t.now, expires_at = t.now + %(ttl)s"
            " FROM gone, t WHERE l.node = gone.node RETURNING l.node, gone.dispatcher",
            {"d": dispatcher, "ttl": ttl, "now": now, "limit": limit},
        ).fetchall()
        if not taken:
            return []
        nodes = sorted(r[0] for r in taken)
        chunks = conn.execute(
            sql.SQL(
                "UPDATE chunks SET dispatcher = %(d)s WHERE node = ANY(%(nodes)s) AND state IN {open}"
                " AND dispatcher IS DISTINCT FROM %(d)s"
                " RETURNING id, job, node, frames, state, pgid, started, dispatcher"
            ).format(open=OPEN_CHUNKS),
            {"d": dispatcher, "nodes": nodes},
        ).fetchall()
    found = [chunk_of(r) for r in chunks]
    previous = dict(taken)
    return [
        Adopted(node, previous[node], tuple(sorted((c for c in found if c.node == node), key=lambda c: c.id)))
        for node in nodes
    ]


def forget(conn: Conn, older_than: float, now: Optional[float] = None) -> list[str]:
    """Delete dispatchers silent for ``older_than`` seconds that hold no lease; their ids."""
    rows = conn.execute(
        "DELETE FROM dispatchers d WHERE heartbeat < farmhand_now(%(now)s) - %(age)s"
        " AND NOT EXISTS (SELECT 1 FROM node_leases l WHERE l.dispatcher = d.id) RETURNING id",
        {"age": older_than, "now": now},
    ).fetchall()
    return sorted(r[0] for r in rows)


def chunk_of(row: Sequence[Any]) -> OpenChunk:
    """An :class:`OpenChunk` from ``id, job, node, frames, state, pgid, started, dispatcher``."""
    cid, job, node, frames, state, pgid, started, owner = row
    if isinstance(frames, str):  # read through the store's connection, which gives JSON as text
        frames = json.loads(frames)
    return OpenChunk(int(cid), str(job), node, tuple(int(i) for i in frames), ChunkState(state), pgid,
                     float(started), owner)
