"""The job store's SQLite file: its schema, its connections, transactions and the change counter.

One writer (the dispatcher) and any number of readers (CLI, Qt panel) share the file in WAL mode, so a
reader never blocks the dispatcher and always sees a consistent transaction. Readers open the file
read-only (``readonly=True``): their reads never take the write lock and never create anything; a
client that writes (a submit, a command) gets a second, writing connection at its first write. The
schema is created by a writing connection only, and only when it is missing. ``meta.version`` grows
with every write transaction that changed something, so a client polls one integer to know whether
anything changed.

Every SQLite error leaves this package as a :class:`StoreError` whose one line names the file and the
real cause: ``database is locked`` is :class:`StoreBusy` (retryable: someone else is writing, try again),
a full disk and a damaged file say so, and nothing here ever suggests moving a busy store aside.
"""

from __future__ import annotations

import copy
import enum
import functools
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Final, Optional, TypeVar, Union, cast

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

#: Changes to a store created by an older Farmhand, applied in order by a writing connection; the file's
#: ``PRAGMA user_version`` counts those already applied.
UPGRADES = ("CREATE INDEX IF NOT EXISTS chunks_job ON chunks(job, id)",)

#: Seconds a connection waits for another one's write lock before the store is reported busy.
BUSY_TIMEOUT = 10.0
#: The WAL file is cut back to this size after each checkpoint (it would otherwise keep its peak size).
WAL_LIMIT_BYTES = 32 * 1024 * 1024
#: The largest job number: SQLite integers are signed 64-bit.
MAX_JOB_NUM = 2**63 - 1


class StoreError(FarmhandError):
    """The job store could not be read or written; the message names the file and the real cause."""


class StoreBusy(StoreError):
    """Another process held the store's write lock for longer than :data:`BUSY_TIMEOUT`; try again."""

    retryable = True


def translate(exc: sqlite3.Error, path: Path) -> StoreError:
    """One line for an SQLite error: busy (retryable), full, damaged, or the error as SQLite says it."""
    text = str(exc) or type(exc).__name__
    low = text.lower()
    if "locked" in low or "busy" in low:
        return StoreBusy(f"the job store {path} is busy (another Farmhand process is writing to it: {text}); "
                         "try again in a moment")
    if "full" in low:
        return StoreError(f"cannot write the job store {path}: {text}; free space on its disk "
                          "(finished jobs' history is pruned after dispatcher.json's store.keep_days)")
    if "malformed" in low or "not a database" in low or "corrupt" in low:
        return StoreError(f"the job store {path} is damaged ({text}); stop the dispatcher, then restore the "
                          "file from a backup or remove it to start an empty store")
    if "readonly" in low or "read-only" in low or "unable to open" in low or "disk i/o" in low:
        return StoreError(f"cannot use the job store {path}: {text}; check the file, its folder and their "
                          "permissions")
    return StoreError(f"job store {path}: {text}")


_F = TypeVar("_F", bound=Callable[..., Any])


