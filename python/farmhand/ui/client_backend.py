"""The panel's backend over the real farm: :class:`farmhand.client.Client` for jobs, the node registry
and discovery for nodes (no Qt here either: it runs in the panel's worker threads).

The store's records become the panel's in :mod:`farmhand.ui.view.convert`, so the widgets see only
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
from farmhand.display import safe_text
from farmhand.errors import NotFound
from farmhand.frames import format_frame
from farmhand.jobs import JobState, NodeActivity, NodeRow
from farmhand.nodes.power import PowerState
from farmhand.ui.view.backend import NodesSource, ScanProgress
from farmhand.ui.view.convert import job_detail, job_spec, queue_view
from farmhand.ui.view.records import (
    FarmSnapshot,
    FramePreview,
    JobDetail,
    JobView,
    NodeStatus,
    NodeView,
    SubmitRequest,
)
from farmhand.ui.view.team import with_leases
from farmhand.ui.view.words import blocked_words

log = logging.getLogger(__name__)

LOG_TAIL_LINES = 2000
_PreviewCache = tuple[tuple[str, int], Optional[JobDetail], Optional[JobDetail]]


def dispatcher_words(client: Client) -> str:
    info = client.dispatcher()
    if info.running:
        return f"dispatcher running (pid {info.pid})"
    return "dispatcher not running: it starts with the next submit or job command"


def power_view(node: NodeView, state: Optional[PowerState], message: Optional[str]) -> NodeView:
    """A node Farmhand put to sleep or is waking (``farmhand power``) in the Nodes tab's words."""
    quiet = (NodeStatus.IDLE, NodeStatus.UNKNOWN, NodeStatus.UNREACHABLE)
    if state is None or state is PowerState.AWAKE or node.status not in quiet:
        return node
    status = {PowerState.WAKING: NodeStatus.WAKING,
              PowerState.WAKE_FAILED: NodeStatus.UNREACHABLE}.get(state, NodeStatus.ASLEEP)
    return replace(node, status=status, note=message or state.value)  # the State column has the word


