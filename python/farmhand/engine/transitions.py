"""Every state a job and a chunk may move to, in one table: the only place that says which move is legal.

The dispatcher never assigns a :class:`~farmhand.jobs.JobState` or :class:`~farmhand.jobs.ChunkState`
directly; it asks :func:`move_job` / :func:`move_chunk`, which return the new state or refuse an illegal
move with :class:`IllegalTransition`. Commands use :func:`can_move_job` to answer "nothing to pause" before
they try.

A job is queued at submit; it waits while its ``after`` jobs are not done, runs once a chunk starts,
may be paused by the user, and ends done, failed or cancelled; a retry or a requeued frame brings an
ended job back to running. A chunk starts, runs once its process exists, and ends once: done, failed,
cancelled, or lost when the dispatcher restarted while it ran. A chunk is never restarted: its frames
go to a new chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from farmhand.errors import FarmhandError
from farmhand.jobs import ChunkState, JobState


class IllegalTransition(FarmhandError):
    """The dispatcher tried a state change the table does not allow (a bug, reported with both states)."""


_J = JobState
JOB_MOVES: Mapping[JobState, frozenset[JobState]] = {
    _J.QUEUED: frozenset({_J.WAITING, _J.RUNNING, _J.PAUSED, _J.DONE, _J.FAILED, _J.CANCELLED}),
    _J.WAITING: frozenset({_J.QUEUED, _J.PAUSED, _J.FAILED, _J.CANCELLED}),
    _J.RUNNING: frozenset({_J.WAITING, _J.PAUSED, _J.DONE, _J.FAILED, _J.CANCELLED}),
    _J.PAUSED: frozenset({_J.RUNNING, _J.FAILED, _J.CANCELLED}),
    _J.DONE: frozenset({_J.RUNNING}),
    _J.FAILED: frozenset({_J.RUNNING}),
    _J.CANCELLED: frozenset({_J.RUNNING}),
}

_C = ChunkState
_CHUNK_ENDS = frozenset({_C.DONE, _C.FAILED, _C.CANCELLED, _C.LOST})
CHUNK_MOVES: Mapping[ChunkState, frozenset[ChunkState]] = {
    _C.STARTING: _CHUNK_ENDS | {_C.RUNNING},
    _C.RUNNING: _CHUNK_ENDS,
    **{end: frozenset() for end in _CHUNK_ENDS},
}

_S = TypeVar("_S", JobState, ChunkState)


def _move(table: Mapping[_S, frozenset[_S]], what: str, current: _S, new: _S) -> _S:
    if new not in table[current]:
        raise IllegalTransition(f"a {what} cannot go from {current.value} to {new.value}")
    return new


def can_move_job(current: JobState, new: JobState) -> bool:
    return new in JOB_MOVES[current]


def move_job(current: JobState, new: JobState) -> JobState:
    """``new``, when a job in state ``current`` may take it.

    Raises:
        IllegalTransition: the table has no such move.
    """
    return _move(JOB_MOVES, "job", current, new)


def move_chunk(current: ChunkState, new: ChunkState) -> ChunkState:
    """``new``, when a chunk in state ``current`` may take it.

    Raises:
        IllegalTransition: the table has no such move.
    """
    return _move(CHUNK_MOVES, "chunk", current, new)