def store_call(fn: _F) -> _F:
    """Mark a store method as a boundary: SQLite errors raised inside become :class:`StoreError`."""

    @functools.wraps(fn)
    def call(self: Database, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise translate(exc, self.path) from exc

    return cast(_F, call)


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
    """The row number behind a job id (``7`` or ``#7``); anything else is a job that does not exist."""
    text = str(job_id).strip().lstrip("#")
    if not text.isascii() or not text.isdigit() or len(text) > 19 or not 1 <= int(text) <= MAX_JOB_NUM:
        shown = text if len(text) <= 24 else text[:24] + "..."
        raise NotFound(f"job '{shown}' does not exist; list jobs with 'farmhand jobs'")
    return int(text)


def _wall(now: Optional[float]) -> float:
    return time.time() if now is None else now


class _TxState:
    """A connection's open-transaction depth, shared by every view of it."""

    def __init__(self) -> None:
        self.depth = 0
        self.changes = 0
        self.lock = threading.RLock()


_D = TypeVar("_D", bound="Database")


class Database:
    """A connection to the job store file. Not shared between threads: each thread opens its own.

    Args:
        path: the file (default ``paths.jobs_db()``).
        readonly: read through a read-only connection (clients); a writing connection is opened at the
            first write. The schema is created first by a short writing connection if the file is new.

    Attributes:
        stamp: turns a time the caller passed (``now=``) into the wall-clock timestamp stored; None means
            "now". The dispatcher, which keeps time with a monotonic clock, installs its conversion here.
    """

    def __init__(self, path: Optional[Path] = None, *, readonly: bool = False) -> None:
        self.path = Path(path) if path else paths.jobs_db()
        self.readonly = readonly
        self.stamp: Callable[[Optional[float]], float] = _wall
        self._tx = _TxState()
        self._writer: Optional[Database] = None  # a read-only store's writing connection
        try:
            self.db = self._open()
        except sqlite3.Error as exc:
            raise translate(exc, self.path) from exc

    def view(self: _D, stamp: Callable[[Optional[float]], float]) -> _D:
        """The same connection (and transactions) with another ``stamp``: the dispatcher's view, in which
        every ``now`` is its monotonic clock, while other users of this store keep wall-clock times."""
        other = copy.copy(self)
        other.stamp = stamp
        return other

    def _open(self) -> sqlite3.Connection:
        if self.readonly:
            if not self._has_schema():
                Database(self.path).close()  # a writing connection creates it, once
            uri = self.path.resolve().as_uri() + "?mode=ro"
            db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, isolation_level=None,
                                 check_same_thread=False)
            db.row_factory = sqlite3.Row
            return db
        paths.touch_private(self.path)
        db = sqlite3.connect(
            str(self.path), timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
        )
        db.row_factory = sqlite3.Row
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
            if not _schema_present(db):
                db.executescript("BEGIN IMMEDIATE;" + SCHEMA + _farm_schema() + "COMMIT;")
            _upgrade(db)
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            db.close()
            raise
        return db

    def _has_schema(self) -> bool:
        if not self.path.exists():
            return False
        db = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True, timeout=BUSY_TIMEOUT)
        try:
            return _schema_present(db)
        finally:
            db.close()

    def close(self) -> None:
        self.db.close()
        if self._writer is not None:
            self._writer.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (nestable); bumps the change counter on commit.

        Raises:
            StoreBusy: another process held the write lock for :data:`BUSY_TIMEOUT` (nothing was done).
            StoreError: anything else SQLite refused; the transaction was rolled back.
        """
        if self.readonly:
            if self._writer is None:
                self._writer = Database(self.path)
            with self._writer.tx() as db:
                yield db
            return
        state = self._tx
        with state.lock:
            if state.depth == 0:
                try:
                    self.db.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as exc:
                    raise translate(exc, self.path) from exc
                state.changes = self.db.total_changes
            state.depth += 1
            try:
                yield self.db
            except BaseException as exc:
                state.depth -= 1
                if state.depth == 0:
                    self._rollback()
                if isinstance(exc, sqlite3.Error):
                    raise translate(exc, self.path) from exc
                raise
            state.depth -= 1
            if state.depth == 0:
                self._commit()

    def _commit(self) -> None:
        try:
            # Only a transaction that changed something moves the counter clients poll.
            if self.db.total_changes != self._tx.changes:
                self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'")
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise translate(exc, self.path) from exc

    def _rollback(self) -> None:
        # SQLite may already have rolled back by itself (a full disk, an I/O error).
        if self.db.in_transaction:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass

    @property
    def in_write(self) -> bool:
        """A write transaction of this connection is open (it holds the file's write lock)."""
        return self._tx.depth > 0

    @contextmanager
    def read(self) -> Iterator[None]:
        """A read transaction, so every table is seen at the same instant (a WAL snapshot)."""
        with self._tx.lock:
            own = not self.db.in_transaction
            try:
                if own:
                    self.db.execute("BEGIN")
                yield
            except sqlite3.Error as exc:
                raise translate(exc, self.path) from exc
            finally:
                if own and self.db.in_transaction:
                    try:
                        self.db.execute("COMMIT")
                    except sqlite3.Error:
                        self._rollback()

    @store_call
    def version(self) -> int:
        """The change counter: it grows with every write transaction that changed something."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        return int(row[0]) if row else 0

    @store_call
    def meta(self, key: str) -> Optional[str]:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @store_call
    def set_meta(self, key: str, value: str) -> None:
        with self.tx() as db:
            db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))


def _upgrade(db: sqlite3.Connection) -> None:
    if int(db.execute("PRAGMA user_version").fetchone()[0]) >= len(UPGRADES):
        return
    db.execute("BEGIN IMMEDIATE")
    done = int(db.execute("PRAGMA user_version").fetchone()[0])
    for statement in UPGRADES[done:]:
        db.execute(statement)
    db.execute(f"PRAGMA user_version = {len(UPGRADES)}")
    db.execute("COMMIT")


_TABLES = frozenset({"jobs", "frames", "chunks", "progress", "events", "commands", "meta",
                     "limits", "power_rules", "node_power", "job_holds"})


def _farm_schema() -> str:
    # The farm's own tables (limits, power rules: farmhand.engine.store.farm) live in the same file and
    # are created with the rest, by a writer, so that no reader ever has to.
    from farmhand.engine.store.farm import FARM_SCHEMA

    return FARM_SCHEMA


def _schema_present(db: sqlite3.Connection) -> bool:
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return names >= _TABLES