def registry_source() -> NodesSource:
    """The node registry of this ``FARMHAND_HOME`` (imported when first needed: SSH and discovery)."""
    from farmhand.ui.registry_nodes import RegistryNodes

    return RegistryNodes()


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
        # (latest preview, its mtime), the detail it was added to, the detail with previews.
        self._preview_cache: _PreviewCache = (("", 0), None, None)
        # A job's submitter never changes: read each spec once, not on every change of the store.
        self._submitters: dict[str, str] = {}
        # Whose jobs are "mine" on a shared farm database, by job id (the detail reads it too).
        self._owners: dict[str, str] = {}

    def client(self) -> Client:
        """This thread's client (SQLite connections are not shared between threads)."""
        found: Optional[Client] = getattr(self._local, "client", None)
        if found is None:
            found = self._client_factory()
            self._local.client = found
        return found

    def login(self, client: Client) -> Optional[str]:
        """The farm database login the panel reads as (None: a SQLite store), read once per thread."""
        if not hasattr(self._local, "login"):
            self._local.login = client.login()
        found: Optional[str] = self._local.login
        return found

    # -- reading ------------------------------------------------------------------------------------------
    def snapshot(self, job_id: Optional[str]) -> FarmSnapshot:
        client = self.client()
        version = client.version()
        with self._lock:
            cached_version, jobs, busy = self._jobs_cache
        me = self.login(client)
        if cached_version != version:
            jobs, busy = self._queue(client, me)
            with self._lock:
                self._jobs_cache = (version, jobs, busy)
        detail = self._detail(client, version, job_id, me) if job_id else None
        if detail is not None and detail.job.status is JobState.WAITING:
            # What it waits for is read off the whole queue, which the detail alone does not hold.
            listed = next((j for j in jobs if j.job_id == detail.job.job_id), None)
            if listed is not None:
                detail = replace(detail, job=replace(detail.job, waiting_for=listed.waiting_for))
        if detail is not None:
            detail = self._with_previews(client, detail)
        power = {p.node: (p.state, p.message) for p in client.farm.node_power()}
        # Leases are read on every poll: the seconds left change without any write to the store.
        leased = with_leases(self._nodes.nodes(), client.leases())
        nodes = tuple(power_view(n, *power.get(n.host, (None, None)))
                      for n in self._node_views(leased, jobs, busy))
        return FarmSnapshot(jobs=jobs, nodes=nodes, detail=detail, taken_at=time.time(),
                            dispatcher=dispatcher_words(client), shared=me is not None)

    def _queue(self, client: Client,
               me: Optional[str]) -> tuple[tuple[JobView, ...], dict[str, tuple[NodeRow, ...]]]:
        """Every job in the store, newest first (the one an artist just submitted is the one they look
        for; the Jobs tab shows only the user's own unless asked), and the per-node rows of each unfinished
        one (the Nodes tab shows what every node renders, whoever's job it is)."""
        summaries = client.jobs(all_users=True)
        owners = client.owners()
        for summary in summaries:
            if summary.id not in self._submitters:
                self._submitters[summary.id] = client.store.spec(summary.id).submitter or ""
        with self._lock:
            self._owners = owners
        titles = {s.id: s.title for s in summaries}
        done = {s.id for s in summaries if s.state is JobState.DONE}
        busy = {s.id: tuple(client.store.progress(s.id)) for s in summaries if not s.state.finished}
        jobs = tuple(queue_view(s, self._submitters[s.id], titles, done, busy.get(s.id, ()),
                                owner=owners.get(s.id, ""), mine=me is None or owners.get(s.id) == me)
                     for s in sorted(summaries, key=lambda s: s.created, reverse=True))
        return jobs, busy

    def _detail(self, client: Client, version: int, job_id: str, me: Optional[str]) -> Optional[JobDetail]:
        with self._lock:
            cached_version, cached_id, cached = self._detail_cache
            owner = self._owners.get(job_id, "")
        if cached_version == version and cached_id == job_id:
            return cached
        try:
            detail: Optional[JobDetail] = job_detail(client.job(job_id, events=0), owner=owner,
                                                     mine=me is None or owner == me)
        except NotFound:
            # The job was removed from the store: the Jobs tab then drops its selection.
            detail = None
        with self._lock:
            self._detail_cache = (version, job_id, detail)
        return detail

    def _with_previews(self, client: Client, detail: JobDetail) -> JobDetail:
        """The detail with each frame's preview and the last finished frame's. Previews appear after
        the frame is done (made on the dispatcher's own thread), so they are looked for on every poll:
        one small file read, and a directory listing only when a new preview came."""
        latest = client.preview(detail.job.job_id, make=False)
        if latest is None:
            return detail
        try:
            stamp = latest.path.stat().st_mtime_ns
        except OSError:
            return detail
        key = (str(latest.path), stamp)
        with self._lock:
            cached_key, source, cached = self._preview_cache
        if cached_key == key and source is detail and cached is not None:
            return cached
        listing = client.previews(detail.job.job_id)
        frames = tuple(replace(f, preview=str(listing[f.frame])) if f.frame in listing else f
                       for f in detail.frames)
        shown = replace(detail, frames=frames, preview=FramePreview(float(latest.frame), str(latest.path)))
        with self._lock:
            self._preview_cache = (key, detail, shown)
        return shown

    @staticmethod
    def _node_views(listed: tuple[NodeView, ...], jobs: tuple[JobView, ...],
                    busy: dict[str, tuple[NodeRow, ...]]) -> tuple[NodeView, ...]:
        titles = {job.job_id: f"{job.name} ({job.who})" if job.who else job.name for job in jobs}
        rendering: dict[str, str] = {}
        blocked: dict[str, str] = {}
        for job_id, rows in busy.items():
            for row in rows:
                if row.state in (NodeActivity.RENDERING, NodeActivity.STARTING):
                    rendering[row.node] = titles.get(job_id, job_id)
                elif row.state is NodeActivity.BLOCKED:
                    blocked[row.node] = blocked_words(titles.get(job_id, job_id), row.message)
        views = []
        for node in listed:
            status, note = node.status, node.note
            if node.host in rendering and status in (NodeStatus.IDLE, NodeStatus.UNKNOWN):
                status = NodeStatus.RENDERING
            if node.host in blocked and status is not NodeStatus.RENDERING:
                status, note = NodeStatus.BLOCKLISTED, blocked[node.host]
            views.append(replace(node, status=status, note=note, rendering_for=rendering.get(node.host, "")))
        return tuple(views)

    def log(self, job_id: str, host: Optional[str] = None, frame: Optional[float] = None) -> str:
        """The last :data:`LOG_TAIL_LINES` lines, as text to show: what renderers and nodes wrote is
        escaped (:func:`farmhand.display.safe_text`), so no control character reaches the log view."""
        lines = self.client().logs(job_id, host, frame)[-LOG_TAIL_LINES:]
        out = []
        for line in lines:
            stamp = time.strftime("%H:%M:%S", time.localtime(line.time))
            where = line.node + (f" f{format_frame(line.frame)}" if line.frame is not None else "")
            out.append(f"{stamp} {safe_text(where)} {line.stream}: {safe_text(line.text)}")
        return "\n".join(out)

    def presets(self) -> list[str]:
        from farmhand.presets import list_presets

        return [preset.name for preset in list_presets(errors=[])]

    # -- jobs ----------------------------------------------------------------------------------------------
    def submit(self, request: SubmitRequest) -> str:
        return self.client().submit(job_spec(request, default_submitter()))

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
