"""The job store's records (:mod:`farmhand.jobs`) as the panel's records, and the Submit tab's request as
a job spec.

Pure functions: :class:`farmhand.ui.client_backend.ClientBackend` calls them on what the client read, and
tests call them on recorded snapshots. Translating here keeps the widgets independent of the store.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Optional

from farmhand.frames import format_frame
from farmhand.jobs import (
    FrameRow,
    FrameState,
    JobSnapshot,
    JobSpec,
    JobState,
    JobSummary,
    NodeActivity,
    NodeRow,
)
from farmhand.ui.view.records import FrameStatus, FrameView, JobDetail, JobNodeView, JobView, SubmitRequest
from farmhand.ui.view.words import failure_words, stall_words, waiting_words

_FRAME_STATUS = {
    FrameState.WAITING: FrameStatus.WAITING,
    FrameState.RENDERING: FrameStatus.RENDERING,
    FrameState.DONE: FrameStatus.DONE,
    FrameState.FAILED: FrameStatus.FAILED,
    FrameState.RETRYING: FrameStatus.RETRYING,
}


def job_view(summary: JobSummary, submitter: str = "", *, owner: str = "", mine: bool = True) -> JobView:
    """A job of the queue; ``owner`` and ``mine`` matter on a shared farm database only."""
    return JobView(
        job_id=summary.id, name=summary.title, status=summary.state,
        priority=summary.priority, owner=owner, submitter=submitter, mine=mine, preset=summary.preset,
        frames_total=summary.frames_total, frames_done=summary.frames_done,
        frames_failed=summary.frames_failed, frames_rendering=summary.frames_rendering,
        eta_seconds=summary.eta_seconds, submitted_at=summary.created,
        message=failure_words(None, summary.error) if summary.error else "",
        hold=summary.hold or "",
    )


def rendering_now(rows: tuple[NodeRow, ...]) -> int:
    """Frames being rendered this instant: one per node that says which frame it is on. (The store marks
    a whole chunk "rendering" when it is handed out; those frames are only assigned.)"""
    return sum(1 for row in rows if row.state is NodeActivity.RENDERING and row.current_frame is not None)


def queue_view(summary: JobSummary, submitter: str, titles: dict[str, str], done: set[str],
               rows: tuple[NodeRow, ...], *, owner: str = "", mine: bool = True) -> JobView:
    """A job as the queue lists it: what it waits for, or why no node renders it."""
    view = replace(job_view(summary, submitter, owner=owner, mine=mine), frames_rendering=rendering_now(rows))
    if summary.state is JobState.WAITING:
        view = replace(view, waiting_for=waiting_words(summary, titles, done))
    if not view.message:
        view = replace(view, message=stall_words(summary, rows))
    return view


def job_node_view(row: NodeRow) -> JobNodeView:
    return JobNodeView(
        host=row.node, state=row.state,
        current_frame=None if row.current_frame is None else float(row.current_frame),
        frame_percent=row.frame_percent, frames_done=row.frames_done,
        chunk_done=row.chunk_done, chunk_frames=row.chunk_frames,
        sec_per_frame=row.seconds_per_frame, eta_seconds=row.eta_seconds,
        error=row.message or "",
    )


def frame_view(row: FrameRow) -> FrameView:
    error = failure_words(row.error_kind, row.error_message) if (row.error_kind or row.error_message) else ""
    return FrameView(frame=float(row.frame), status=_FRAME_STATUS.get(row.state, FrameStatus.WAITING),
                     host=row.node or "", attempts=row.attempts, seconds=row.seconds, error=error)


def job_detail(snap: JobSnapshot, *, owner: str = "", mine: bool = True) -> JobDetail:
    # The store marks a whole chunk "rendering" when it is handed out. A frame is rendering only while
    # its node says it is on that frame; the rest of a running chunk is assigned. Between two frames
    # (the last one done, the next not started yet) and for renderers that never say which frame they
    # are on, a node renders no known frame: its whole chunk is assigned, never "rendering".
    current = {(row.node, float(row.current_frame)) for row in snap.nodes
               if row.current_frame is not None and row.state is NodeActivity.RENDERING}
    frames = tuple(
        replace(view, status=FrameStatus.ASSIGNED)
        if view.status is FrameStatus.RENDERING and (view.host, view.frame) not in current else view
        for view in (frame_view(row) for row in snap.frames))
    job = job_view(snap.summary, snap.spec.submitter or "", owner=owner, mine=mine)
    if not job.message:
        job = replace(job, message=stall_words(snap.summary, snap.nodes))
    job = replace(job, frames_rendering=sum(f.status is FrameStatus.RENDERING for f in frames))
    return JobDetail(job=job, nodes=tuple(job_node_view(row) for row in snap.nodes), frames=frames)


def frames_text(request: SubmitRequest) -> str:
    start, end = format_frame(request.frame_start), format_frame(request.frame_end)
    if request.frame_step == 1:
        return f"{start}-{end}"
    return f"{start}-{end}x{format_frame(request.frame_step)}"


def job_spec(request: SubmitRequest, submitter: Optional[str] = None) -> JobSpec:
    """The client's job spec for what the Submit tab asked."""
    return JobSpec(
        preset=request.preset, frames=frames_text(request), file=request.hip_path or None,
        target=request.rop_path or None, nodes=request.nodes, chunk=request.chunk, priority=request.priority,
        single_node=request.single_node, houdini_version=request.houdini_version or None,
        name=request.job_name or None, submitter=submitter, groups=request.groups, env=request.env,
    )
