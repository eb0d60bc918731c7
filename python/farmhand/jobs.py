"""Job, chunk and frame records shared by the dispatcher, its store and every client (CLI, Qt panel).

Everything here is a plain value: frozen dataclasses and ``str`` Enums, safe to pass between threads and
to serialise as JSON (``to_dict``). The dispatcher owns the mutable truth in the SQLite store
(:mod:`farmhand.engine.store`); clients only ever see these snapshots.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from farmhand import labels
from farmhand.errors import UsageError
from farmhand.frames import Frame

#: A chunk policy as JSON and ``--chunk`` spell it: ``"auto"`` or a whole number of frames per chunk.
ChunkValue = Union[str, int]


class ChunkMode(str, enum.Enum):
    """How a job's frames are cut into chunks (the panel's and the ROP's menu tokens)."""

    ADAPTIVE = "adaptive"  # sized per node to take about Policy.target_chunk_seconds
    FIXED = "fixed"  # exactly ``size`` frames per chunk
    SINGLE = "single"  # one frame per chunk


_MODE_TOKENS = {"auto": ChunkMode.ADAPTIVE, **{m.value: m for m in ChunkMode}}


@dataclass(frozen=True)
class ChunkPolicy:
    """How many frames a node gets per chunk: the one place that reads every spelling of it.

    ``--chunk auto|N`` (:meth:`parse`), a menu token and a size from the panel or the ROP
    (:meth:`from_setting`) and the value stored in a job spec (:meth:`of`) all become this; the engine
    reads :attr:`frames`. Equal meaning compares equal: a fixed size of 1 is :attr:`ChunkMode.SINGLE`,
    and ``size`` is 1 unless the mode is fixed.

    Raises:
        UsageError: a size that is not a whole number >= 1.
    """

    mode: ChunkMode = ChunkMode.ADAPTIVE
    size: int = 1

    def __post_init__(self) -> None:
        size = self.size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise UsageError(f"chunk size {size!r} is not valid; use 'auto' or a whole number of frames >= 1")
        mode = ChunkMode(self.mode)
        if mode is ChunkMode.FIXED and size == 1:
            mode = ChunkMode.SINGLE
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "size", size if mode is ChunkMode.FIXED else 1)

    @classmethod
    def fixed(cls, frames: int) -> ChunkPolicy:
        return cls(ChunkMode.FIXED, frames)

    @classmethod
    def parse(cls, text: str) -> ChunkPolicy:
        """``--chunk`` text: ``auto`` (or a menu token) or a whole number of frames."""
        token = text.strip().lower()
        if token in _MODE_TOKENS and _MODE_TOKENS[token] is not ChunkMode.FIXED:
            return cls(_MODE_TOKENS[token])
        try:
            frames = int(token)
        except ValueError:
            raise UsageError(
                f"chunk size {text!r} is not valid; use 'auto' or a whole number of frames"
            ) from None
        return cls.fixed(frames)

    @classmethod
    def from_setting(cls, mode: str, size: int = 1) -> ChunkPolicy:
        """A menu token (``auto``/``adaptive``, ``fixed``, ``single``) and the size field beside it."""
        found = _MODE_TOKENS.get(str(getattr(mode, "value", mode)).strip().lower())
        if found is None:
            raise UsageError(f"chunk policy {mode!r} is not valid; use one of {', '.join(_MODE_TOKENS)}")
        return cls(found, int(size) if found is ChunkMode.FIXED else 1)

    @classmethod
    def of(cls, value: Union[ChunkPolicy, ChunkValue]) -> ChunkPolicy:
        """The policy a job spec stores (``"auto"`` or a number), or a policy already."""
        if isinstance(value, ChunkPolicy):
            return value
        if isinstance(value, str):
            return cls.parse(value)
        return cls.fixed(value)

    @property
    def frames(self) -> Optional[int]:
        """Frames per chunk, or None when chunks are sized per node (adaptive)."""
        return None if self.mode is ChunkMode.ADAPTIVE else self.size

    @property
    def value(self) -> ChunkValue:
        """The JSON and ``--chunk`` form: ``"auto"`` or the number of frames."""
        return "auto" if self.frames is None else self.frames

    def __str__(self) -> str:
        return str(self.value)


