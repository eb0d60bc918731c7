"""The Nodes tab: what the farm is made of, and scan/probe/trust/enable/wake/add actions."""

from __future__ import annotations

import threading
from typing import Callable, Optional

from farmhand.display import safe_text
from farmhand.ui.models import StateDelegate, nodes_model
from farmhand.ui.qt import Qt, QtWidgets, Signal
from farmhand.ui.threads import TaskRunner
from farmhand.ui.view.backend import FarmBackend
from farmhand.ui.view.columns import hidden_node_columns
from farmhand.ui.view.records import FarmSnapshot
from farmhand.ui.view.summaries import node_counts, node_details
from farmhand.ui.view.words import count_words
from farmhand.ui.widgets import Confirm, ask, fit_columns, hide_columns, table_view


class NodesTab(QtWidgets.QWidget):
    message = Signal(str)
    #: A node action finished: the panel polls at once so the table shows its effect.
    changed = Signal()
    #: ``(checked, total, found)`` from the scan thread; queued to the UI thread by Qt.
    _scan_progress = Signal(int, int, int)

    def __init__(self, backend: FarmBackend, runner: TaskRunner,
                 parent: Optional[QtWidgets.QWidget] = None) -> None:
        super().__init__(parent)
        self._backend = backend
        self._runner = runner
        self.confirm: Confirm = ask(self)
        self._scan_cancel: Optional[threading.Event] = None

        self._build_table()
        self._build_controls()
        self._layout()
        self._connect()
        self._update_buttons()

    def _build_table(self) -> None:
        self.model = nodes_model(self)
        self.view = table_view(self.model, self)
        self.view.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        column = self.model.column
        self.view.setItemDelegateForColumn(column("State"), StateDelegate(self.view))
        fit_columns(self.view, {
            column("Node"): "render01.studio", column("Address"): "10.100.10.100",
            column("State"): "blocklisted",
            column("Job / note"): "shot010_lighting_v012 (anna)", column("Leased by"): "ws-anna (pid 123456)",
            column("Enabled"): "yes",
            column("Cores"): "128", column("RAM"): "1024 GB", column("Load"): "99.99",
            column("GPUs"): "NVIDIA RTX A4000"}, dotted=(column("State"),))
        hide_columns(self.view, hidden_node_columns(()))
        #: The selected node in full: address, OS, MACs, share, last probe, and the note the column cuts.
        self.details = _plain_label(self)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.count_label = _plain_label(self)

    def _build_controls(self) -> None:
        self.range_edit = QtWidgets.QLineEdit(self)
        self.range_edit.setPlaceholderText("address range, e.g. 10.0.0.0/24 or 10.0.0.10-60")
        self.range_edit.setMinimumWidth(120)
        self.scan_button = QtWidgets.QPushButton("Scan", self)
        self.scan_cancel_button = QtWidgets.QPushButton("Stop scan", self)
        self.scan_cancel_button.setEnabled(False)
        self.scan_progress = QtWidgets.QProgressBar(self)
        self.scan_progress.setTextVisible(True)
        self.scan_progress.setFormat("idle")
        self.scan_progress.setValue(0)
        self.scan_progress.setMinimumWidth(60)
        self.probe_button = QtWidgets.QPushButton("Probe", self)
        self.trust_button = QtWidgets.QPushButton("Trust…", self)
        self.enable_button = QtWidgets.QPushButton("Enable", self)
        self.disable_button = QtWidgets.QPushButton("Disable", self)
        self.wake_button = QtWidgets.QPushButton("Wake", self)
        self.add_edit = QtWidgets.QLineEdit(self)
        self.add_edit.setPlaceholderText("host name or address")
        self.add_edit.setMinimumWidth(160)
        self.add_button = QtWidgets.QPushButton("Add node", self)

    def _layout(self) -> None:
        scan_row = QtWidgets.QHBoxLayout()
        scan_row.addWidget(self.range_edit, 2)
        scan_row.addWidget(self.scan_button)
        scan_row.addWidget(self.scan_cancel_button)
        scan_row.addWidget(self.scan_progress, 1)
        # Tool bars: a narrow docked pane shows what fits and puts the rest behind the » button.
        action_row = QtWidgets.QToolBar(self)
        for button in (self.probe_button, self.trust_button, self.enable_button, self.disable_button,
                       self.wake_button):
            action_row.addWidget(button)
        action_row.addSeparator()
        action_row.addWidget(self.add_edit)
        action_row.addWidget(self.add_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(scan_row)
        layout.addWidget(action_row)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.count_label)

    def _connect(self) -> None:
        self.scan_button.clicked.connect(self.start_scan)
        self.range_edit.returnPressed.connect(self.start_scan)
        self.scan_cancel_button.clicked.connect(self.cancel_scan)
        self._scan_progress.connect(self._show_scan_progress)
        self.probe_button.clicked.connect(lambda: self._each("probe", self._backend.probe))
        self.trust_button.clicked.connect(self.trust_selected)
        self.enable_button.clicked.connect(
            lambda: self._each("enable", lambda h: self._backend.set_enabled(h, True)))
        self.disable_button.clicked.connect(
            lambda: self._each("disable", lambda h: self._backend.set_enabled(h, False)))
        self.wake_button.clicked.connect(lambda: self._each("wake", self._backend.wake))
        self.add_button.clicked.connect(self.add_node)
        self.add_edit.returnPressed.connect(self.add_node)
        self.view.selectionModel().selectionChanged.connect(lambda *_: self._selection_changed())

    def apply(self, snapshot: FarmSnapshot) -> None:
        selected = set(self.selected_hosts())
        self.model.set_rows(snapshot.nodes)
        if selected and not set(self.selected_hosts()):
            # The rows were reset (a node appeared): keep the user's selection by host name.
            selection = self.view.selectionModel()
            for host in selected:
                row = self.model.row_of(host)
                if row >= 0:
                    selection.select(self.model.index(row, 0), selection.SelectionFlag.Select
                                     | selection.SelectionFlag.Rows)
        hide_columns(self.view, hidden_node_columns(snapshot.nodes))
        self.count_label.setText(node_counts(snapshot.nodes))
        self._update_buttons()
        self._show_details()

    def _selection_changed(self) -> None:
        self._update_buttons()
        self._show_details()

    def _show_details(self) -> None:
        hosts = self.selected_hosts()
        current = self.model.record(self.view.currentIndex().row())
        if current is None or current.host not in hosts:
            current = self.model.record(self.model.row_of(hosts[0])) if hosts else None
        if current is not None:
            self.details.setText(node_details(current))
        elif self.model.rowCount():
            self.details.setText("Select a node for its address, OS, MAC addresses and share.")
        else:
            self.details.setText("No nodes yet: scan an address range above (your render subnet), or add a "
                                 "node by its host name.")

    def selected_hosts(self) -> list[str]:
        rows = sorted({index.row() for index in self.view.selectionModel().selectedRows()})
        return [node.host for node in (self.model.record(r) for r in rows) if node is not None]

    def select_hosts(self, hosts: list[str]) -> None:
        self.view.clearSelection()
        selection = self.view.selectionModel()
        for host in hosts:
            row = self.model.row_of(host)
            if row >= 0:
                selection.select(self.model.index(row, 0),
                                 selection.SelectionFlag.Select | selection.SelectionFlag.Rows)

    def _update_buttons(self) -> None:
        some = bool(self.selected_hosts())
        for button in (self.probe_button, self.enable_button, self.disable_button, self.wake_button):
            button.setEnabled(some)
        self.trust_button.setEnabled(len(self.selected_hosts()) == 1)

    def _each(self, verb: str, call: Callable[[str], object]) -> None:
        for host in self.selected_hosts():
            self._run_for(verb, host, call)

    def _run_for(self, verb: str, host: str, call: Callable[[str], object]) -> None:
        name = self.name_of(host)
        self._runner.run(lambda: call(host), done=lambda _: self._done(f"{verb} {name}: done"),
                         error=lambda text: self.message.emit(f"could not {verb} {name}: {text}"), name=verb)

    def name_of(self, host: str) -> str:
        """What the table calls the node registered as ``host`` (its reported host name, say)."""
        node = self.model.record(self.model.row_of(host))
        return node.name if node is not None else host

    def _done(self, text: str) -> None:
        self.message.emit(text)
        self.changed.emit()

    # -- scanning ------------------------------------------------------------------------------------------
    def start_scan(self) -> None:
        spec = self.range_edit.text().strip()
        if not spec:
            self.message.emit("type an address range to scan, e.g. 10.0.0.0/24")
            return
        if self._scan_cancel is not None:
            return
        cancel = self._scan_cancel = threading.Event()
        self.scan_button.setEnabled(False)
        self.scan_cancel_button.setEnabled(True)
        self.scan_progress.setRange(0, 0)
        self.scan_progress.setFormat(f"scanning {safe_text(spec)}…")

        def report(checked: int, total: int, found: int) -> None:
            self._scan_progress.emit(checked, total, found)

        def finished(found: object) -> None:
            count = len(found) if isinstance(found, (list, tuple)) else 0
            stopped = cancel.is_set()
            self._scan_ended(f"scan of {spec} {'stopped' if stopped else 'done'}: "
                             f"{count_words(count, 'node')} found")

        self._runner.run(lambda: self._backend.scan(spec, report, cancel.is_set), done=finished,
                         error=lambda text: self._scan_ended(f"scan of {spec} failed: {text}"), name="scan")

    def cancel_scan(self) -> None:
        if self._scan_cancel is not None:
            self._scan_cancel.set()
            self.scan_progress.setFormat("stopping…")
            self.scan_cancel_button.setEnabled(False)

    @property
    def scanning(self) -> bool:
        return self._scan_cancel is not None

    def _show_scan_progress(self, checked: int, total: int, found: int) -> None:
        if self._scan_cancel is None or self._scan_cancel.is_set():
            return
        self.scan_progress.setRange(0, max(total, 1))
        self.scan_progress.setValue(checked)
        self.scan_progress.setFormat(f"{checked}/{total} addresses, {found} found")

    def _scan_ended(self, text: str) -> None:
        self._scan_cancel = None
        self.scan_button.setEnabled(True)
        self.scan_cancel_button.setEnabled(False)
        self.scan_progress.setRange(0, 1)
        self.scan_progress.setValue(0)
        self.scan_progress.setFormat(text)
        self._done(text)

    # -- trust and add ---------------------------------------------------------------------------------------
    def trust_selected(self) -> None:
        hosts = self.selected_hosts()
        if len(hosts) != 1:
            return
        host = hosts[0]
        name = self.name_of(host)

        def ask_user(fingerprint: object) -> None:
            question = (f"Trust {safe_text(name)}?\n\nIt presents the host key\n{safe_text(fingerprint)}\n\n"
                        "Compare it with the key on the machine (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub) "
                        "before trusting it.")
            if self.confirm("Trust node", question):
                self._runner.run(lambda: self._backend.trust(host, str(fingerprint)),
                                 done=lambda _: self._done(f"trusted {name} ({fingerprint})"),
                                 error=lambda text: self.message.emit(f"could not trust {name}: {text}"),
                                 name="trust")

        self._runner.run(lambda: self._backend.fingerprint(host), done=ask_user,
                         error=lambda text: self.message.emit(f"could not read {name}'s host key: {text}"),
                         name="fingerprint")

    def add_node(self) -> None:
        name = self.add_edit.text().strip()
        if not name:
            self.message.emit("type a host name or address to add")
            return

        def added(node: object) -> None:
            self.add_edit.clear()
            self._done(f"added {getattr(node, 'host', name)}")

        self._runner.run(lambda: self._backend.add_node(name), done=added,
                         error=lambda text: self.message.emit(f"could not add {name}: {text}"), name="add")


def _plain_label(parent: QtWidgets.QWidget) -> QtWidgets.QLabel:
    """A wrapping label that shows node names and notes literally, never as Qt rich text."""
    label = QtWidgets.QLabel(parent)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label
