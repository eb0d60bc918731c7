"""The job store: every table's reads and writes, as typed records.

Clients write only two things: new jobs (:meth:`Store.insert_job`) and rows in the ``commands`` table,
which the dispatcher applies on its next step. Every other write comes from the dispatcher through the
typed ``update_*`` methods: each names its columns in code and takes typed values, where :data:`KEEP`
(the default) leaves a column as it is and None writes NULL.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any, Optional

from farmhand.engine.store import rows
from farmhand.engine.store.database import (
    KEEP,
    Change,
    Database,
    Keep,
    SqlValue,
    assignments,
    job_num,
    store_call,
)
from farmhand.engine.store.rows import Command, JobHeader
from farmhand.engine.store.values import finite, shown, whole
from farmhand.errors import NotFound
from farmhand.frames import Frame
from farmhand.jobs import (
    Chunk,
    ChunkState,
    CommandOp,
    Event,
    FrameRow,
    FrameState,
    JobSpec,
    JobState,
    JobSummary,
    NodeRow,
)

#: What a command being applied holds in ``result`` until its answer is written (``handled`` still NULL).
APPLYING = "applying"
#: The answer of a command a dispatcher was applying when it stopped: it is never applied again.
ABANDONED = ("internal error: the dispatcher stopped while applying this command (see dispatcher.log); "
             "it was not applied again")


def _state(value: Change[Any], kind: type[Any]) -> Change[SqlValue]:
    # The enum or its value (the store's own spelling) is written as its value; anything else is refused.
    return value if value is KEEP else kind(value).value


class Store(Database):
    """The job store of one ``FARMHAND_HOME``: jobs, frames, chunks, progress, events and commands."""

    # --- jobs -----------------------------------------------------------------------------------------

    @store_call
    def insert_job(
        self,
        spec: JobSpec,
        frames: Sequence[Frame],
        outputs: Sequence[Optional[str]],
        *,
        done: Sequence[bool] = (),
        now: Optional[float] = None,
    ) -> str:
        """Queue a new job with its frames (``done[i]``: frame i is already rendered); return its id."""
        now = self.stamp(now)
        priority = whole(spec.priority, "priority")
        skipped = [i < len(done) and bool(done[i]) for i in range(len(frames))]
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO jobs(spec, state, priority, created, updated) VALUES (?,?,?,?,?)",
                (json.dumps(spec.to_dict()), JobState.QUEUED.value, priority, now, now),
            )
            num = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT INTO frames(job, idx, frame, state, output, error_message) VALUES (?,?,?,?,?,?)",
                [
                    (
                        num,
                        i,
                        finite(float(f), "a frame"),
                        (FrameState.DONE if skipped[i] else FrameState.WAITING).value,
                        outputs[i] if i < len(outputs) else None,
                        "output already existed (--skip-existing)" if skipped[i] else None,
                    )
                    for i, f in enumerate(frames)
                ],
            )
            self._event(db, now, num, "submitted", f"{len(frames)} frames, preset {spec.preset}")
        return str(num)

    def _job_row(self, job_id: str) -> sqlite3.Row:
        row = self.db.execute("SELECT * FROM jobs WHERE num = ?", (job_num(job_id),)).fetchone()
        if row is None:
            raise NotFound(f"job '{job_id}' does not exist; list jobs with 'farmhand jobs'")
        return row  # type: ignore[no-any-return]

    @store_call
    def job(self, job_id: str) -> JobHeader:
        """The job's own row; its id in the plain form (``#7`` → ``7``).

        Raises:
            NotFound: there is no such job.
        """
        return rows.job_header(self._job_row(job_id))

    @store_call
    def job_ids(self, states: Sequence[JobState] = ()) -> list[str]:
        """Every job's id, oldest first; only those in ``states`` when given."""
        if states:
            marks = ",".join("?" * len(states))
            found = self.db.execute(
                f"SELECT num FROM jobs WHERE state IN ({marks}) ORDER BY num",  # noqa: S608
                [s.value for s in states],
            ).fetchall()
        else:
            found = self.db.execute("SELECT num FROM jobs ORDER BY num").fetchall()
        return [str(r[0]) for r in found]

    @store_call
    def update_job(
        self,
        job_id: str,
        *,
        state: Change[JobState] = KEEP,
        error: Change[Optional[str]] = KEEP,
        priority: Change[int] = KEEP,
        eta: Change[Optional[float]] = KEEP,
        now: Optional[float] = None,
    ) -> None:
        """Change the given columns of the job; ``updated`` becomes ``now`` (default: the wall clock)."""
        if not isinstance(priority, Keep):
            priority = whole(priority, "priority")
        if isinstance(eta, float):
            eta = shown(eta)
        sets, values = assignments(
            {"state": _state(state, JobState), "error": error, "priority": priority, "eta": eta,
             "updated": self.stamp(now)}
        )
        with self.tx() as db:
            db.execute(f"UPDATE jobs SET {sets} WHERE num = ?", [*values, job_num(job_id)])  # noqa: S608

    @store_call
    def spec(self, job_id: str) -> JobSpec:
        return JobSpec.from_dict(json.loads(self._job_row(job_id)["spec"]))

    @store_call
    def summaries(self) -> list[JobSummary]:
        with self.read():
            found = self.db.execute("SELECT * FROM jobs ORDER BY num").fetchall()
            counts = self._frame_counts(None)
        return [rows.job_summary(r, counts.get(int(r["num"]), {})) for r in found]

    @store_call
    def summary(self, job_id: str) -> JobSummary:
        with self.read():
            row = self._job_row(job_id)
            counts = self._frame_counts(int(row["num"])).get(int(row["num"]), {})
        return rows.job_summary(row, counts)

    def _frame_counts(self, num: Optional[int]) -> dict[int, dict[str, int]]:
        sql = "SELECT job, state, COUNT(*) FROM frames"
        args: list[Any] = []
        if num is not None:
            sql += " WHERE job = ?"
            args.append(num)
        out: dict[int, dict[str, int]] = {}
        for job, state, n in self.db.execute(sql + " GROUP BY job, state", args).fetchall():
            out.setdefault(int(job), {})[str(state)] = int(n)
        return out

    # --- frames ---------------------------------------------------------------------------------------

    @store_call
    def frames(self, job_id: str) -> list[FrameRow]:
        found = self.db.execute(
            "SELECT * FROM frames WHERE job = ? ORDER BY idx", (job_num(job_id),)
        ).fetchall()
        return [rows.frame_row(r) for r in found]

    @store_call
    def update_frames(
        self,
        job_id: str,
        idxs: Sequence[int],
        *,
        state: Change[FrameState] = KEEP,
        node: Change[Optional[str]] = KEEP,
        attempts: Change[int] = KEEP,
        output: Change[Optional[str]] = KEEP,
        error_kind: Change[Optional[str]] = KEEP,
        error_message: Change[Optional[str]] = KEEP,
        seconds: Change[Optional[float]] = KEEP,
    ) -> None:
        """Change the given columns of the job's frames at indexes ``idxs``."""
        sets, values = assignments(
            {"state": _state(state, FrameState), "node": node, "attempts": attempts, "output": output,
             "error_kind": error_kind, "error_message": error_message, "seconds": seconds}
        )
        if not idxs or not sets:
            return
        num = job_num(job_id)
        with self.tx() as db:
            db.executemany(
                f"UPDATE frames SET {sets} WHERE job = ? AND idx = ?",  # noqa: S608 - our column names
                [(*values, num, i) for i in idxs],
            )

    # --- chunks ---------------------------------------------------------------------------------------

    @store_call
    def insert_chunk(
        self,
        job_id: str,
        node: str,
        idxs: Sequence[int],
        now: float,
        *,
        backup_of: Optional[int] = None,
        persistent: bool = False,
    ) -> int:
        """Record a chunk starting on ``node`` (frame indexes ``idxs``); return its id."""
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO chunks(job, node, frames, state, started, backup_of, persistent)"
                " VALUES (?,?,?,?,?,?,?)",
                (job_num(job_id), node, json.dumps(list(idxs)), ChunkState.STARTING.value, self.stamp(now),
                 backup_of, int(persistent)),
            )
            return int(cur.lastrowid or 0)

    @store_call
    def update_chunk(
        self,
        chunk_id: int,
        *,
        state: Change[ChunkState] = KEEP,
        ended: Change[Optional[float]] = KEEP,
        pgid: Change[Optional[int]] = KEEP,
        exit_code: Change[Optional[int]] = KEEP,
        message: Change[Optional[str]] = KEEP,
    ) -> None:
        """Change the given columns of the chunk (``ended`` is a time as the callers keep it)."""
        if isinstance(ended, (int, float)):
            ended = self.stamp(ended)
        sets, values = assignments(
            {"state": _state(state, ChunkState), "ended": ended, "pgid": pgid, "exit_code": exit_code,
             "message": message}
        )
        if not sets:
            return
        with self.tx() as db:
            db.execute(f"UPDATE chunks SET {sets} WHERE id = ?", [*values, chunk_id])  # noqa: S608

    @store_call
    def open_chunks(self) -> list[Chunk]:
        """Chunks the store says are starting or running, oldest first."""
        found = self.db.execute(
            "SELECT * FROM chunks WHERE state IN (?, ?) ORDER BY id",
            (ChunkState.STARTING.value, ChunkState.RUNNING.value),
        ).fetchall()
        return [rows.chunk(r) for r in found]

    # --- per-node progress ----------------------------------------------------------------------------

    @store_call
    def set_progress(self, job_id: str, row: NodeRow) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO progress(job, node, state, current_frame, percent, frames_done, spf,"
                " eta, chunk_frames, chunk_done, message) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    job_num(job_id),
                    row.node,
                    row.state.value,
                    shown(row.current_frame),
                    shown(row.frame_percent),
                    row.frames_done,
                    shown(row.seconds_per_frame),
                    shown(row.eta_seconds),
                    row.chunk_frames,
                    row.chunk_done,
                    row.message,
                ),
            )

    @store_call
    def progress(self, job_id: str) -> list[NodeRow]:
        found = self.db.execute(
            "SELECT * FROM progress WHERE job = ? ORDER BY node", (job_num(job_id),)
        ).fetchall()
        return [rows.node_row(r) for r in found]

    # --- events ---------------------------------------------------------------------------------------

    @store_call
    def add_event(
        self,
        job_id: Optional[str],
        kind: str,
        message: str,
        *,
        node: Optional[str] = None,
        frame: Optional[Frame] = None,
        now: Optional[float] = None,
    ) -> None:
        with self.tx() as db:
            num = None if job_id is None else job_num(job_id)
            self._event(db, self.stamp(now), num, kind, message, node, frame)

    @staticmethod
    def _event(
        db: sqlite3.Connection,
        now: float,
        num: Optional[int],
        kind: str,
        message: str,
        node: Optional[str] = None,
        frame: Optional[Frame] = None,
    ) -> None:
        db.execute(
            "INSERT INTO events(t, job, node, frame, kind, message) VALUES (?,?,?,?,?,?)",
            (now, num, node, shown(None if frame is None else float(frame)), kind, message),
        )

    @store_call
    def events(self, job_id: Optional[str] = None, *, since: int = 0, limit: int = 200) -> list[Event]:
        """The latest ``limit`` events after id ``since`` (of one job, or all), oldest first."""
        if job_id is None:
            found = self.db.execute(
                "SELECT * FROM events WHERE id > ? ORDER BY id DESC LIMIT ?", (since, limit)
            ).fetchall()
        else:
            found = self.db.execute(
                "SELECT * FROM events WHERE job = ? AND id > ? ORDER BY id DESC LIMIT ?",
                (job_num(job_id), since, limit),
            ).fetchall()
        return [rows.event(r) for r in reversed(found)]

    # --- commands -------------------------------------------------------------------------------------

    @store_call
    def add_command(self, job_id: Optional[str], op: CommandOp, arg: Optional[dict[str, Any]] = None) -> int:
        num = None if job_id is None else job_num(self.job(job_id).id)
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO commands(t, job, op, arg) VALUES (?,?,?,?)",
                (self.stamp(None), num, op.value, json.dumps(arg or {}, allow_nan=False)),
            )
            return int(cur.lastrowid or 0)

    @store_call
    def pending_commands(self) -> list[Command]:
        """Commands not answered and not being applied, oldest first (a row that does not parse is
        answered here with why, so it never comes back)."""
        found = self.db.execute(
            "SELECT * FROM commands WHERE handled IS NULL AND result IS NULL ORDER BY id"
        ).fetchall()
        out = []
        for r in found:
            try:
                out.append(rows.command(r))
            except (ValueError, TypeError) as exc:
                self.finish_command(int(r["id"]), f"not a command this dispatcher knows ({exc})")
        return out

    @store_call
    def take_command(self, command_id: int) -> bool:
        """Mark the command as being applied, committed before it is: a dispatcher that dies while
        applying it never applies it again (see :meth:`abandon_commands`). False when it was taken
        already (another dispatcher of a shared farm got it first)."""
        with self.tx() as db:
            return db.execute(
                "UPDATE commands SET result = ? WHERE id = ? AND handled IS NULL AND result IS NULL",
                (APPLYING, command_id),
            ).rowcount == 1

    @store_call
    def abandon_commands(self, now: Optional[float] = None) -> int:
        """Answer every command a previous dispatcher was applying when it stopped; return how many."""
        sql = "UPDATE commands SET handled = ?, result = ? WHERE handled IS NULL AND result = ?"
        with self.tx() as db:
            return int(db.execute(sql, (self.stamp(now), ABANDONED, APPLYING)).rowcount or 0)

    @store_call
    def finish_command(self, command_id: int, result: str, now: Optional[float] = None) -> None:
        sql = "UPDATE commands SET handled = ?, result = ? WHERE id = ?"
        with self.tx() as db:
            db.execute(sql, (self.stamp(now), result, command_id))

    @store_call
    def command_result(self, command_id: int) -> Optional[str]:
        row = self.db.execute("SELECT handled, result FROM commands WHERE id = ?", (command_id,)).fetchone()
        return None if row is None or row["handled"] is None else str(row["result"])
