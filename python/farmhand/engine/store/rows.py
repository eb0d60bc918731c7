"""The job store's rows as the typed records clients and the dispatcher use (the only code that knows
the column names of a read)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional

from farmhand.frames import normalise
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
    NodeActivity,
    NodeRow,
)


@dataclass(frozen=True)
class JobHeader:
    """A job's own row, without its spec or frames."""

    id: str
    state: JobState
    priority: int
    created: float
    error: Optional[str]


class Command(NamedTuple):
    """A client's request to the dispatcher, waiting to be applied."""

    id: int
    job_id: Optional[str]
    op: CommandOp
    arg: dict[str, Any]


def job_header(row: sqlite3.Row) -> JobHeader:
    return JobHeader(
        id=str(row["num"]),
        state=JobState(row["state"]),
        priority=int(row["priority"]),
        created=float(row["created"]),
        error=row["error"],
    )


def job_summary(row: sqlite3.Row, counts: dict[str, int]) -> JobSummary:
    """A job row and its frames counted by state (``{"done": 12, ...}``) as a summary."""
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


def frame_row(r: sqlite3.Row) -> FrameRow:
    return FrameRow(
        frame=normalise(r["frame"]),
        state=FrameState(r["state"]),
        node=r["node"],
        attempts=int(r["attempts"]),
        output=r["output"],
        error_kind=r["error_kind"],
        error_message=r["error_message"],
        seconds=r["seconds"],
    )


def chunk(r: sqlite3.Row) -> Chunk:
    return Chunk(
        id=int(r["id"]),
        job_id=str(r["job"]),
        node=str(r["node"]),
        frames=tuple(int(i) for i in json.loads(r["frames"])),
        state=ChunkState(r["state"]),
        started=float(r["started"]),
        ended=r["ended"],
        pgid=None if r["pgid"] is None else int(r["pgid"]),
        backup_of=r["backup_of"],
        persistent=bool(r["persistent"]),
        exit_code=r["exit_code"],
        message=r["message"],
    )


def node_row(r: sqlite3.Row) -> NodeRow:
    return NodeRow(
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


def event(r: sqlite3.Row) -> Event:
    return Event(
        id=int(r["id"]),
        time=float(r["t"]),
        job_id=None if r["job"] is None else str(r["job"]),
        kind=r["kind"],
        message=r["message"],
        node=r["node"],
        frame=None if r["frame"] is None else normalise(r["frame"]),
    )


def command(r: sqlite3.Row) -> Command:
    return Command(
        id=int(r["id"]),
        job_id=None if r["job"] is None else str(r["job"]),
        op=CommandOp(r["op"]),
        arg=json.loads(r["arg"] or "{}"),
    )
