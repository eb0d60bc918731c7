"""What the panel needs from the farm: read snapshots, act on jobs and nodes.

Every method may block (SQLite, SSH), so the panel calls them from worker threads only; each returns
plain records from :mod:`farmhand.ui.view.records` or raises :class:`farmhand.errors.FarmhandError`, whose
one-line message the panel shows. :class:`farmhand.ui.client_backend.ClientBackend` implements
:class:`FarmBackend` over ``farmhand.client``, taking its nodes from a :class:`NodesSource`
(:class:`farmhand.ui.registry_nodes.RegistryNodes`: the node registry, discovery and SSH).
"""

from __future__ import annotations

from typing import Callable, Optional, Protocol

from farmhand.ui.view.records import FarmSnapshot, NodeView, SubmitRequest

#: ``(addresses checked, addresses in the range, nodes found so far)``.
ScanProgress = Callable[[int, int, int], None]


class FarmBackend(Protocol):
    # -- reading (called by the poller thread) -------------------------------------------------
    def snapshot(self, job_id: Optional[str]) -> FarmSnapshot:
        """The queue, the nodes, and the detail of ``job_id`` (None: no job selected)."""

    def log(self, job_id: str, host: Optional[str] = None, frame: Optional[float] = None) -> str:
        """The tail of a job's log: the whole job, one node's part, or one frame's."""

    def presets(self) -> list[str]:
        """Preset names a job can use."""

    # -- jobs -----------------------------------------------------------------------------------
    def submit(self, request: SubmitRequest) -> str:
        """Queue a job and return its id."""

    def cancel(self, job_id: str) -> None: ...

    def pause(self, job_id: str) -> None: ...

    def resume(self, job_id: str) -> None: ...

    def retry_failed(self, job_id: str) -> None: ...

    def set_priority(self, job_id: str, priority: int) -> None: ...

    def requeue_frame(self, job_id: str, frame: float) -> None: ...

    # -- nodes ----------------------------------------------------------------------------------
    def scan(self, spec: str, progress: ScanProgress, cancelled: Callable[[], bool]) -> list[NodeView]:
        """Scan an address range (``10.0.0.0/24``, ``10.0.0.5-40``) for SSH and register what answers."""

    def probe(self, host: str) -> NodeView:
        """Inventory one node over SSH (cores, RAM, GPUs, Houdini builds, load)."""

    def fingerprint(self, host: str) -> str:
        """The host key fingerprint the node presents now (shown before trusting it)."""

    def trust(self, host: str, fingerprint: str) -> None:
        """Record the node's key, refusing if it no longer matches ``fingerprint``."""

    def set_enabled(self, host: str, enabled: bool) -> None: ...

    def wake(self, host: str) -> None:
        """Send Wake-on-LAN to the node's recorded MAC addresses."""

    def add_node(self, name: str) -> NodeView:
        """Register a node by host name or address."""


class NodesSource(Protocol):
    """Where the Nodes tab's data and actions come from; kept apart from the jobs so each side works
    (and is tested) on its own and a host can plug in another node list."""

    def nodes(self) -> list[NodeView]: ...

    def scan(self, spec: str, progress: ScanProgress, cancelled: Callable[[], bool]) -> list[NodeView]: ...

    def probe(self, host: str) -> NodeView: ...

    def fingerprint(self, host: str) -> str: ...

    def trust(self, host: str, fingerprint: str) -> None: ...

    def set_enabled(self, host: str, enabled: bool) -> None: ...

    def wake(self, host: str) -> None: ...

    def add(self, name: str) -> NodeView: ...
