"""Table models for the queue, the per-node rows of a job, and the node list.

Each model holds a tuple of frozen records and is refreshed in one call with a whole new tuple. When the
keys are unchanged (the common case while a job renders) only changed rows are signalled, so the views
keep their selection and scroll position and a 100-row refresh costs a few hundred microseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Generic, Optional, TypeVar

from farmhand.ui import style
from farmhand.ui.qt import Qt, QtCore, QtGui
from farmhand.ui.view.records import JobNodeView, JobView, NodeStatus, NodeView
from farmhand.ui.view.words import activity_words

T = TypeVar("T")

#: 0..1 for a bar painted by :class:`farmhand.ui.delegates.ProgressDelegate`; None: no bar.
ProgressRole = int(Qt.ItemDataRole.UserRole) + 1
#: The row's key (job id, host name).
KeyRole = int(Qt.ItemDataRole.UserRole) + 2
#: The row's record itself.
RecordRole = int(Qt.ItemDataRole.UserRole) + 3
#: The state colour (QColor) of the row, for the state column's dot and tests.
StateColourRole = int(Qt.ItemDataRole.UserRole) + 4

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole)
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


@dataclass(frozen=True)
class Column(Generic[T]):
    title: str
    text: Callable[[T], str]
    progress: Optional[Callable[[T], Optional[float]]] = None
    tooltip: Optional[Callable[[T], str]] = None
    colour: Optional[Callable[[T], QtGui.QColor]] = None
    numeric: bool = False


class RecordTableModel(QtCore.QAbstractTableModel, Generic[T]):
    """A read-only table over a tuple of records, one row per record."""

    def __init__(self, columns: Sequence[Column[T]], key: Callable[[T], str],
                 parent: Optional[QtCore.QObject] = None) -> None:
        super().__init__(parent)
        self._columns = tuple(columns)
        self._key = key
        self._rows: tuple[T, ...] = ()
        self._keys: tuple[str, ...] = ()

    # -- Qt model interface ----------------------------------------------------------------------
    def rowCount(self, parent: Any = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self._rows)

    def columnCount(self, parent: Any = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self._columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = _DISPLAY) -> Any:
        horizontal = orientation == Qt.Orientation.Horizontal
        if horizontal and role == _DISPLAY and 0 <= section < len(self._columns):
            return self._columns[section].title
        return None

    def data(self, index: Any, role: int = _DISPLAY) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        record = self._rows[index.row()]
        column = self._columns[index.column()]
        if role == _DISPLAY:
            return column.text(record)
        if role == ProgressRole:
            return column.progress(record) if column.progress else None
        if role == _TOOLTIP:
            return column.tooltip(record) if column.tooltip else None
        if role == _FOREGROUND or role == StateColourRole:
            return column.colour(record) if column.colour else None
        if role == KeyRole:
            return self._keys[index.row()]
        if role == RecordRole:
            return record
        if role == _ALIGN and column.numeric:
            return _RIGHT
        return None

    # -- updates ------------------------------------------------------------------------------------
    def set_rows(self, rows: Sequence[T]) -> None:
        """Replace every row; signal only what changed when the keys are the same."""
        rows = tuple(rows)
        keys = tuple(self._key(row) for row in rows)
        if keys != self._keys:
            self.beginResetModel()
            self._rows, self._keys = rows, keys
            self.endResetModel()
            return
        old = self._rows
        self._rows = rows
        first = last = -1
        for i, (before, after) in enumerate(zip(old, rows)):
            if before != after:
                if first < 0:
                    first = i
                last = i
        if first >= 0:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(self._columns) - 1))

    def records(self) -> tuple[T, ...]:
        return self._rows

    def record(self, row: int) -> Optional[T]:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def column(self, title: str) -> int:
        """The index of the column titled ``title`` (the tabs place delegates and widths by title)."""
        return next(i for i, column in enumerate(self._columns) if column.title == title)

    def row_of(self, key: str) -> int:
        try:
            return self._keys.index(key)
        except ValueError:
            return -1


def _pct(value: float) -> str:
    return f"{100.0 * value:.0f}%"


def _job_progress_text(job: JobView) -> str:
    text = f"{job.frames_done}/{job.frames_total}  {_pct(job.progress)}"
    return text + (f"  ({job.frames_failed} failed)" if job.frames_failed else "")


JOB_COLUMNS: tuple[Column[JobView], ...] = (
    Column("Job", lambda j: j.name, tooltip=lambda j: f"{j.name}\nid {j.job_id}\npreset {j.preset}"),
    Column("State", lambda j: j.status.value, colour=lambda j: style.job_colour(j.status),
           tooltip=lambda j: j.note or j.status.value),
    Column("Priority", lambda j: str(j.priority), numeric=True),
    Column("Progress", _job_progress_text, progress=lambda j: j.progress),
    Column("ETA", lambda j: "" if j.status.finished else style.format_duration(j.eta_seconds), numeric=True),
    Column("Owner", lambda j: j.owner),
    # A problem in red; otherwise what holds the job ("waiting for job 7 (shot010_sim) to finish").
    Column("Note", lambda j: j.note, tooltip=lambda j: j.note,
           colour=lambda j: style.colour(style.RED if j.message else style.GREY)),
)

JOB_NODE_COLUMNS: tuple[Column[JobNodeView], ...] = (
    Column("Node", lambda n: n.host),
    Column("State", lambda n: activity_words(n.state), colour=lambda n: style.job_node_colour(n.state)),
    Column("Frame", lambda n: style.format_frame(n.current_frame), numeric=True),
    Column("Frame %", lambda n: "" if n.frame_percent is None else f"{n.frame_percent:.0f}%",
           progress=lambda n: None if n.frame_percent is None else n.frame_percent / 100.0),
    Column("Share", lambda n: f"{n.chunk_done}/{n.chunk_frames} frames" if n.chunk_frames else "",
           progress=lambda n: n.share if n.chunk_frames else None,
           tooltip=lambda n: "frames of this node's current share (chunk) that are done"),
    Column("Done", lambda n: str(n.frames_done), numeric=True),
    Column("s/frame", lambda n: style.format_seconds(n.sec_per_frame), numeric=True),
    Column("ETA", lambda n: "" if n.eta_seconds is None else style.format_duration(n.eta_seconds),
           numeric=True),
    Column("Problem", lambda n: n.error, tooltip=lambda n: n.error, colour=lambda n: style.colour(style.RED)),
)


def _listed(node: NodeView, items: tuple[str, ...]) -> str:
    # "none" only once the node was inventoried; blank means "not known yet".
    return ", ".join(items) if items else ("none" if node.cores is not None else "")


def _gb(value: Optional[float]) -> str:
    return "" if value is None else f"{value:.0f} GB"


def _state_words(node: NodeView) -> str:
    note = node.note or node.status.value
    if node.status is NodeStatus.UNTRUSTED:
        return f"{note} (press Trust…)" if "Trust" not in note else note
    return note


# Most telling first: at the panel's usual width (and with PySide2's larger fonts) what scrolls out of
# view on the right is the inventory, not what the node is doing. Trust is in the State column
# ("untrusted", orange) and in the line under the table, so it needs no column of its own.
NODE_COLUMNS: tuple[Column[NodeView], ...] = (
    Column("Node", lambda n: n.host, tooltip=lambda n: f"{n.host} {n.address}".strip()),
    Column("Address", lambda n: n.address if n.address != n.host else "", tooltip=lambda n: n.address),
    Column("State", lambda n: n.status.value, colour=lambda n: style.node_colour(n.status),
           tooltip=_state_words),
    # The whole text is also under the table when the node is selected (NodesTab.details).
    Column("Job / note", lambda n: n.rendering_for or n.note, tooltip=lambda n: n.rendering_for or n.note),
    Column("Enabled", lambda n: "yes" if n.enabled else "no"),
    Column("Cores", lambda n: "" if n.cores is None else str(n.cores), numeric=True),
    Column("RAM", lambda n: _gb(n.ram_gb), numeric=True),
    Column("Load", lambda n: "" if n.load is None else f"{n.load:.2f}", numeric=True),
    Column("GPUs", lambda n: _listed(n, n.gpus), tooltip=lambda n: "\n".join(n.gpus)),
    Column("Houdini", lambda n: _listed(n, n.houdini), tooltip=lambda n: "\n".join(n.houdini)),
)


def jobs_model(parent: Optional[QtCore.QObject] = None) -> RecordTableModel[JobView]:
    return RecordTableModel(JOB_COLUMNS, lambda j: j.job_id, parent)


def job_nodes_model(parent: Optional[QtCore.QObject] = None) -> RecordTableModel[JobNodeView]:
    return RecordTableModel(JOB_NODE_COLUMNS, lambda n: n.host, parent)


def nodes_model(parent: Optional[QtCore.QObject] = None) -> RecordTableModel[NodeView]:
    return RecordTableModel(NODE_COLUMNS, lambda n: n.host, parent)
