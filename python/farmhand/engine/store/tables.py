"""The SQLite job store under ``FARMHAND_HOME`` (``paths.jobs_db()``).

One writer (the dispatcher) and any number of readers (CLI, Qt panel) share the file in WAL mode, so a
reader never blocks the dispatcher and always sees a consistent transaction. Clients write only two
things: new jobs (``insert_job``) and rows in the ``commands`` table, which the dispatcher applies on
its next step. ``meta.version`` grows with every dispatcher commit, so a client polls one integer to
know whether anything changed.

Render logs are not in the database (they can be large): they go to ``logs/<job>/<node>.log`` as
tab-separated ``time, frame, stream, text`` lines (see :func:`append_log` / :func:`read_logs`).
"""

from __future__ import annotations

import enum
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

from farmhand import paths
from farmhand.errors import FarmhandError, NotFound
from farmhand.frames import Frame, normalise
from farmhand.jobs import (
    CommandOp,
    Event,
    FrameRow,
    FrameState,
    JobSpec,
    JobState,
    JobSummary,
    LogLine,
    NodeActivity,
    NodeRow,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs(
  num INTEGER PRIMARY KEY AUTOINCREMENT, spec TEXT NOT NULL, state TEXT NOT NULL, priority INTEGER NOT NULL,
  created REAL NOT NULL, updated REAL NOT NULL, error TEXT, eta REAL);
CREATE TABLE IF NOT EXISTS frames(
  job INTEGER NOT NULL, idx INTEGER NOT NULL, frame REAL NOT NULL, state TEXT NOT NULL, node TEXT,
  attempts INTEGER NOT NULL DEFAULT 0, output TEXT, error_kind TEXT, error_message TEXT, seconds REAL,
  PRIMARY KEY(job, idx));
CREATE TABLE IF NOT EXISTS chunks(
  id INTEGER PRIMARY KEY AUTOINCREMENT, job INTEGER NOT NULL, node TEXT NOT NULL, frames TEXT NOT NULL,
  state TEXT NOT NULL, started REAL NOT NULL, ended REAL, pgid INTEGER, backup_of INTEGER,
  persistent INTEGER NOT NULL DEFAULT 0, exit_code INTEGER, message TEXT);
CREATE INDEX IF NOT EXISTS chunks_state ON chunks(state);
CREATE TABLE IF NOT EXISTS progress(
  job INTEGER NOT NULL, node TEXT NOT NULL, state TEXT NOT NULL, current_frame REAL, percent REAL,
  frames_done INTEGER NOT NULL DEFAULT 0, spf REAL, eta REAL, chunk_frames INTEGER NOT NULL DEFAULT 0,
  chunk_done INTEGER NOT NULL DEFAULT 0, message TEXT, PRIMARY KEY(job, node));
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY AUTOINCREMENT, t REAL NOT NULL, job INTEGER, node TEXT, frame REAL,
  kind TEXT NOT NULL, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_job ON events(job, id);
CREATE TABLE IF NOT EXISTS commands(
  id INTEGER PRIMARY KEY AUTOINCREMENT, t REAL NOT NULL, job INTEGER, op TEXT NOT NULL, arg TEXT,
  handled REAL, result TEXT);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
INSERT OR IGNORE INTO meta(key, value) VALUES ('version', '0');
"""


def _job_num(job_id: str) -> int:
    try:
        return int(str(job_id).lstrip("#"))
    except ValueError:
        raise NotFound(f"job '{job_id}' does not exist; list jobs with 'farmhand jobs'") from None


class Store:
    """A connection to the job store. Not shared between threads: each thread opens its own."""

    def __init__(self, path: Optional[Path] = None) -> None:
        self.path = Path(path) if path else paths.jobs_db()
        paths.touch_private(self.path)
        try:
            self.db = sqlite3.connect(
                str(self.path), timeout=10.0, isolation_level=None, check_same_thread=False
            )
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise FarmhandError(
                f"job store {self.path} is unusable ({exc}); move it aside and retry"
            ) from exc
        self._depth = 0
        self._changes = 0
        self._lock = threading.RLock()

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (nestable); bumps the change counter on commit."""
        with self._lock:
            if self._depth == 0:
                self.db.execute("BEGIN IMMEDIATE")
                self._changes = self.db.total_changes
            self._depth += 1
            try:
                yield self.db
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self.db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                # Only a transaction that changed something moves the counter clients poll.
                if self.db.total_changes != self._changes:
                    self.db.execute(
                        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'"
                    )
                self.db.execute("COMMIT")

    def version(self) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        return int(row[0]) if row else 0

    # --- jobs -----------------------------------------------------------------------------------------

    def insert_job(
        self,
        spec: JobSpec,
        frames: Sequence[Frame],
        outputs: Sequence[Optional[str]],
        *,
        done: Sequence[bool] = (),
        now: Optional[float] = None,
    ) -> str:
        now = time.time() if now is None else now
        skipped = [i < len(done) and bool(done[i]) for i in range(len(frames))]
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO jobs(spec, state, priority, created, updated) VALUES (?,?,?,?,?)",
                (json.dumps(spec.to_dict()), JobState.QUEUED.value, spec.priority, now, now),
            )
            num = int(cur.lastrowid or 0)
            db.executemany(
                "INSERT INTO frames(job, idx, frame, state, output, error_message) VALUES (?,?,?,?,?,?)",
                [
                    (
                        num,
                        i,
                        float(f),
                        (FrameState.DONE if skipped[i] else FrameState.WAITING).value,
                        outputs[i] if i < len(outputs) else None,
                        "output already existed (--skip-existing)" if skipped[i] else None,
                    )
                    for i, f in enumerate(frames)
                ],
            )
            self._event(db, now, num, "submitted", f"{len(frames)} frames, preset {spec.preset}")
        return str(num)

    def job_row(self, job_id: str) -> sqlite3.Row:
        row = self.db.execute("SELECT * FROM jobs WHERE num = ?", (_job_num(job_id),)).fetchone()
        if row is None:
            raise NotFound(f"job '{job_id}' does not exist; list jobs with 'farmhand jobs'")
        return row  # type: ignore[no-any-return]

    def job_ids(self, states: Sequence[JobState] = ()) -> list[str]:
        if states:
            marks = ",".join("?" * len(states))
            rows = self.db.execute(
                f"SELECT num FROM jobs WHERE state IN ({marks}) ORDER BY num",  # noqa: S608
                [s.value for s in states],
            ).fetchall()
        else:
            rows = self.db.execute("SELECT num FROM jobs ORDER BY num").fetchall()
        return [str(r[0]) for r in rows]

    def update_job(self, job_id: str, **fields: Any) -> None:
        fields.setdefault("updated", time.time())
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self.tx() as db:
            db.execute(
                f"UPDATE jobs SET {cols} WHERE num = ?",  # noqa: S608 - column names are ours
                [_plain(v) for v in fields.values()] + [_job_num(job_id)],
            )

    def summaries(self) -> list[JobSummary]:
        with self._read():
            rows = self.db.execute("SELECT * FROM jobs ORDER BY num").fetchall()
            counts = self._frame_counts(None)
        return [self._summary(r, counts.get(int(r["num"]), {})) for r in rows]

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

    @staticmethod
    def _summary(row: sqlite3.Row, counts: dict[str, int]) -> JobSummary:
        spec = JobSpec.from_dict(json.loads(row["spec"]))
        return JobSummary(
            id=str(row["num"]),
            title=spec.title,
            preset=spec.preset,
            state=JobState(row["state"]),
            priority=int(row["priority"]),
            created=float(row["created"]),
            frames_total=sum(counts.values()),
            frames_done=counts.get(FrameState.DONE.value, 0),
            frames_failed=counts.get(FrameState.FAILED.value, 0),
            frames_rendering=counts.get(FrameState.RENDERING.value, 0),
            eta_seconds=row["eta"],
            error=row["error"],
            updated=float(row["updated"]),
            after=spec.after,
        )

    def spec(self, job_id: str) -> JobSpec:
        return JobSpec.from_dict(json.loads(self.job_row(job_id)["spec"]))

    @contextmanager
    def _read(self) -> Iterator[None]:
        # A read transaction so every table is seen at the same instant (WAL snapshot).
        with self._lock:
            own = not self.db.in_transaction
            if own:
                self.db.execute("BEGIN")
            try:
                yield
            finally:
                if own:
                    self.db.execute("COMMIT")

    def summary(self, job_id: str) -> JobSummary:
        with self._read():
            row = self.job_row(job_id)
            counts = self._frame_counts(int(row["num"])).get(int(row["num"]), {})
        return self._summary(row, counts)

    # --- frames ---------------------------------------------------------------------------------------

    def frames(self, job_id: str) -> list[FrameRow]:
        rows = self.db.execute(
            "SELECT * FROM frames WHERE job = ? ORDER BY idx", (_job_num(job_id),)
        ).fetchall()
        return [
            FrameRow(
                frame=normalise(r["frame"]),
                state=FrameState(r["state"]),
                node=r["node"],
                attempts=int(r["attempts"]),
                output=r["output"],
                error_kind=r["error_kind"],
                error_message=r["error_message"],
                seconds=r["seconds"],
            )
            for r in rows
        ]

    def update_frames(self, job_id: str, idxs: Sequence[int], **fields: Any) -> None:
        if not idxs:
            return
        cols = ", ".join(f"{k} = ?" for k in fields)
        vals = [_plain(v) for v in fields.values()]
        num = _job_num(job_id)
        with self.tx() as db:
            db.executemany(
                f"UPDATE frames SET {cols} WHERE job = ? AND idx = ?",  # noqa: S608
                [(*vals, num, i) for i in idxs],
            )

    # --- chunks ---------------------------------------------------------------------------------------

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
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO chunks(job, node, frames, state, started, backup_of, persistent)"
                " VALUES (?,?,?,?,?,?,?)",
                (_job_num(job_id), node, json.dumps(list(idxs)), "starting", now, backup_of, int(persistent)),
            )
            return int(cur.lastrowid or 0)

    def update_chunk(self, chunk_id: int, **fields: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self.tx() as db:
            db.execute(
                f"UPDATE chunks SET {cols} WHERE id = ?",  # noqa: S608
                [_plain(v) for v in fields.values()] + [chunk_id],
            )

    def open_chunks(self) -> list[sqlite3.Row]:
        return self.db.execute(
            "SELECT * FROM chunks WHERE state IN ('starting', 'running') ORDER BY id"
        ).fetchall()

    # --- per-node progress ----------------------------------------------------------------------------

    def set_progress(self, job_id: str, row: NodeRow) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO progress(job, node, state, current_frame, percent, frames_done, spf,"
                " eta, chunk_frames, chunk_done, message) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    _job_num(job_id),
                    row.node,
                    row.state.value,
                    row.current_frame,
                    row.frame_percent,
                    row.frames_done,
                    row.seconds_per_frame,
                    row.eta_seconds,
                    row.chunk_frames,
                    row.chunk_done,
                    row.message,
                ),
            )

    def progress(self, job_id: str) -> list[NodeRow]:
        rows = self.db.execute(
            "SELECT * FROM progress WHERE job = ? ORDER BY node", (_job_num(job_id),)
        ).fetchall()
        return [
            NodeRow(
                node=r["node"],
                state=NodeActivity(r["state"]),
                current_frame=None if r["current_frame"] is None else normalise(r["current_frame"]),
                frame_percent=r["percent"],
                frames_done=int(r["frames_done"]),
                seconds_per_frame=r["spf"],
                eta_seconds=r["eta"],
                chunk_frames=int(r["chunk_frames"]),
                chunk_done=int(r["chunk_done"]),
                message=r["message"],
            )
            for r in rows
        ]

    # --- events ---------------------------------------------------------------------------------------

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
            self._event(
                db,
                time.time() if now is None else now,
                None if job_id is None else _job_num(job_id),
                kind,
                message,
                node,
                frame,
            )

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
            (now, num, node, frame, kind, message),
        )

    def events(self, job_id: Optional[str] = None, *, since: int = 0, limit: int = 200) -> list[Event]:
        if job_id is None:
            rows = self.db.execute(
                "SELECT * FROM events WHERE id > ? ORDER BY id DESC LIMIT ?", (since, limit)
            ).fetchall()
        else:
            rows = self.db.execute(
                "SELECT * FROM events WHERE job = ? AND id > ? ORDER BY id DESC LIMIT ?",
                (_job_num(job_id), since, limit),
            ).fetchall()
        return [
            Event(
                id=int(r["id"]),
                time=float(r["t"]),
                job_id=None if r["job"] is None else str(r["job"]),
                kind=r["kind"],
                message=r["message"],
                node=r["node"],
                frame=None if r["frame"] is None else normalise(r["frame"]),
            )
            for r in reversed(rows)
        ]

    # --- commands -------------------------------------------------------------------------------------

    def add_command(self, job_id: Optional[str], op: CommandOp, arg: Optional[dict[str, Any]] = None) -> int:
        num = None if job_id is None else int(self.job_row(job_id)["num"])
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO commands(t, job, op, arg) VALUES (?,?,?,?)",
                (time.time(), num, op.value, json.dumps(arg or {})),
            )
            return int(cur.lastrowid or 0)

    def pending_commands(self) -> list[tuple[int, Optional[str], CommandOp, dict[str, Any]]]:
        rows = self.db.execute("SELECT * FROM commands WHERE handled IS NULL ORDER BY id").fetchall()
        return [
            (
                int(r["id"]),
                None if r["job"] is None else str(r["job"]),
                CommandOp(r["op"]),
                json.loads(r["arg"] or "{}"),
            )
            for r in rows
        ]

    def finish_command(self, command_id: int, result: str, now: Optional[float] = None) -> None:
        with self.tx() as db:
            db.execute(
                "UPDATE commands SET handled = ?, result = ? WHERE id = ?",
                (time.time() if now is None else now, result, command_id),
            )

    def command_result(self, command_id: int) -> Optional[str]:
        row = self.db.execute("SELECT handled, result FROM commands WHERE id = ?", (command_id,)).fetchone()
        return None if row is None or row["handled"] is None else str(row["result"])

    def meta(self, key: str) -> Optional[str]:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(value)
    return value


