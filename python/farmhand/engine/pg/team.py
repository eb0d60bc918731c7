"""The farm database's side of several dispatchers on one farm (:mod:`farmhand.engine.team`).

:class:`PgTeam` answers the dispatcher's team questions on the connection of its
:class:`~farmhand.engine.pg.store.PgStore`, inside the store's own transactions, so a lease taken, a
frame handed out and a chunk recorded commit together. Write transactions of the farm database are
serialised by a transaction-scoped advisory lock (:data:`farmhand.engine.pg.sqlite_dialect.WRITE_LOCK`),
as SQLite serialises its writers: a dispatcher deciding which frames to hand out sees every frame another
dispatcher handed out before it, and none is booked twice.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Optional

from psycopg import sql

from farmhand.engine.pg import leases, work
from farmhand.engine.pg.schema import ACTIVE_JOBS, OPEN_CHUNKS
from farmhand.engine.pg.store import PgStore
from farmhand.engine.store.database import job_num
from farmhand.engine.team import AdoptedChunk, FairInputs, FrameChange
from farmhand.jobs import FrameState, JobState


class PgTeam:
    """One dispatcher's membership of the farm (:class:`farmhand.engine.team.TeamDb`)."""

    def __init__(self, store: PgStore, dispatcher_id: str, lease_seconds: Optional[float] = None) -> None:
        self.store = store
        self.id = dispatcher_id
        if lease_seconds is not None:
            # A session of this dispatcher idle inside a transaction for twice its lease (cut off from
            # the database mid-transaction) is ended by the server, releasing the farm's write lock.
            self.store.db.limit_idle_transactions(max(2 * lease_seconds, 10.0))

    def _conn(self) -> Any:
        return self.store.db.raw()

    def register(self) -> None:
        with self.store.tx():
            leases.register(self._conn(), self.id, socket.gethostname(), os.getpid())

    def renew(self, ttl: float) -> list[str]:
        return leases.renew(self._conn(), self.id, ttl)

    def acquire(self, nodes: list[str], ttl: float) -> list[str]:
        return leases.acquire(self._conn(), self.id, nodes, ttl) if nodes else []

    def release(self, nodes: list[str]) -> list[str]:
        return leases.release(self._conn(), self.id, nodes) if nodes else []

    def leased_by_others(self) -> set[str]:
        rows = self._conn().execute("SELECT node FROM node_leases WHERE dispatcher <> %s", (self.id,))
        return {str(r[0]) for r in rows.fetchall()}

    def adopt(self, ttl: float) -> tuple[list[str], list[AdoptedChunk]]:
        nodes: list[str] = []
        chunks: list[AdoptedChunk] = []
        for node in leases.adopt(self._conn(), self.id, ttl):
            nodes.append(node.node)
            chunks.extend(AdoptedChunk(c.id, c.job_id, c.node, c.idxs, c.pgid, node.previous)
                          for c in node.chunks)
        return nodes, chunks

    def my_open_chunks(self) -> set[int]:
        """This dispatcher's chunks the store has as starting or running (a restart closes only those)."""
        query = sql.SQL("SELECT id FROM chunks WHERE dispatcher = %s AND state IN {open}")
        rows = self._conn().execute(query.format(open=OPEN_CHUNKS), (self.id,))
        return {int(r[0]) for r in rows.fetchall()}

    def fair_inputs(self) -> FairInputs:
        usage, weights = work.usage_and_weights(self._conn())
        # Only the jobs still active: the finished ones pile up over a farm's life.
        accounts = self._conn().execute(sql.SQL("SELECT j.num, {a} FROM jobs j WHERE j.state IN {active}")
                                        .format(a=work.ACCOUNT, active=ACTIVE_JOBS))
        preempt = self._conn().execute("SELECT value FROM farm_settings WHERE key = 'preempt'").fetchone()
        return FairInputs(usage=usage, weights=weights,
                          accounts={str(n): str(a) for n, a in accounts.fetchall()},
                          preempt=bool(preempt and preempt[0] == "on"))

    def lock(self) -> None:
        self.store.db.lock_writes()

    def heads(self, job_ids: list[str]) -> dict[str, tuple[JobState, int, Optional[str]]]:
        rows = self._conn().execute("SELECT num, state, priority, error FROM jobs WHERE num = ANY(%s)",
                                    ([job_num(j) for j in job_ids],))
        return {str(n): (JobState(s), int(p), e) for n, s, p, e in rows.fetchall()}

    def changed_frames(self, job_ids: list[str], since: int) -> tuple[int, list[FrameChange]]:
        rows = self._conn().execute(
            "SELECT job, idx, state, node, attempts, ver FROM frames WHERE job = ANY(%s) AND ver > %s",
            ([job_num(j) for j in job_ids], since)).fetchall()
        top = max((int(r[5]) for r in rows), default=since)
        return top, [FrameChange(str(j), int(i), FrameState(s), n, int(a)) for j, i, s, n, a, _ in rows]

    def frame_states(self, job_id: str) -> list[tuple[FrameState, Optional[str], int]]:
        rows = self._conn().execute(
            "SELECT state, node, attempts FROM frames WHERE job = %s ORDER BY idx", (job_num(job_id),))
        return [(FrameState(s), n, int(a)) for s, n, a in rows.fetchall()]

    def forget(self, older_than: float) -> list[str]:
        return leases.forget(self._conn(), older_than)

    def leave(self) -> None:
        """Give up every lease at a clean stop: the others need not wait for them to expire."""
        with self.store.tx():
            leases.release(self._conn(), self.id)