class JobState(str, enum.Enum):
    QUEUED = "queued"  # accepted, no frame started yet
    WAITING = "waiting"  # held until the jobs in its ``after`` list are done
    RUNNING = "running"
    PAUSED = "paused"  # no new chunks are handed out; running chunks finish
    DONE = "done"  # every frame rendered and verified
    FAILED = "failed"  # gave up: deterministic error, or frames out of retries
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class FrameState(str, enum.Enum):
    WAITING = "waiting"  # not handed out yet
    RENDERING = "rendering"  # part of a running chunk
    DONE = "done"  # reported done and its outputs verified (or skipped because they existed)
    FAILED = "failed"  # out of retries, or the job failed/cancelled before it rendered
    RETRYING = "retrying"  # failed at least once and waiting for another node


class ChunkState(str, enum.Enum):
    STARTING = "starting"  # connecting / taking the node lock
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"  # cancelled by the user, by a backup that won, or by a stall/tail re-split
    LOST = "lost"  # the dispatcher restarted while it ran; its frames were recovered


class NodeActivity(str, enum.Enum):
    """What one node is doing for one job (the per-node rows of a snapshot)."""

    IDLE = "idle"
    STARTING = "starting"
    RENDERING = "rendering"
    BUSY = "busy"  # another dispatcher holds the node's lock; skipped, not failed
    BLOCKED = "blocked"  # failed this job too often; blocklisted for it
    BACKOFF = "backoff"  # licence or connection trouble; waiting before the next try
    OFFLINE = "offline"


class CommandOp(str, enum.Enum):
    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    RETRY = "retry"  # failed frames (and a failed/cancelled job) go back to waiting
    PRIORITY = "priority"  # arg: {"priority": int}
    REQUEUE_FRAME = "requeue_frame"  # arg: {"frame": number}
    REQUEUE_FRAMES = "requeue_frames"  # arg: {"frames": [number, ...]}
    STOP = "stop"  # the dispatcher process exits after this step


@dataclass(frozen=True)
class JobSpec:
    """What the user asked for. Parsed and validated at submit time (the CLI / panel edge).

    ``frames`` keeps the user's frame spec text (``1-240x2``, ``1,5,10-20``); ``output`` is the output
    pattern as given (``$F4``, ``####``) or None when the preset learns outputs from the renderer's lines.
    ``nodes`` empty means every enabled, trusted node. ``houdini_version`` is the submitter's Houdini
    build, used to pick a matching install on each node.
    """

    preset: str
    frames: str
    file: Optional[str] = None
    target: Optional[str] = None
    output: Optional[str] = None
    command: Optional[str] = None
    nodes: tuple[str, ...] = ()
    chunk: ChunkPolicy = ChunkPolicy()
    priority: int = 50
    single_node: bool = False
    skip_existing: bool = False
    houdini_version: Optional[str] = None
    name: Optional[str] = None
    submitter: Optional[str] = None
    #: Values for the preset's own ``params`` (e.g. the demo renderer's ``seconds_per_frame``).
    params: tuple[tuple[str, str], ...] = ()
    #: ALF progress scope override (``frame``/``range``) when the submitter knows the ROP type.
    alf_scope: Optional[str] = None
    #: Ids of jobs that must be done before this one starts (a cache before the render reading it).
    #: If one of them fails or is cancelled, so is this job.
    after: tuple[str, ...] = ()
    #: A command line run when the job ends (done, failed, cancelled): the job as JSON on its stdin,
    #: ``FARMHAND_JOB_ID``/``FARMHAND_JOB_STATE`` in its environment (see docs/hooks.md).
    on_end: Optional[str] = None
    #: Check that each output is a readable image before the frame counts as done (a truncated EXR is
    #: rendered again); None follows the preset (on where it says its outputs are images).
    check_images: Optional[bool] = None

    #: Node groups every node rendering the job must be in: tags (``gpu``) or ``cores>=N``/``ram>=N``.
    groups: tuple[str, ...] = ()
    #: Limits (``farmhand limits``) each running chunk holds one of, such as licence seats.
    limits: tuple[str, ...] = ()
    #: Environment for the renderer on every node, over the preset's ``env`` (sorted NAME, VALUE pairs).
    env: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # Callers may still pass the stored spelling ("auto" or a number); inside, it is a policy.
        object.__setattr__(self, "chunk", ChunkPolicy.of(self.chunk))
        # Lists, mappings and "NAME=VALUE" strings are accepted; inside, checked tuples (farmhand.labels).
        object.__setattr__(self, "groups", labels.names(self.groups, labels.group))
        object.__setattr__(self, "limits", labels.names(self.limits, labels.limit_name))
        object.__setattr__(self, "env", labels.env(self.env))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["chunk"] = self.chunk.value
        data["nodes"] = list(self.nodes)
        data["after"] = list(self.after)
        data["params"] = dict(self.params)
        data["groups"], data["limits"], data["env"] = list(self.groups), list(self.limits), dict(self.env)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["nodes"] = tuple(values.get("nodes") or ())
        values["after"] = tuple(str(a) for a in values.get("after") or ())
        params = values.get("params") or {}
        values["params"] = tuple(sorted((str(k), str(v)) for k, v in dict(params).items()))
        return cls(**values)

    @property
    def title(self) -> str:
        """The job's name, or what it renders: the scene and ROP, or the command's program."""
        return self.name or default_title(self)