# --- render logs -------------------------------------------------------------------------------------


def log_path(job_id: str, node: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in node)
    path = paths.logs_dir() / f"job-{_job_num(job_id)}" / f"{safe}.log"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def append_log(job_id: str, node: str, lines: Sequence[tuple[float, Optional[Frame], str, str]]) -> None:
    """Append ``(time, frame, stream, text)`` lines to the node's log for the job."""
    if not lines:
        return
    with open(log_path(job_id, node), "a", encoding="utf-8", errors="replace") as fh:
        for t, frame, stream, text in lines:
            clean = text.replace("\t", " ").replace("\n", " ")
            fh.write(f"{t:.3f}\t{'' if frame is None else repr(float(frame))}\t{stream}\t{clean}\n")


def read_logs(job_id: str, node: Optional[str] = None, frame: Optional[Frame] = None) -> list[LogLine]:
    base = paths.logs_dir() / f"job-{_job_num(job_id)}"
    if not base.is_dir():
        return []
    files = [log_path(job_id, node)] if node else sorted(base.glob("*.log"))
    out: list[LogLine] = []
    for path in files:
        if not path.exists():
            continue
        host = node or path.stem
        for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = raw.split("\t", 3)
            if len(parts) != 4:
                continue
            fr = normalise(float(parts[1])) if parts[1] else None
            if frame is not None and fr != normalise(frame):
                continue
            out.append(LogLine(time=float(parts[0]), node=host, frame=fr, stream=parts[2], text=parts[3]))
    out.sort(key=lambda line: line.time)
    return out
