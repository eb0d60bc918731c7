"""The columns of the panel's three tables: title, text, bar, tooltip and colour of each cell, from a record.

Qt-free: a colour is a ``#rrggbb`` name and a tooltip plain text. :class:`farmhand.ui.models.RecordTableModel`
turns them into Qt roles, escaping every text (:func:`farmhand.display.safe_text`) and giving every
tooltip as escaped rich text (:func:`farmhand.ui.view.summaries.tooltip`), in that one place.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Callable, Generic, Optional, TypeVar

from farmhand.display import format_duration
from farmhand.frames import format_frame
from farmhand.ui.view.records import JobNodeView, JobView, NodeView
from farmhand.ui.view.summaries import (
    ACTIVITY_COLOURS,
    GREY,
    JOB_COLOURS,
    NODE_COLOURS,
    ORANGE,
    RED,
    job_progress_text,
    node_state_words,
    seconds_text,
)
from farmhand.ui.view.team import lease_expired, lease_tooltip, lease_words
from farmhand.ui.view.words import activity_words

T = TypeVar("T")


@dataclass(frozen=True)
class Column(Generic[T]):
    title: str
    text: Callable[[T], str]
    #: 0..1 for a bar in the cell; None: no bar.
    progress: Optional[Callable[[T], Optional[float]]] = None
    tooltip: Optional[Callable[[T], str]] = None
    #: A ``#rrggbb`` name for the text (and the state dot); "" for the palette's own.
    colour: Optional[Callable[[T], str]] = None
    numeric: bool = False


def _frame(frame: Optional[float]) -> str:
    return "" if frame is None else format_frame(frame)


def _job_tooltip(job: JobView) -> str:
    sent = f"\nsent by {job.submitter}" if job.submitter else ""
    return f"{job.name}\nid {job.job_id}\npreset {job.preset}{sent}"


JOB_COLUMNS: tuple[Column[JobView], ...] = (
    Column("Job", lambda j: j.name, tooltip=_job_tooltip),
    Column("State", lambda j: j.status.value, colour=lambda j: JOB_COLOURS.get(j.status, GREY),
           tooltip=lambda j: j.note or j.status.value),
    Column("Priority", lambda j: str(j.priority), numeric=True),
    Column("Progress", job_progress_text, progress=lambda j: j.progress),
    Column("ETA", lambda j: "" if j.status.finished else format_duration(j.eta_seconds), numeric=True),
    # Shown on a shared farm database only (hidden_job_columns), as `farmhand jobs` shows OWNER.
    Column("Owner", lambda j: j.owner, tooltip=lambda j: f"owned by {j.owner}" if j.owner else ""),
    # A problem in red; otherwise what holds the job ("waiting for job 7 (shot010_sim) to finish").
    Column("Note", lambda j: j.note, tooltip=lambda j: j.note, colour=lambda j: RED if j.message else GREY),
)

JOB_NODE_COLUMNS: tuple[Column[JobNodeView], ...] = (
    Column("Node", lambda n: n.host),
    Column("State", lambda n: activity_words(n.state), colour=lambda n: ACTIVITY_COLOURS.get(n.state, GREY)),
    Column("Frame", lambda n: _frame(n.current_frame), numeric=True),
    Column("Frame %", lambda n: "" if n.frame_percent is None else f"{n.frame_percent:.0f}%",
           progress=lambda n: None if n.frame_percent is None else n.frame_percent / 100.0),
    Column("Share", lambda n: f"{n.chunk_done}/{n.chunk_frames} frames" if n.chunk_frames else "",
           progress=lambda n: n.share if n.chunk_frames else None,
           tooltip=lambda n: "frames of this node's current share (chunk) that are done"),
    Column("Done", lambda n: str(n.frames_done), numeric=True),
    Column("s/frame", lambda n: seconds_text(n.sec_per_frame), numeric=True),
    Column("ETA", lambda n: "" if n.eta_seconds is None else format_duration(n.eta_seconds), numeric=True),
    Column("Problem", lambda n: n.error, tooltip=lambda n: n.error, colour=lambda n: RED),
)


def _listed(node: NodeView, items: tuple[str, ...]) -> str:
    # "none" only once the node was inventoried; blank means "not known yet".
    return ", ".join(items) if items else ("none" if node.cores is not None else "")


def _gb(value: Optional[float]) -> str:
    return "" if value is None else f"{value:.0f} GB"


# Most telling first: at the panel's usual width (and with PySide2's larger fonts) what scrolls out of
# view on the right is the inventory, not what the node is doing. Trust is in the State column
# ("untrusted", orange) and in the line under the table, so it needs no column of its own.
NODE_COLUMNS: tuple[Column[NodeView], ...] = (
    # A node a scan registered by its address goes by the host name it reports, as in `farmhand nodes list`.
    Column("Node", lambda n: n.name, tooltip=lambda n: f"{n.name} {n.address}".strip()),
    Column("Address", lambda n: n.address if n.address != n.name else "", tooltip=lambda n: n.address),
    Column("State", lambda n: n.status.value, colour=lambda n: NODE_COLOURS.get(n.status, GREY),
           tooltip=node_state_words),
    # The whole text is also under the table when the node is selected (NodesTab.details).
    Column("Job / note", lambda n: n.rendering_for or n.note, tooltip=lambda n: n.rendering_for or n.note),
    # Shown on a shared farm database once a dispatcher leases a node (hidden_node_columns).
    Column("Leased by", lease_words, tooltip=lease_tooltip,
           colour=lambda n: ORANGE if lease_expired(n) else ""),
    Column("Enabled", lambda n: "yes" if n.enabled else "no"),
    Column("Cores", lambda n: "" if n.cores is None else str(n.cores), numeric=True),
    Column("RAM", lambda n: _gb(n.ram_gb), numeric=True),
    Column("Load", lambda n: "" if n.load is None else f"{n.load:.2f}", numeric=True),
    Column("GPUs", lambda n: _listed(n, n.gpus), tooltip=lambda n: "\n".join(n.gpus)),
    Column("Houdini", lambda n: _listed(n, n.houdini), tooltip=lambda n: "\n".join(n.houdini)),
    Column("Tags", lambda n: " ".join(n.tags), tooltip=lambda n: "groups a job can ask for (--group):\n"
           + "\n".join(n.tags)),
)


def hidden_job_columns(shared: bool) -> frozenset[str]:
    """Titles of the queue's columns with nothing to say: the owner, except on a shared farm database
    (with the SQLite store every job is the user's own)."""
    return frozenset() if shared else frozenset({"Owner"})


def hidden_node_columns(nodes: Iterable[NodeView]) -> frozenset[str]:
    """Titles of the node list's columns with nothing to say: who leases a node, while no dispatcher
    leases any (always with the SQLite store)."""
    return frozenset() if any(node.leased_by for node in nodes) else frozenset({"Leased by"})


def column_index(columns: tuple[Column[T], ...], title: str) -> int:
    """The index of the column titled ``title`` (the tabs place delegates and widths by title)."""
    return next(i for i, column in enumerate(columns) if column.title == title)