#: Programs that run a script: a command's title names the script too (``python3 cache.py``).
_INTERPRETERS = ("python", "hython", "sh", "bash", "zsh", "dash", "perl", "ruby", "node", "blender", "husk")


def _basename(path: str) -> str:
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or path


def _program(command: str) -> str:
    """The program a command line runs, as its file name, with the script an interpreter runs
    (``python3 /x/cache.py --from {start}`` is ``python3 cache.py``); never a later argument."""
    import shlex

    try:
        # Backslashes are Windows paths here, not escapes.
        words = command.split() if "\\" in command else shlex.split(command)
    except ValueError:  # an unclosed quote: the words as typed
        words = command.replace('"', " ").replace("'", " ").split()
    while len(words) > 1 and ("=" in words[0].split("/", 1)[0] or _basename(words[0]) == "env"):
        words = words[1:]  # leading VAR=value assignments, and env running the real program
    if not words:
        return ""
    program = _basename(words[0])
    if program.rstrip("0123456789.").lower() not in _INTERPRETERS:
        return program
    script = next((w for w in words[1:] if not w.startswith("-")), "")
    return f"{program} {_basename(script)}" if script and not script.startswith("{") else program


def default_title(spec: JobSpec) -> str:
    """What a job without a name renders: ``shot010_v012.hip /out/mantra1``, ``mycache sim.hip``,
    ``python3 cache.py``, else the preset's name."""
    parts = []
    if spec.command:
        parts.append(_program(spec.command))
    if spec.file:
        parts.append(_basename(spec.file))
    if spec.target:
        parts.append(spec.target)
    return " ".join(p for p in parts if p) or spec.preset


@dataclass(frozen=True)
class FrameRow:
    frame: Frame
    state: FrameState
    node: Optional[str] = None
    attempts: int = 0
    output: Optional[str] = None  # the (first) verified output path, or the expected one
    error_kind: Optional[str] = None  # a farmhand.presets.failures.FailureKind value
    error_message: Optional[str] = None
    seconds: Optional[float] = None  # render time of the successful attempt


@dataclass(frozen=True)
class NodeRow:
    """Live progress of one node on one job."""

    node: str
    state: NodeActivity
    current_frame: Optional[Frame] = None
    frame_percent: Optional[float] = None  # 0..100 within the current frame, when the renderer says
    frames_done: int = 0  # frames this node rendered (and verified) for the job
    seconds_per_frame: Optional[float] = None
    eta_seconds: Optional[float] = None  # until this node's current chunk ends
    chunk_frames: int = 0  # frames in its current chunk
    chunk_done: int = 0
    message: Optional[str] = None  # why it is busy/blocked/backing off


@dataclass(frozen=True)
class JobSummary:
    id: str
    title: str
    preset: str
    state: JobState
    priority: int
    created: float
    frames_total: int
    frames_done: int
    frames_failed: int
    frames_rendering: int
    eta_seconds: Optional[float] = None
    error: Optional[str] = None
    updated: float = 0.0
    after: tuple[str, ...] = ()  # the jobs this one waits for (see JobSpec.after)
    #: What holds a job back beside ``after``: a limit at capacity, nodes waking (set by the client).
    hold: Optional[str] = None

    @property
    def percent(self) -> float:
        return 100.0 * self.frames_done / self.frames_total if self.frames_total else 100.0


