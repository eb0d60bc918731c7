"""The job store's SQLite file: its schema, its connection, transactions and the change counter.

One writer (the dispatcher) and any number of readers (CLI, Qt panel) share the file in WAL mode, so a
reader never blocks the dispatcher and always sees a consistent transaction. ``meta.version`` grows with
every write transaction that changed something, so a client polls one integer to know whether anything
changed.
"""

from __future__ import annotations

import enum
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final, Optional, TypeVar, Union

from farmhand import paths
from farmhand.errors import FarmhandError, NotFound

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


class Keep(enum.Enum):
    """The default of every optional column of a typed update: leave the column as it is."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP
_T = TypeVar("_T")
#: A typed update's value for one column: the value to write (None writes NULL), or :data:`KEEP`.
Change = Union[_T, Keep]

SqlValue = Union[str, int, float, None]


def assignments(columns: dict[str, Change[SqlValue]]) -> tuple[str, list[SqlValue]]:
    """``col = ?, ...`` and its values for the columns that change (the callers name their columns in
    code; nothing here comes from outside)."""
    changed = {name: value for name, value in columns.items() if not isinstance(value, Keep)}
    return ", ".join(f"{name} = ?" for name in changed), list(changed.values())


def job_num(job_id: str) -> int:
    """The row number behind a job id (``7`` or ``#7``)."""
    try:
        return int(str(job_id).lstrip("#"))
    except ValueError:
        raise NotFound(f"job '{job_id}' does not exist; list jobs with 'farmhand jobs'") from None


class Database:
    """A connection to the job store file. Not shared between threads: each thread opens its own."""

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

    @contextmanager
    def read(self) -> Iterator[None]:
        """A read transaction, so every table is seen at the same instant (a WAL snapshot)."""
        with self._lock:
            own = not self.db.in_transaction
            if own:
                self.db.execute("BEGIN")
            try:
                yield
            finally:
                if own:
                    self.db.execute("COMMIT")

    def version(self) -> int:
        """The change counter: it grows with every write transaction that changed something."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        return int(row[0]) if row else 0

    def meta(self, key: str) -> Optional[str]:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
