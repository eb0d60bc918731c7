"""What clients write on a team farm: new jobs and commands, as the connected role.

The database decides who may do what (:mod:`farmhand.engine.pg.roles`): a job's owner is the login role
that inserted it, and an artist's command on someone else's job is refused by a row-level policy. That
refusal arrives as SQLSTATE 42501; here it becomes one line that names the job, its owner and who to ask.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Optional

import psycopg
from psycopg.types.json import Jsonb

from farmhand.engine.pg.errors import AccessDenied
from farmhand.errors import NotFound
from farmhand.frames import Frame
from farmhand.jobs import CommandOp, FrameState, JobSpec, JobState

Conn = psycopg.Connection[Any]


def job_num(job_id: str) -> int:
    """The row number behind a job id (``7`` or ``#7``)."""
    try:
        return int(str(job_id).lstrip("#"))
    except ValueError:
        raise NotFound(f"job '{job_id}' does not exist; list jobs with 'farmhand jobs'") from None


def insert_job(
    conn: Conn,
    spec: JobSpec,
    frames: Sequence[Frame],
    outputs: Sequence[Optional[str]] = (),
    *,
    project: Optional[str] = None,
    done: Sequence[bool] = (),
    now: Optional[float] = None,
) -> str:
    """Queue a job owned by the connected role; its id."""
    now = time.time() if now is None else now
    with conn.transaction():
        row = conn.execute(
            "INSERT INTO jobs(spec, state, priority, created, updated, project) VALUES (%s,%s,%s,%s,%s,%s)"
            " RETURNING num",
            (Jsonb(spec.to_dict()), JobState.QUEUED.value, spec.priority, now, now, project),
        ).fetchone()
        num = int(row[0]) if row else 0
        skipped = [i < len(done) and bool(done[i]) for i in range(len(frames))]
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO frames(job, idx, frame, state, output, error_message)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (
                        num, i, float(f), (FrameState.DONE if skipped[i] else FrameState.WAITING).value,
                        outputs[i] if i < len(outputs) else None,
                        "output already existed (--skip-existing)" if skipped[i] else None,
                    )
                    for i, f in enumerate(frames)
                ],
            )
        conn.execute(
            "INSERT INTO events(t, job, kind, message) VALUES (%s, %s, 'submitted', %s)",
            (now, num, f"{len(frames)} frames, preset {spec.preset}"),
        )
    return str(num)


def job_owner(conn: Conn, job_id: str) -> str:
    row = conn.execute("SELECT owner FROM jobs WHERE num = %s", (job_num(job_id),)).fetchone()
    if row is None:
        raise NotFound(f"job '{job_id}' does not exist; list jobs with 'farmhand jobs --all'")
    return str(row[0])


def add_command(
    conn: Conn,
    job_id: Optional[str],
    op: CommandOp,
    arg: Optional[dict[str, Any]] = None,
    now: Optional[float] = None,
) -> int:
    """Ask the dispatchers to ``op`` the job (or all of them, for ``stop``); the command's id.

    Raises:
        NotFound: no such job.
        AccessDenied: the connected role may not command this job (an artist and someone else's job).
    """
    num = None if job_id is None else job_num(job_id)
    owner = None if job_id is None else job_owner(conn, job_id)
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO commands(t, job, op, arg) VALUES (%s, %s, %s, %s) RETURNING id",
                (time.time() if now is None else now, num, CommandOp(op).value, Jsonb(arg or {})),
            ).fetchone()
    except psycopg.errors.InsufficientPrivilege:
        who = conn.execute("SELECT current_user").fetchone()
        user = who[0] if who else "this role"
        target = f"job {num} (owned by {owner})" if num is not None else "every dispatcher"
        raise AccessDenied(
            f"{user} may not {CommandOp(op).value} {target}: an artist controls only their own jobs; "
            "ask a wrangler"
        ) from None
    return int(row[0]) if row else 0


def take_commands(
    conn: Conn, dispatcher: str, stale_after: float, now: Optional[float] = None
) -> list[tuple[int, Optional[str], CommandOp, dict[str, Any], str]]:
    """Take the commands nobody is applying: ``(id, job id, op, argument, owner)``, oldest first.

    A command is applied once, by the dispatcher that took it (it changes the shared job state, which
    every dispatcher then follows); one taken by a dispatcher silent for ``stale_after`` seconds is
    taken again. Answer it with :func:`finish_command`."""
    rows = conn.execute(
        "UPDATE commands SET taken_by = %(d)s WHERE id IN (SELECT c.id FROM commands c"
        " WHERE c.handled IS NULL AND (c.taken_by IS NULL OR NOT EXISTS (SELECT 1 FROM dispatchers d"
        "   WHERE d.id = c.taken_by AND d.heartbeat > coalesce(%(now)s::float8,"
        "   extract(epoch FROM clock_timestamp())::float8) - %(stale)s))"
        " ORDER BY c.id FOR UPDATE SKIP LOCKED) RETURNING id, job, op, arg, owner",
        {"d": dispatcher, "stale": stale_after, "now": now},
    ).fetchall()
    return sorted(
        (int(r[0]), None if r[1] is None else str(r[1]), CommandOp(r[2]), dict(r[3] or {}), str(r[4]))
        for r in rows
    )


def finish_command(conn: Conn, command_id: int, result: str, now: Optional[float] = None) -> None:
    conn.execute(
        "UPDATE commands SET handled = %s, result = %s WHERE id = %s",
        (time.time() if now is None else now, result, command_id),
    )