@dataclass(frozen=True)
class Event:
    """One decision the dispatcher took, kept in the store for ``farmhand logs`` and the panel."""

    id: int
    time: float
    job_id: Optional[str]
    kind: str
    message: str
    node: Optional[str] = None
    frame: Optional[Frame] = None


@dataclass(frozen=True)
class JobSnapshot:
    """Everything a client shows about one job, read in one transaction."""

    summary: JobSummary
    spec: JobSpec
    nodes: tuple[NodeRow, ...] = ()
    frames: tuple[FrameRow, ...] = ()
    events: tuple[Event, ...] = ()  # the most recent events, oldest first
    version: int = 0  # the store's change counter when this was read

    @property
    def id(self) -> str:
        return self.summary.id

    @property
    def state(self) -> JobState:
        return self.summary.state

    def to_dict(self) -> dict[str, Any]:
        """JSON form (``status --json``, ``submit --wait --json``): ``id`` and ``state`` on top, like
        ``submit --json`` and ``jobs --json`` print them, then the whole snapshot."""
        data: dict[str, Any] = to_jsonable(self)
        return {"id": self.summary.id, "state": self.summary.state.value, **data}


@dataclass(frozen=True)
class LogLine:
    time: float
    node: str
    frame: Optional[Frame]
    stream: str  # "out" / "err" / "farmhand"
    text: str


@dataclass(frozen=True)
class Retry:
    """Retry and blame thresholds, one value object instead of numbers buried in the dispatcher.

    Attributes:
        max_attempts: attempts per frame before it is marked failed.
        node_failures_to_block: failures of one node on one job before it is blocklisted for that job.
        agree_to_fail: distinct nodes reporting the same deterministic error (missing file, scene load)
            before the whole job fails fast (1 on a one-node job).
        licence_backoff: seconds a node waits after a licence failure, doubled per repeat up to
            ``licence_backoff_max``; licence failures never count against a node or a frame.
        unreachable_backoff: seconds before an unreachable or busy node is tried again.
        stall_factor, stall_floor: a chunk that shows no output and no progress for
            ``max(stall_factor × expected frame seconds, stall_floor)`` is killed and re-assigned.
        cancel_grace: seconds between TERM and KILL when stopping a remote process group.
    """

    max_attempts: int = 4
    node_failures_to_block: int = 2
    agree_to_fail: int = 2
    licence_backoff: float = 5.0
    licence_backoff_max: float = 120.0
    unreachable_backoff: float = 5.0
    stall_factor: float = 4.0
    stall_floor: float = 120.0
    cancel_grace: float = 1.0

    def stall_timeout(self, expected_frame_seconds: Optional[float]) -> float:
        return max(self.stall_factor * (expected_frame_seconds or 0.0), self.stall_floor)

    def licence_delay(self, repeats: int) -> float:
        return float(min(self.licence_backoff * (2.0 ** max(repeats - 1, 0)), self.licence_backoff_max))


@dataclass(frozen=True)
class Chunk:
    """A run of frames handed to one node (the unit of remote work), as the store keeps it."""

    id: int
    job_id: str
    node: str
    frames: tuple[int, ...]  # indexes into the job's frames (none for a worker session: frames stream)
    state: ChunkState
    started: float
    ended: Optional[float] = None
    pgid: Optional[int] = None
    backup_of: Optional[int] = None  # the chunk this one duplicates at the tail
    persistent: bool = False  # a hython-worker session rather than one renderer run
    exit_code: Optional[int] = None
    message: Optional[str] = None


@dataclass(frozen=True)
class DispatcherInfo:
    pid: Optional[int]
    running: bool
    home: str
    started: Optional[float] = None
    heartbeat: Optional[float] = None
    extra: dict[str, Any] = field(default_factory=dict)


def to_jsonable(value: Any) -> Any:
    """Dataclasses, enums, tuples → JSON-friendly dicts/lists (frames keep their float value)."""
    if isinstance(value, (enum.Enum, ChunkPolicy)):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    return value
