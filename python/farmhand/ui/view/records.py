"""Plain records the panel displays and the requests it makes.

The widgets know only these types and the shared vocabulary of :mod:`farmhand.jobs` (job states, node
activities, chunk policies) and :mod:`farmhand.display` (severity). :mod:`farmhand.ui.view.convert`
fills them from the job store's records, :mod:`farmhand.ui.registry_nodes` from the node registry, tests
from recorded snapshots, and :mod:`farmhand.houdini` fills a :class:`SubmitContext` from the scene.

Names and messages in these records are kept as the farm gave them (a node name is also the key an
action is sent with); the widgets escape them where they are shown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Optional

from farmhand.display import Severity
from farmhand.jobs import ChunkMode, ChunkPolicy, JobState, NodeActivity


class NodeStatus(str, Enum):
    IDLE = "idle"
    RENDERING = "rendering"
    UNREACHABLE = "unreachable"
    BLOCKLISTED = "blocklisted"
    DISABLED = "disabled"
    UNTRUSTED = "untrusted"
    UNKNOWN = "unknown"
    ASLEEP = "asleep"  # put to sleep by its power rule (farmhand power), woken when a job needs it
    WAKING = "waking"  # a Wake-on-LAN packet was sent; waiting for SSH


class FrameStatus(str, Enum):
    """A frame as the grid paints it: :class:`farmhand.jobs.FrameState`, with the store's "rendering"
    split into the one frame a node is on and the rest of its chunk (:attr:`ASSIGNED`)."""

    WAITING = "waiting"
    #: Handed to a node as part of its chunk, not started yet.
    ASSIGNED = "assigned"
    RENDERING = "rendering"
    DONE = "done"
    FAILED = "failed"
    RETRYING = "retrying"


@dataclass(frozen=True)
class NodeView:
    """One render node as the Nodes tab shows it."""

    host: str
    status: NodeStatus
    address: str = ""
    trusted: bool = False
    enabled: bool = False
    fingerprint: str = ""
    cores: Optional[int] = None
    ram_gb: Optional[float] = None
    gpus: tuple[str, ...] = ()
    houdini: tuple[str, ...] = ()
    load: Optional[float] = None
    #: Who the node renders for right now ("shot010_v003 (anna)"), empty when idle.
    rendering_for: str = ""
    #: Why the node is unreachable/blocklisted, in words.
    note: str = ""
    #: From its last probe: the MACs Wake-on-LAN sends to, the OS, the share's free space, and when.
    macs: tuple[str, ...] = ()
    os: str = ""
    share_free_gb: Optional[float] = None
    probed_at: Optional[float] = None
    #: Its tags (from its inventory and given by hand): the groups a job can ask for.
    tags: tuple[str, ...] = ()
    #: The name people know it by when that is not :attr:`host` (the host name a node registered by its
    #: address reports, as ``farmhand nodes list`` shows it); :attr:`host` stays the key actions use.
    shown_as: str = ""
    #: On a shared farm database: the dispatcher that leases the node (``dispatcher:HOST:PID``) and the
    #: seconds until that lease expires (negative: expired, not taken over yet).
    leased_by: str = ""
    lease_left: Optional[float] = None
    #: In this machine's node registry (False: only a dispatcher's lease on the farm database names it).
    registered: bool = True

    @property
    def name(self) -> str:
        """What the panel calls the node."""
        return self.shown_as or self.host


@dataclass(frozen=True)
class JobView:
    """One job in the queue."""

    job_id: str
    name: str
    status: JobState
    priority: int = 50
    #: On a shared farm database, the login that owns the job (``farmhand jobs --all``'s OWNER); empty
    #: with the SQLite store, where every job is the user's own.
    owner: str = ""
    preset: str = ""
    frames_total: int = 0
    frames_done: int = 0
    frames_failed: int = 0
    frames_rendering: int = 0
    eta_seconds: Optional[float] = None
    submitted_at: float = 0.0
    #: The job's last problem in words ("3 frames failed: no Houdini licence on render04").
    message: str = ""
    #: The jobs a waiting job still waits for, in words ("job 7 (shot010_sim)"); empty otherwise.
    waiting_for: str = ""
    #: What holds a queued job back ("waiting for limit karma (4 of 4 in use)", "waking render03 ...").
    hold: str = ""
    #: Who sent it, as the submitting machine named them ("anna@ws-anna").
    submitter: str = ""
    #: The job is the user's own: always with the SQLite store; on a farm database, owned by this login.
    mine: bool = True

    @property
    def who(self) -> str:
        """Whose job it is, in a word: its owner on a farm database, else who sent it."""
        return self.owner or self.submitter

    @property
    def note(self) -> str:
        """What the queue says next to the job: its problem, or what it waits for."""
        if self.message:
            return self.message
        if self.hold:
            return self.hold
        if self.status is JobState.WAITING:
            return f"waiting for {self.waiting_for or 'another job'} to finish"
        return ""

    @property
    def progress(self) -> float:
        """Share of frames done, 0..1."""
        return self.frames_done / self.frames_total if self.frames_total else 0.0


@dataclass(frozen=True)
class JobNodeView:
    """One node's part in the selected job."""

    host: str
    state: NodeActivity
    current_frame: Optional[float] = None
    #: Progress of the current frame (ALF %), 0..100; None when the renderer reports none.
    frame_percent: Optional[float] = None
    #: Frames this node rendered for the job.
    frames_done: int = 0
    #: The node's current share of the job (its chunk): frames in it and frames of it done.
    chunk_frames: int = 0
    chunk_done: int = 0
    sec_per_frame: Optional[float] = None
    #: Until the node's current chunk ends.
    eta_seconds: Optional[float] = None
    #: Why the node is blocked/backing off, or its last error, in words.
    error: str = ""

    @property
    def share(self) -> float:
        return self.chunk_done / self.chunk_frames if self.chunk_frames else 0.0


