"""The panel's backend over the real farm: :class:`farmhand.client.Client` for jobs, the node registry
and discovery for nodes.

Translating here keeps the widgets independent of the store's schema: they see only
:mod:`farmhand.ui.view.records`. Each thread gets its own client (the store's connections are per thread), and
unchanged data is not rebuilt: the job list and the selected job are cached by the store's change counter,
so polling an idle 5 000-frame job costs one integer read.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import Callable, Optional

from farmhand.client import Client, default_submitter
from farmhand.errors import NotFound
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
from farmhand.ui.view.backend import ScanProgress
from farmhand.ui.nodes_source import NodesSource, registry_source
from farmhand.ui.view.records import (
    ChunkPolicy,
    FarmSnapshot,
    FrameStatus,
    FrameView,
    JobDetail,
    JobNodeView,
    JobStatus,
    JobView,
    NodeStatus,
    NodeView,
    SubmitRequest,
)
from farmhand.ui.view.words import activity_words, failure_words

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 2000

_FRAME_STATUS = {
    FrameState.WAITING: FrameStatus.WAITING,
    FrameState.RENDERING: FrameStatus.RENDERING,
    FrameState.DONE: FrameStatus.DONE,
    FrameState.FAILED: FrameStatus.FAILED,
    FrameState.RETRYING: FrameStatus.RETRYING,
}


def _job_status(value: str) -> JobStatus:
    try:
        return JobStatus(value)
    except ValueError:  # a state newer than this panel: show the job rather than fail the whole poll
        log.debug("unknown job state %r", value)
        return JobStatus.QUEUED


def job_view(summary: JobSummary, owner: str = "") -> JobView:
    return JobView(
        job_id=summary.id, name=summary.title, status=_job_status(summary.state.value),
        priority=summary.priority, owner=owner, preset=summary.preset,
        frames_total=summary.frames_total, frames_done=summary.frames_done,
        frames_failed=summary.frames_failed, frames_rendering=summary.frames_rendering,
        eta_seconds=summary.eta_seconds, submitted_at=summary.created,
        message=failure_words(None, summary.error) if summary.error else "",
    )


def waiting_words(summary: JobSummary, titles: dict[str, str], done: set[str]) -> str:
    """``"job 7 (shot010_sim)"``: the jobs a waiting job still waits for (all of ``after`` if none is
    done yet; ids no longer in the store are named by id)."""
    blocking = [dep for dep in summary.after if dep not in done] or list(summary.after)
    return ", ".join(f"job {dep} ({titles[dep]})" if dep in titles else f"job {dep}" for dep in blocking)


def blocked_words(title: str, message: Optional[str]) -> str:
    """Why a node is blocklisted, for the Nodes tab, where "this job" means nothing: the dispatcher's
    "blocklisted for this job after 2 failures: …" names the job instead."""
    if not message:
        return f"blocklisted for {title}"
    if "for this job" in message:
        return message.replace("for this job", f"for {title}", 1)
    return f"{title}: {message}"


#: Per-node activities in which a node does no work for the job.
_HELD = (NodeActivity.BACKOFF, NodeActivity.BLOCKED, NodeActivity.OFFLINE, NodeActivity.BUSY)


def stall_words(summary: JobSummary, rows: tuple[NodeRow, ...]) -> str:
    """``"no node is rendering it: 3 backing off (licence unavailable; retrying in 80s)"`` when a running
    job has nodes but every one is held; the queue otherwise shows such a job as plainly running."""
    if summary.state is not JobState.RUNNING or not rows or any(r.state not in _HELD for r in rows):
        return ""
    counts: dict[str, int] = {}
    for row in rows:
        counts[activity_words(row.state.value)] = counts.get(activity_words(row.state.value), 0) + 1
    why = next((r.message for r in rows if r.message), "")
    held = ", ".join(f"{n} {words}" for words, n in counts.items())
    return f"no node is rendering it: {held}" + (f" ({why})" if why else "")


def job_node_view(row: NodeRow) -> JobNodeView:
    return JobNodeView(
        host=row.node, state=row.state.value,
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


def job_detail(snap: JobSnapshot) -> JobDetail:
    frames = tuple(frame_view(row) for row in snap.frames)
    # The store marks a whole chunk "rendering" when it is handed out; where a node says which frame
    # it is on, the rest of its chunk is only assigned, so the grid shows what really renders.
    current = {row.node: float(row.current_frame) for row in snap.nodes
               if row.current_frame is not None and row.state is NodeActivity.RENDERING}
    if current:
        frames = tuple(
            replace(f, status=FrameStatus.ASSIGNED)
            if f.status is FrameStatus.RENDERING and f.host in current and current[f.host] != f.frame else f
            for f in frames)
    job = job_view(snap.summary, snap.spec.submitter or "")
    if not job.message:
        job = replace(job, message=stall_words(snap.summary, snap.nodes))
    job = replace(job, frames_rendering=sum(f.status is FrameStatus.RENDERING for f in frames))
    return JobDetail(job=job, nodes=tuple(job_node_view(row) for row in snap.nodes), frames=frames)


def dispatcher_words(client: Client) -> str:
    info = client.dispatcher()
    if info.running:
        return f"dispatcher running (pid {info.pid})"
    return "dispatcher not running: it starts with the next submit or job command"


def frames_text(request: SubmitRequest) -> str:
    start, end = format_frame(request.frame_start), format_frame(request.frame_end)
    if request.frame_step == 1:
        return f"{start}-{end}"
    return f"{start}-{end}x{format_frame(request.frame_step)}"


def job_spec(request: SubmitRequest) -> JobSpec:
    """The client's job spec for what the Submit tab asked."""
    chunk: str | int = "auto"
    if request.chunk_policy == ChunkPolicy.FIXED:
        chunk = request.chunk_size
    elif request.chunk_policy == ChunkPolicy.SINGLE_FRAMES:
        chunk = 1
    return JobSpec(
        preset=request.preset, frames=frames_text(request), file=request.hip_path or None,
        target=request.rop_path or None, nodes=request.nodes, chunk=chunk, priority=request.priority,
        single_node=request.single_node, houdini_version=request.houdini_version or None,
        name=request.job_name or None, submitter=default_submitter(),
    )


