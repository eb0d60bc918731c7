"""How long the store keeps history, and the pruning that keeps it (and the render logs) bounded.

A finished job keeps its row and its frames for good (removing jobs is a user's decision); its events,
chunks, progress rows, answered commands and render logs go once it has been finished for
``keep_days``. A job that runs for days, and the farm's own events (node checks, path-map reloads),
are bounded by counts instead: only the newest ``job_events`` / ``job_chunks`` / ``farm_events`` rows are
kept. Each prune deletes in small batches, each its own short transaction, so the dispatcher never holds
the write lock for long and readers are never starved.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
from dataclasses import dataclass
from typing import Optional

from farmhand import paths
from farmhand.engine.store.database import translate
from farmhand.engine.store.tables import Store
from farmhand.jobs import ChunkState, JobState

log = logging.getLogger(__name__)

#: Rows deleted per transaction.
BATCH = 2000
_DAY = 86400.0
_FINISHED = (JobState.DONE.value, JobState.FAILED.value, JobState.CANCELLED.value)
_OPEN = (ChunkState.STARTING.value, ChunkState.RUNNING.value)


@dataclass(frozen=True)
class Retention:
    """What the store and the logs keep (``dispatcher.json``, section ``store``).

    Attributes:
        keep_days: days a finished job keeps its events, chunks, progress rows and render logs.
        job_events: newest events kept per job while it is active.
        job_chunks: newest ended chunks kept per job while it is active.
        farm_events: newest events kept that belong to no job (node checks, path-map reloads).
        command_days: days an answered command is kept.
        log_mb: size at which a node's render log of a job is rotated (the previous part is kept once).
        prune_minutes: minutes between two prunes.
    """

    keep_days: float = 14.0
    job_events: int = 5000
    job_chunks: int = 2000
    farm_events: int = 20000
    command_days: float = 1.0
    log_mb: float = 64.0
    prune_minutes: float = 10.0

    @property
    def log_bytes(self) -> int:
        return max(int(self.log_mb * 1024 * 1024), 4096)


@dataclass
class Pruned:
    """What one prune removed."""

    events: int = 0
    chunks: int = 0
    progress: int = 0
    commands: int = 0
    logs: int = 0

    @property
    def total(self) -> int:
        return self.events + self.chunks + self.progress + self.commands + self.logs


def prune(store: Store, keep: Retention, now: Optional[float] = None) -> Pruned:
    """Remove history older or beyond what ``keep`` allows; ``now`` as the store's callers keep time.

    Raises:
        StoreError: the store could not be read or written (what was pruned until then stays pruned).
    """
    try:
        return _prune(store, keep, store.stamp(now))
    except sqlite3.Error as exc:
        raise translate(exc, store.path) from exc


def _prune(store: Store, keep: Retention, wall: float) -> Pruned:
    done = Pruned()
    old = [int(r[0]) for r in store.db.execute(
        f"SELECT num FROM jobs WHERE state IN ({','.join('?' * len(_FINISHED))}) AND updated < ?",  # noqa: S608
        (*_FINISHED, wall - keep.keep_days * _DAY),
    )]
    for num in old:
        done.events += _batches(store, "DELETE FROM events WHERE rowid IN "
                                "(SELECT rowid FROM events WHERE job = ? LIMIT ?)", num)
        done.chunks += _batches(store, "DELETE FROM chunks WHERE rowid IN "
                                "(SELECT rowid FROM chunks WHERE job = ? LIMIT ?)", num)
        done.progress += _batches(store, "DELETE FROM progress WHERE rowid IN "
                                  "(SELECT rowid FROM progress WHERE job = ? LIMIT ?)", num)
        done.logs += _remove_logs(num)
    active = [int(r[0]) for r in store.db.execute(
        f"SELECT num FROM jobs WHERE state NOT IN ({','.join('?' * len(_FINISHED))})", _FINISHED  # noqa: S608
    )]
    for num in active:
        done.events += _beyond(store, "events", "job = ?", (num,), keep.job_events)
        done.chunks += _beyond(store, "chunks", f"job = ? AND state NOT IN ('{_OPEN[0]}', '{_OPEN[1]}')",
                               (num,), keep.job_chunks)
    done.events += _beyond(store, "events", "job IS NULL", (), keep.farm_events)
    done.commands += _batches(store, "DELETE FROM commands WHERE rowid IN (SELECT rowid FROM commands "
                              "WHERE handled IS NOT NULL AND handled < ? LIMIT ?)",
                              wall - keep.command_days * _DAY)
    if done.total:
        log.info("pruned history: %s", done)
    return done


def _batches(store: Store, sql: str, arg: object) -> int:
    """Run a ``DELETE ... LIMIT ?`` statement in transactions of :data:`BATCH` rows until none is left."""
    total = 0
    while True:
        with store.tx() as db:
            count = db.execute(sql, (arg, BATCH)).rowcount
        total += max(count, 0)
        if count < BATCH:
            return total


def _beyond(store: Store, table: str, where: str, args: tuple[object, ...], keep: int) -> int:
    """Delete the rows of ``table`` matching ``where`` except the newest ``keep`` (by id)."""
    row = store.db.execute(
        f"SELECT id FROM {table} WHERE {where} ORDER BY id DESC LIMIT 1 OFFSET ?", (*args, keep)  # noqa: S608
    ).fetchone()
    if row is None:
        return 0
    cutoff, total = int(row[0]), 0
    while True:
        with store.tx() as db:
            count = db.execute(
                f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} WHERE {where} "  # noqa: S608
                "AND id <= ? LIMIT ?)", (*args, cutoff, BATCH)
            ).rowcount
        total += max(count, 0)
        if count < BATCH:
            return total


def _remove_logs(num: int) -> int:
    folder = paths.logs_dir() / f"job-{num}"
    if not folder.is_dir():
        return 0
    count = sum(1 for _ in folder.iterdir())
    shutil.rmtree(folder, ignore_errors=True)
    return count