@dataclass(frozen=True)
class FrameView:
    frame: float
    status: FrameStatus
    host: str = ""
    attempts: int = 0
    seconds: Optional[float] = None
    error: str = ""
    #: The frame's preview image on this machine, once one was made ("" before).
    preview: str = ""


@dataclass(frozen=True)
class FramePreview:
    """A frame's preview image (a small JPEG in ``FARMHAND_HOME/previews``)."""

    frame: float
    path: str


@dataclass(frozen=True)
class JobDetail:
    job: JobView
    nodes: tuple[JobNodeView, ...] = ()
    frames: tuple[FrameView, ...] = ()
    #: The preview of the job's last finished frame, when there is one.
    preview: Optional[FramePreview] = None


@dataclass(frozen=True)
class FarmSnapshot:
    """Everything one poll read; built off the UI thread, applied on it in one go."""

    jobs: tuple[JobView, ...] = ()
    nodes: tuple[NodeView, ...] = ()
    detail: Optional[JobDetail] = None
    taken_at: float = field(default_factory=time.time)
    #: A problem reading the store, in words (the panel shows it and keeps the last good data).
    error: str = ""
    #: The dispatcher's state in words ("dispatcher running (pid 4242)").
    dispatcher: str = ""
    #: The store is a shared farm database (``FARMHAND_STORE``): jobs have owners, nodes have leases.
    shared: bool = False


@dataclass(frozen=True)
class PreflightFinding:
    """A problem found in the scene before submitting, with an optional one-click fix.

    ``fix`` runs on the UI thread (it may touch the scene) and returns nothing; the host refreshes the
    :class:`SubmitContext` afterwards.
    """

    severity: Severity
    message: str
    fix_label: str = ""
    fix: Optional[Callable[[], None]] = None


@dataclass(frozen=True)
class SubmitContext:
    """What the host application knows when the Submit tab opens (all optional outside Houdini)."""

    rop_path: str = ""
    frame_start: float = 1.0
    frame_end: float = 1.0
    frame_step: float = 1.0
    hip_path: str = ""
    houdini_version: str = ""
    presets: tuple[str, ...] = ()
    preset: str = ""
    findings: tuple[PreflightFinding, ...] = ()
    job_name: str = ""


@dataclass(frozen=True)
class SubmitRequest:
    """What the user asked for on the Submit tab."""

    rop_path: str
    hip_path: str
    frame_start: float
    frame_end: float
    frame_step: float
    preset: str
    #: The Chunks menu and the size beside it (used when the menu says fixed); :attr:`chunk` reads both.
    chunk_policy: ChunkMode = ChunkMode.ADAPTIVE
    chunk_size: int = 1
    nodes: tuple[str, ...] = ()
    priority: int = 50
    single_node: bool = False
    job_name: str = ""
    houdini_version: str = ""
    #: Node groups the job asks for (``gpu``, ``cores>=16``) and its environment (NAME, VALUE pairs).
    groups: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    @property
    def chunk(self) -> ChunkPolicy:
        """The chunk policy the job gets."""
        return ChunkPolicy.from_setting(self.chunk_policy, self.chunk_size)


__all__ = [
    "FarmSnapshot",
    "FramePreview",
    "FrameStatus",
    "FrameView",
    "JobDetail",
    "JobNodeView",
    "JobView",
    "NodeStatus",
    "NodeView",
    "PreflightFinding",
    "Severity",
    "SubmitContext",
    "SubmitRequest",
]