class ClientBackend:
    """:class:`farmhand.ui.view.backend.FarmBackend` over the job store of ``FARMHAND_HOME``."""

    def __init__(self, client_factory: Callable[[], Client] = Client,
                 nodes: Optional[NodesSource] = None) -> None:
        self._client_factory = client_factory
        self._local = threading.local()
        self._nodes = nodes if nodes is not None else registry_source()
        self._lock = threading.Lock()
        self._jobs_cache: tuple[int, tuple[JobView, ...], dict[str, tuple[NodeRow, ...]]] = (-1, (), {})
        self._detail_cache: tuple[int, str, Optional[JobDetail]] = (-1, "", None)
        # A job's submitter never changes: read each spec once, not on every change of the store.
        self._owners: dict[str, str] = {}

    def client(self) -> Client:
        """This thread's client (SQLite connections are not shared between threads)."""
        found: Optional[Client] = getattr(self._local, "client", None)
        if found is None:
            found = self._client_factory()
            self._local.client = found
        return found

    # -- reading ------------------------------------------------------------------------------------------
    def snapshot(self, job_id: Optional[str]) -> FarmSnapshot:
        client = self.client()
        version = client.version()
        with self._lock:
            cached_version, jobs, busy = self._jobs_cache
        if cached_version != version:
            summaries = client.jobs()
            # Newest first: the job an artist just submitted is the one they look for.
            for summary in summaries:
                if summary.id not in self._owners:
                    self._owners[summary.id] = client.store.spec(summary.id).submitter or ""
            titles = {s.id: s.title for s in summaries}
            done = {s.id for s in summaries if s.state is JobState.DONE}
            busy = {s.id: tuple(client.store.progress(s.id)) for s in summaries if not s.state.finished}
            jobs = tuple(self._queue_view(s, titles, done, busy.get(s.id, ()))
                         for s in sorted(summaries, key=lambda s: s.created, reverse=True))
            with self._lock:
                self._jobs_cache = (version, jobs, busy)
        detail = self._detail(client, version, job_id) if job_id else None
        if detail is not None and detail.job.status is JobStatus.WAITING:
            # What it waits for is read off the whole queue, which the detail alone does not hold.
            listed = next((j for j in jobs if j.job_id == detail.job.job_id), None)
            if listed is not None:
                detail = replace(detail, job=replace(detail.job, waiting_for=listed.waiting_for))
        nodes = self._node_views(jobs, busy)
        return FarmSnapshot(jobs=jobs, nodes=nodes, detail=detail, taken_at=time.time(),
                            dispatcher=dispatcher_words(client))

    def _queue_view(self, summary: JobSummary, titles: dict[str, str], done: set[str],
                    rows: tuple[NodeRow, ...]) -> JobView:
        view = job_view(summary, self._owners[summary.id])
        if summary.state is JobState.WAITING:
            view = replace(view, waiting_for=waiting_words(summary, titles, done))
        if not view.message:
            view = replace(view, message=stall_words(summary, rows))
        return view

    def _detail(self, client: Client, version: int, job_id: str) -> Optional[JobDetail]:
        with self._lock:
            cached_version, cached_id, cached = self._detail_cache
        if cached_version == version and cached_id == job_id:
            return cached
        try:
            detail: Optional[JobDetail] = job_detail(client.job(job_id, events=0))
        except NotFound:
            # The job was removed from the store: the Jobs tab then drops its selection.
            detail = None
        with self._lock:
            self._detail_cache = (version, job_id, detail)
        return detail

    def _node_views(self, jobs: tuple[JobView, ...],
                    busy: dict[str, tuple[NodeRow, ...]]) -> tuple[NodeView, ...]:
        titles = {job.job_id: f"{job.name} ({job.owner})" if job.owner else job.name for job in jobs}
        rendering: dict[str, str] = {}
        blocked: dict[str, str] = {}
        for job_id, rows in busy.items():
            for row in rows:
                if row.state in (NodeActivity.RENDERING, NodeActivity.STARTING):
                    rendering[row.node] = titles.get(job_id, job_id)
                elif row.state == NodeActivity.BLOCKED:
                    blocked[row.node] = blocked_words(titles.get(job_id, job_id), row.message)
        views = []
        for node in self._nodes.nodes():
            status, note = node.status, node.note
            if node.host in rendering and status in (NodeStatus.IDLE, NodeStatus.UNKNOWN):
                status = NodeStatus.RENDERING
            if node.host in blocked and status != NodeStatus.RENDERING:
                status, note = NodeStatus.BLOCKLISTED, blocked[node.host]
            views.append(replace(node, status=status, note=note, rendering_for=rendering.get(node.host, "")))
        return tuple(views)

    def log(self, job_id: str, host: Optional[str] = None, frame: Optional[float] = None) -> str:
        lines = self.client().logs(job_id, host, frame)[-LOG_TAIL_LINES:]
        out = []
        for line in lines:
            stamp = time.strftime("%H:%M:%S", time.localtime(line.time))
            where = line.node + (f" f{format_frame(line.frame)}" if line.frame is not None else "")
            out.append(f"{stamp} {where} {line.stream}: {line.text}")
        return "\n".join(out)

    def presets(self) -> list[str]:
        from farmhand.presets import list_presets

        return [preset.name for preset in list_presets(errors=[])]

    # -- jobs ----------------------------------------------------------------------------------------------
    def submit(self, request: SubmitRequest) -> str:
        return self.client().submit(job_spec(request))

    def cancel(self, job_id: str) -> None:
        self.client().cancel(job_id)

    def pause(self, job_id: str) -> None:
        self.client().pause(job_id)

    def resume(self, job_id: str) -> None:
        self.client().resume(job_id)

    def retry_failed(self, job_id: str) -> None:
        self.client().retry(job_id)

    def set_priority(self, job_id: str, priority: int) -> None:
        self.client().set_priority(job_id, priority)

    def requeue_frame(self, job_id: str, frame: float) -> None:
        self.client().requeue_frame(job_id, frame)

    # -- nodes ---------------------------------------------------------------------------------------------
    def scan(self, spec: str, progress: ScanProgress, cancelled: Callable[[], bool]) -> list[NodeView]:
        return self._nodes.scan(spec, progress, cancelled)

    def probe(self, host: str) -> NodeView:
        return self._nodes.probe(host)

    def fingerprint(self, host: str) -> str:
        return self._nodes.fingerprint(host)

    def trust(self, host: str, fingerprint: str) -> None:
        self._nodes.trust(host, fingerprint)

    def set_enabled(self, host: str, enabled: bool) -> None:
        self._nodes.set_enabled(host, enabled)

    def wake(self, host: str) -> None:
        self._nodes.wake(host)

    def add_node(self, name: str) -> NodeView:
        return self._nodes.add(name)
