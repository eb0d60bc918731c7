"""Handing out work on a shared store without double-booking, and what fair share is computed from.

A dispatcher claims a chunk for a node it leases (:func:`claim_chunk`): in one transaction it checks the
lease (and holds it shared, so the lease cannot be adopted under the claim), locks the waiting frames it
takes with ``SELECT … FOR UPDATE SKIP LOCKED`` (a rival claiming at the same instant skips them instead
of waiting or taking them too), marks them rendering and records the chunk with its dispatcher. Two
dispatchers therefore never render the same frame, except deliberate backups at the tail.

Closing and requeueing a chunk are guarded by its dispatcher: after an adoption the former dispatcher's
late writes change nothing, and it learns it lost the chunk from the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from farmhand.engine.fairshare import QueuedJob
from farmhand.engine.pg.errors import LeaseLost
from farmhand.engine.pg.leases import OpenChunk, chunk_of
from farmhand.engine.pg.schema import OPEN_CHUNKS, OPEN_FRAMES, RUNNABLE_JOBS
from farmhand.engine.pg.submit import job_num
from farmhand.frames import Frame, normalise
from farmhand.jobs import ChunkState, FrameState, JobState

Conn = psycopg.Connection[Any]
# The fair-share account of a job: its project when a wrangler gave the project a share, else its owner.
ACCOUNT = sql.SQL(
    "CASE WHEN j.project IS NOT NULL AND EXISTS (SELECT 1 FROM shares s WHERE s.kind = 'project'"
    " AND s.name = j.project) THEN 'project:' || j.project ELSE j.owner::text END"
)


@dataclass(frozen=True)
class Claim:
    chunk_id: int
    job_id: str
    node: str
    idxs: tuple[int, ...]
    frames: tuple[Frame, ...]
    started: float


def claim_chunk(
    conn: Conn,
    *,
    dispatcher: str,
    node: str,
    job_id: str,
    count: int,
    idxs: Optional[Sequence[int]] = None,
    persistent: bool = False,
    now: Optional[float] = None,
) -> Optional[Claim]:
    """Claim up to ``count`` waiting frames of the job (only among ``idxs`` when given) as one chunk
    on ``node``; None when the job has none left to hand out or is not runnable.

    Raises:
        LeaseLost: ``dispatcher`` does not hold a live lease on ``node``.
    """
    num = job_num(job_id)
    with conn.transaction():
        lease = conn.execute(
            "SELECT farmhand_now(%(now)s), expires_at FROM node_leases"
            " WHERE node = %(node)s AND dispatcher = %(d)s FOR SHARE",
            {"node": node, "d": dispatcher, "now": now},
        ).fetchone()
        if lease is None or lease[1] <= lease[0]:
            raise LeaseLost(node, dispatcher)
        started = float(lease[0])
        picked = conn.execute(
            sql.SQL(
                "WITH picked AS (SELECT f.job, f.idx FROM frames f WHERE f.job = %(job)s"
                " AND f.state IN {open} AND (%(idxs)s::int[] IS NULL OR f.idx = ANY(%(idxs)s::int[]))"
                " AND EXISTS (SELECT 1 FROM jobs j WHERE j.num = %(job)s AND j.state IN {runnable})"
                " ORDER BY f.idx LIMIT %(n)s FOR NO KEY UPDATE OF f SKIP LOCKED)"
                " UPDATE frames SET state = %(rendering)s, node = %(node)s FROM picked"
                " WHERE frames.job = picked.job AND frames.idx = picked.idx"
                " RETURNING frames.idx, frames.frame"
            ).format(open=OPEN_FRAMES, runnable=RUNNABLE_JOBS),
            {"job": num, "idxs": None if idxs is None else list(idxs), "n": count, "node": node,
             "rendering": FrameState.RENDERING.value},
        ).fetchall()
        if not picked:
            return None
        picked.sort()
        row = conn.execute(
            "WITH chunk AS (INSERT INTO chunks(job, node, frames, state, started, persistent, dispatcher)"
            " VALUES (%(job)s, %(node)s, %(frames)s, %(starting)s, %(t)s, %(persistent)s, %(d)s)"
            # The first claim marks the job running; when a rival holds the job row, skipping beats
            # queueing behind it. NO KEY: a FOR UPDATE lock would also block every rival's foreign-key
            # check on the job (chunks.job), serialising all claims of the job behind this one.
            " RETURNING id), job AS (UPDATE jobs SET state = %(running)s, updated = %(t)s"
            " WHERE num IN (SELECT num FROM jobs WHERE num = %(job)s AND state = %(queued)s"
            " FOR NO KEY UPDATE SKIP LOCKED)) SELECT id FROM chunk",
            {"job": num, "node": node, "frames": Jsonb([i for i, _ in picked]),
             "starting": ChunkState.STARTING.value, "t": started, "persistent": persistent, "d": dispatcher,
             "running": JobState.RUNNING.value, "queued": JobState.QUEUED.value},
        ).fetchone()
    return Claim(int(row[0]) if row else 0, str(num), node, tuple(i for i, _ in picked),
                 tuple(normalise(f) for _, f in picked), started)


def close_chunk(
    conn: Conn,
    *,
    dispatcher: str,
    chunk_id: int,
    state: ChunkState,
    now: float,
    exit_code: Optional[int] = None,
    message: Optional[str] = None,
) -> bool:
    """End an open chunk this dispatcher runs; False when it is not ours any more (adopted) or closed."""
    row = conn.execute(
        sql.SQL(
            "UPDATE chunks SET state = %s, ended = %s, exit_code = %s, message = %s WHERE id = %s"
            " AND dispatcher = %s AND state IN {open} RETURNING id"
        ).format(open=OPEN_CHUNKS),
        (ChunkState(state).value, now, exit_code, message, chunk_id, dispatcher),
    ).fetchone()
    return row is not None


def requeue_chunk(conn: Conn, *, dispatcher: str, chunk_id: int, now: float) -> list[int]:
    """Mark an open chunk of ours lost and put its frames back in the queue (those no other open chunk,
    a backup, is rendering); the frame indices requeued. Nothing happens to a chunk that is not ours."""
    with conn.transaction():
        row = conn.execute(
            sql.SQL(
                "UPDATE chunks SET state = %s, ended = %s WHERE id = %s AND dispatcher = %s"
                " AND state IN {open} RETURNING job, frames"
            ).format(open=OPEN_CHUNKS),
            (ChunkState.LOST.value, now, chunk_id, dispatcher),
        ).fetchone()
        if row is None:
            return []
        rows = conn.execute(
            sql.SQL(
                "UPDATE frames f SET node = NULL,"
                " state = CASE WHEN f.attempts > 0 THEN %(retrying)s ELSE %(waiting)s END"
                " WHERE f.job = %(job)s AND f.idx = ANY(%(idxs)s) AND f.state = %(rendering)s"
                " AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.job = f.job AND c.state IN {open}"
                " AND c.frames @> to_jsonb(f.idx)) RETURNING f.idx"
            ).format(open=OPEN_CHUNKS),
            {"job": row[0], "idxs": list(row[1]), "rendering": FrameState.RENDERING.value,
             "retrying": FrameState.RETRYING.value, "waiting": FrameState.WAITING.value},
        ).fetchall()
    return sorted(int(r[0]) for r in rows)


def open_chunks(conn: Conn, dispatcher: Optional[str] = None) -> list[OpenChunk]:
    """Chunks starting or running (only ``dispatcher``'s when given), oldest first."""
    rows = conn.execute(
        sql.SQL(
            "SELECT id, job, node, frames, state, pgid, started, dispatcher FROM chunks WHERE state IN {open}"
            " AND (%(d)s::text IS NULL OR dispatcher = %(d)s) ORDER BY id"
        ).format(open=OPEN_CHUNKS),
        {"d": dispatcher},
    ).fetchall()
    return [chunk_of(r) for r in rows]


# --- fair share ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FairInputs:
    """What :func:`farmhand.engine.fairshare.assign` needs, read in one snapshot."""

    usage: dict[str, float]  # nodes rendering (not as backups) per account
    weights: dict[str, float]  # per account; an account without a share weighs 1
    queued: list[QueuedJob]


def usage_and_weights(conn: Conn) -> tuple[dict[str, float], dict[str, float]]:
    """What each account holds now (its open chunks, backups aside) and each weight a wrangler set."""
    usage = conn.execute(
        sql.SQL(
            "SELECT {account}, count(*) FROM chunks c JOIN jobs j ON j.num = c.job"
            " WHERE c.state IN {open} AND c.backup_of IS NULL GROUP BY 1"
        ).format(account=ACCOUNT, open=OPEN_CHUNKS)
    ).fetchall()
    weights = conn.execute(
        "SELECT CASE kind WHEN 'project' THEN 'project:' || name ELSE name END, weight FROM shares"
    ).fetchall()
    return {str(a): float(n) for a, n in usage}, {str(a): float(w) for a, w in weights}


def fair_inputs(conn: Conn, now: Optional[float] = None) -> FairInputs:
    """Usage, weights and queue (three reads: a chunk starting between them only skews one decision)."""
    usage, weights = usage_and_weights(conn)
    queued = conn.execute(
        sql.SQL(
            "SELECT j.num, {account}, j.priority, farmhand_now(%(now)s) - j.created, count(*) FROM jobs j"
            " JOIN frames f ON f.job = j.num AND f.state IN {open} WHERE j.state IN {runnable}"
            " GROUP BY j.num ORDER BY j.num"
        ).format(account=ACCOUNT, open=OPEN_FRAMES, runnable=RUNNABLE_JOBS),
        {"now": now},
    ).fetchall()
    return FairInputs(
        usage=usage,
        weights=weights,
        queued=[QueuedJob(str(n), str(a), int(p), float(age), int(want)) for n, a, p, age, want in queued],
    )


def set_share(conn: Conn, kind: str, name: str, weight: float) -> None:
    """Set a user's or a project's fair-share weight (a wrangler's job; refused for artists)."""
    conn.execute(
        "INSERT INTO shares(kind, name, weight) VALUES (%s, %s, %s)"
        " ON CONFLICT (kind, name) DO UPDATE SET weight = excluded.weight",
        (kind, name, weight),
    )
