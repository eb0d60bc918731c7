"""The job store's side of a job's life after rendering: when jobs ended, what a job was, removing it.

* :func:`ended_since` lists the jobs that ended (done, failed, cancelled) after an event id, from the
  events the dispatcher writes at every ending, so what runs at a job's end never misses one and never
  runs twice, across dispatcher restarts too.
* :func:`job_record` is everything the store holds about a job, as JSON (what ``farmhand archive``
  keeps); :func:`remove_job` deletes it, in one transaction, only once the job is finished and none of
  its chunks is still open, so the dispatcher never writes to a job that is gone.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from farmhand.engine.store.database import job_num
from farmhand.engine.store.rows import chunk, event
from farmhand.engine.store.tables import Store
from farmhand.errors import FarmhandError
from farmhand.jobs import ChunkState, JobState, to_jsonable

#: The tables that hold a job's rows, and the column naming the job in each.
_JOB_TABLES = (("frames", "job"), ("chunks", "job"), ("progress", "job"), ("events", "job"),
               ("commands", "job"), ("jobs", "num"))
_ENDED = (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class Ending(NamedTuple):
    """A job's ending as its event recorded it."""

    event_id: int
    job_id: str
    state: JobState
    time: float
    message: str


class JobBusy(FarmhandError):
    """The job is not finished, or some of its chunks are still being stopped."""


def last_event_id(store: Store) -> int:
    row = store.db.execute("SELECT MAX(id) FROM events").fetchone()
    return int(row[0] or 0)


def ended_since(store: Store, event_id: int, limit: int = 500) -> list[Ending]:
    """Jobs that ended after event ``event_id``, oldest first (a job ended twice, after a retry, twice)."""
    marks = ",".join("?" * len(_ENDED))
    found = store.db.execute(
        f"SELECT id, job, kind, t, message FROM events WHERE id > ? AND job IS NOT NULL AND kind IN ({marks})"  # noqa: S608
        " ORDER BY id LIMIT ?",
        [event_id, *(s.value for s in _ENDED), limit],
    ).fetchall()
    return [Ending(int(r[0]), str(r[1]), JobState(r[2]), float(r[3]), str(r[4])) for r in found]


def finished_jobs(store: Store, before: float) -> list[str]:
    """Finished jobs last changed before ``before`` (epoch seconds), oldest first."""
    marks = ",".join("?" * len(_ENDED))
    found = store.db.execute(
        f"SELECT num FROM jobs WHERE state IN ({marks}) AND updated < ? ORDER BY num",  # noqa: S608
        [*(s.value for s in _ENDED), before],
    ).fetchall()
    return [str(r[0]) for r in found]


def open_chunks_of(store: Store, job_id: str) -> int:
    row = store.db.execute(
        "SELECT COUNT(*) FROM chunks WHERE job = ? AND state IN (?, ?)",
        (job_num(job_id), ChunkState.STARTING.value, ChunkState.RUNNING.value),
    ).fetchone()
    return int(row[0])


def job_record(store: Store, job_id: str) -> dict[str, Any]:
    """Everything the store holds about the job, as JSON-ready data (summary, spec, frames, chunks,
    events)."""
    num = job_num(job_id)
    with store.read():
        summary = store.summary(job_id)
        spec = store.spec(job_id)
        frames = store.frames(job_id)
        chunks = [chunk(r) for r in store.db.execute("SELECT * FROM chunks WHERE job = ? ORDER BY id",
                                                     (num,)).fetchall()]
        events = [event(r) for r in store.db.execute("SELECT * FROM events WHERE job = ? ORDER BY id",
                                                     (num,)).fetchall()]
    data: dict[str, Any] = {"id": summary.id, "state": summary.state.value}
    data.update(to_jsonable({"summary": summary, "frames": frames, "chunks": chunks, "events": events}))
    data["spec"] = spec.to_dict()
    return data


def remove_job(store: Store, job_id: str) -> JobState:
    """Delete every row of a finished job; return the state it ended in.

    Raises:
        NotFound: there is no such job.
        JobBusy: it is not finished, or its chunks are still being stopped (try again in a moment).
    """
    num = job_num(job_id)
    with store.tx() as db:
        head = store.job(job_id)
        if not head.state.finished:
            raise JobBusy(f"job {head.id} is {head.state.value}; cancel it first "
                          f"('farmhand cancel {head.id}')")
        if open_chunks_of(store, job_id):
            raise JobBusy(f"job {head.id} still has chunks being stopped on its nodes; try again in a moment")
        for table, column in _JOB_TABLES:
            db.execute(f"DELETE FROM {table} WHERE {column} = ?", (num,))  # noqa: S608 - our names
    return head.state


def dumps(record: dict[str, Any]) -> str:
    return json.dumps(record, indent=1, sort_keys=False)


__all__ = ["Ending", "JobBusy", "dumps", "ended_since", "finished_jobs", "job_record", "last_event_id",
           "open_chunks_of", "remove_job"]
