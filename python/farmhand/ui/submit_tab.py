"""The Submit tab: a ROP's frame range onto the farm, with the scene's preflight findings and their fixes.

Everything Houdini-specific arrives as a :class:`SubmitContext` (and optionally a provider that re-reads
the scene, and a submit handler that saves the .hip first); the tab itself never touches the scene.
"""

from __future__ import annotations

from typing import Callable, Optional

from farmhand import labels
from farmhand.display import Severity, safe_text
from farmhand.errors import FarmhandError
from farmhand.frames import format_frame
from farmhand.jobs import ChunkMode
from farmhand.ui.qt import Qt, QtWidgets, Signal
from farmhand.ui.threads import TaskRunner, describe_exception
from farmhand.ui.view.backend import FarmBackend
from farmhand.ui.view.records import FarmSnapshot, PreflightFinding, SubmitContext, SubmitRequest
from farmhand.ui.view.summaries import GREY, ORANGE, RED, tooltip
from farmhand.ui.widgets import ElidedLabel, colour

#: Re-reads the scene (selected ROP, range, findings); runs on the UI thread.
ContextProvider = Callable[[], SubmitContext]
#: Submits a request and returns the job id; when injected by the host it runs on the UI thread.
SubmitHandler = Callable[[SubmitRequest], str]

_SEVERITY_COLOURS = {Severity.INFO: GREY, Severity.WARNING: ORANGE, Severity.ERROR: RED}
_CHUNK_LABELS = {
    ChunkMode.ADAPTIVE: "adaptive (faster nodes get more)",
    ChunkMode.FIXED: "fixed chunk size",
    ChunkMode.SINGLE: "one frame per task",
}
#: Where a node list item keeps the node's name as the farm knows it (its text is escaped for display).
_HOST_ROLE = int(Qt.ItemDataRole.UserRole)


class FrameSpin(QtWidgets.QDoubleSpinBox):
    """A frame number: shown as ``1001`` when whole, ``12.5`` when not (never ``1001.000``)."""

    def __init__(self, parent: Optional[QtWidgets.QWidget] = None) -> None:
        super().__init__(parent)
        self.setRange(-1_000_000.0, 1_000_000.0)
        self.setDecimals(3)
        self.setMinimumWidth(90)

    def textFromValue(self, value: float) -> str:
        return format_frame(round(value, 3))


class SubmitTab(QtWidgets.QWidget):
    #: A job was queued: its id.
    submitted = Signal(str)
    message = Signal(str)

    def __init__(self, backend: FarmBackend, runner: TaskRunner,
                 context_provider: Optional[ContextProvider] = None,
                 submit_handler: Optional[SubmitHandler] = None,
                 parent: Optional[QtWidgets.QWidget] = None) -> None:
        super().__init__(parent)
        self._backend = backend
        self._runner = runner
        self._provider = context_provider
        self._handler = submit_handler
        self._context = SubmitContext()
        self._known_nodes: tuple[tuple[str, str], ...] = ()

        self._build_scene_fields(context_provider is not None)
        self._build_job_fields()
        self._build_preflight()
        self._layout()

        self.from_scene_button.clicked.connect(self.refresh_context)
        self.chunk_combo.currentIndexChanged.connect(lambda *_: self._update_enabled())
        self.single_node_check.toggled.connect(lambda *_: self._update_enabled())
        self.findings_view.itemSelectionChanged.connect(self._update_enabled)
        self.fix_button.clicked.connect(self.fix_selected)
        self.fix_all_button.clicked.connect(self.fix_all)
        self.submit_button.clicked.connect(self.submit)
        self.set_context(SubmitContext())

    def _build_scene_fields(self, from_host: bool) -> None:
        self.rop_edit = QtWidgets.QLineEdit(self)
        self.rop_edit.setPlaceholderText("/out/karma1")
        self.from_scene_button = QtWidgets.QPushButton("From selection", self)
        self.from_scene_button.setVisible(from_host)
        # A long scene path must not force the pane wider: shortened from the left, whole in the tooltip.
        self.hip_label = ElidedLabel(self)
        # Apart from the path, so shortening a long path never cuts the Houdini version.
        self.version_label = QtWidgets.QLabel(self)
        self.version_label.setTextFormat(Qt.TextFormat.PlainText)
        # Outside Houdini (`farmhand monitor`) no host names the scene: the wrangler types it.
        self.scene_edit = QtWidgets.QLineEdit(self)
        self.scene_edit.setPlaceholderText("scene file as the nodes see it: /share/shot010/shot010_v012.hip")
        self.name_edit = QtWidgets.QLineEdit(self)
        self.name_edit.setPlaceholderText("job name (default: hip name and ROP)")
        self.start_spin, self.end_spin, self.step_spin = FrameSpin(self), FrameSpin(self), FrameSpin(self)
        self.step_spin.setRange(0.001, 100_000.0)

    def _build_job_fields(self) -> None:
        self.preset_combo = QtWidgets.QComboBox(self)
        self.chunk_combo = QtWidgets.QComboBox(self)
        for mode, label in _CHUNK_LABELS.items():
            self.chunk_combo.addItem(label, mode.value)
        self.chunk_spin = QtWidgets.QSpinBox(self)
        self.chunk_spin.setRange(1, 10_000)
        self.chunk_spin.setValue(5)
        self.priority_spin = QtWidgets.QSpinBox(self)
        self.priority_spin.setRange(0, 100)
        self.priority_spin.setValue(50)
        self.single_node_check = QtWidgets.QCheckBox("Render on one node only (simulations, caches)", self)
        self.nodes_list = QtWidgets.QListWidget(self)
        self.nodes_list.setToolTip("Select nodes to restrict the job to them; none: any enabled node")
        self.nodes_list.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.MultiSelection)
        self.nodes_list.setMaximumHeight(110)
        self.nodes_list.setFlow(QtWidgets.QListView.Flow.LeftToRight)
        self.nodes_list.setWrapping(True)
        self.nodes_list.setResizeMode(QtWidgets.QListView.ResizeMode.Adjust)
        self.nodes_list.setSpacing(2)
        self.groups_edit = QtWidgets.QLineEdit(self)
        self.groups_edit.setToolTip("Only nodes in every one of these groups: tags (gpu, houdini-21.0) or "
                                    "cores>=N / ram>=N, separated by commas")
        self.env_edit = QtWidgets.QLineEdit(self)
        self.env_edit.setPlaceholderText("NAME=VALUE ... for the renderer, e.g. OCIO=/share/aces/config.ocio")

    def _build_preflight(self) -> None:
        self.findings_view = QtWidgets.QTreeWidget(self)
        self.findings_view.setHeaderLabels(["", "Finding", "Fix"])
        self.findings_view.setRootIsDecorated(False)
        self.findings_view.setColumnWidth(0, self.fontMetrics().horizontalAdvance("warning") + 24)
        self.findings_view.setColumnWidth(1, 560)
        self.findings_view.setWordWrap(True)
        self.fix_button = QtWidgets.QPushButton("Fix selected", self)
        self.fix_all_button = QtWidgets.QPushButton("Fix all", self)
        self.blocked_label = QtWidgets.QLabel(self)
        self.blocked_label.setTextFormat(Qt.TextFormat.PlainText)
        self.blocked_label.setStyleSheet(f"color: {RED}")
        self.submit_button = QtWidgets.QPushButton("Submit", self)
        self.submit_button.setDefault(True)

    def _layout(self) -> None:
        form = QtWidgets.QFormLayout()
        rop_row = QtWidgets.QHBoxLayout()
        rop_row.addWidget(self.rop_edit, 1)
        rop_row.addWidget(self.from_scene_button)
        form.addRow("ROP", rop_row)
        scene_row = QtWidgets.QHBoxLayout()
        scene_row.addWidget(self.hip_label, 1)
        scene_row.addWidget(self.scene_edit, 1)
        scene_row.addWidget(self.version_label)
        form.addRow("Scene", scene_row)
        form.addRow("Job name", self.name_edit)
        frames = QtWidgets.QHBoxLayout()
        for label, spin in (("start", self.start_spin), ("end", self.end_spin), ("step", self.step_spin)):
            frames.addWidget(QtWidgets.QLabel(label, self))
            frames.addWidget(spin)
        frames.addStretch(1)
        form.addRow("Frames", frames)
        form.addRow("Preset", self.preset_combo)
        chunks = QtWidgets.QHBoxLayout()
        chunks.addWidget(self.chunk_combo, 1)
        chunks.addWidget(QtWidgets.QLabel("size", self))
        chunks.addWidget(self.chunk_spin)
        form.addRow("Chunks", chunks)
        priority = QtWidgets.QHBoxLayout()
        priority.addWidget(self.priority_spin)
        priority.addWidget(QtWidgets.QLabel("0-100, higher runs first", self))
        priority.addStretch(1)
        form.addRow("Priority", priority)
        form.addRow("", self.single_node_check)
        form.addRow("Nodes", self.nodes_list)
        hint = QtWidgets.QLabel("Click nodes to restrict the job to them; none selected: any enabled, "
                                "trusted node.", self)
        hint.setWordWrap(True)
        form.addRow("", hint)
        form.addRow("Groups", self.groups_edit)
        form.addRow("Environment", self.env_edit)
        fixes = QtWidgets.QHBoxLayout()
        fixes.addWidget(QtWidgets.QLabel("Preflight", self))
        fixes.addStretch(1)
        fixes.addWidget(self.fix_button)
        fixes.addWidget(self.fix_all_button)
        bottom = QtWidgets.QHBoxLayout()
        bottom.addWidget(self.blocked_label, 1)
        bottom.addWidget(self.submit_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(fixes)
        layout.addWidget(self.findings_view, 1)
        layout.addLayout(bottom)

    # -- context ----------------------------------------------------------------------------------------
    def set_context(self, context: SubmitContext) -> None:
        """Fill the form from the host's values (called on the UI thread)."""
        self._context = context
        self.rop_edit.setText(context.rop_path)
        self.version_label.setText(f"Houdini {context.houdini_version}" if context.houdini_version else "")
        self.hip_label.set_full_text(context.hip_path or "(no scene)")
        self.scene_edit.setVisible(self._typed_scene())
        self.hip_label.setVisible(not self._typed_scene())
        self.name_edit.setText(context.job_name)
        self.start_spin.setValue(context.frame_start)
        self.end_spin.setValue(context.frame_end)
        self.step_spin.setValue(context.frame_step or 1.0)
        if context.presets:
            self.set_presets(context.presets, context.preset)
        self._show_findings(context.findings)

    def _typed_scene(self) -> bool:
        return self._provider is None and not self._context.hip_path

    def context(self) -> SubmitContext:
        return self._context

    def set_presets(self, names: tuple[str, ...] | list[str], current: str = "") -> None:
        keep = current or self.preset_combo.currentText()
        self.preset_combo.clear()
        self.preset_combo.addItems(list(names))
        if keep in names:
            self.preset_combo.setCurrentText(keep)

    def load_presets(self) -> None:
        """Ask the backend for presets in a thread (used when the host gave none)."""
        if self._context.presets:
            return

        def show(names: object) -> None:
            if isinstance(names, (list, tuple)):
                self.set_presets([str(n) for n in names])

        self._runner.run(self._backend.presets, done=show,
                         error=lambda text: self.message.emit(f"could not list presets: {text}"),
                         name="presets")

    def refresh_context(self) -> None:
        if self._provider is None:
            return
        try:
            self.set_context(self._provider())
        except FarmhandError as exc:
            self.message.emit(exc.message)

    def apply(self, snapshot: FarmSnapshot) -> None:
        """Keep the node list in step with the registry (enabled, trusted nodes only)."""
        # A node blocklisted for one job is still fine for a new one.
        # Listed by the name the Nodes tab shows; a job names them by their registry name (host).
        usable = tuple((n.host, n.name) for n in snapshot.nodes if n.enabled and n.trusted)
        groups = sorted({t for n in snapshot.nodes if n.enabled and n.trusted for t in n.tags})
        self.groups_edit.setPlaceholderText(f"any node; groups: {', '.join(groups) or 'none (tag nodes)'}")
        if usable == self._known_nodes:
            return
        chosen = set(self.selected_nodes())
        self._known_nodes = usable
        self.nodes_list.clear()
        for host, name in usable:
            item = QtWidgets.QListWidgetItem(safe_text(name), self.nodes_list)
            item.setData(_HOST_ROLE, host)
            item.setSelected(host in chosen)

    def selected_nodes(self) -> list[str]:
        items = (self.nodes_list.item(i) for i in range(self.nodes_list.count()))
        return [str(item.data(_HOST_ROLE)) for item in items if item.isSelected()]

    def select_nodes(self, hosts: list[str]) -> None:
        for i in range(self.nodes_list.count()):
            item = self.nodes_list.item(i)
            item.setSelected(item.data(_HOST_ROLE) in hosts)

    # -- findings ---------------------------------------------------------------------------------------
    def _show_findings(self, findings: tuple[PreflightFinding, ...]) -> None:
        self.findings_view.clear()
        for finding in findings:
            message = safe_text(finding.message)
            item = QtWidgets.QTreeWidgetItem([finding.severity.value, message, safe_text(finding.fix_label)])
            item.setForeground(0, colour(_SEVERITY_COLOURS[finding.severity]))
            item.setToolTip(1, tooltip(finding.message))
            self.findings_view.addTopLevelItem(item)
        if not findings:
            QtWidgets.QTreeWidgetItem(self.findings_view, ["ok", "No problems found in the scene.", ""])
        self._update_enabled()

    def _selected_finding(self) -> Optional[PreflightFinding]:
        item = self.findings_view.currentItem()
        index = self.findings_view.indexOfTopLevelItem(item) if item is not None else -1
        findings = self._context.findings
        return findings[index] if 0 <= index < len(findings) else None

    def fix_selected(self) -> None:
        finding = self._selected_finding()
        if finding is not None:
            self._run_fixes([finding])

    def fix_all(self) -> None:
        self._run_fixes([f for f in self._context.findings if f.fix is not None])

    def _run_fixes(self, findings: list[PreflightFinding]) -> None:
        for finding in findings:
            if finding.fix is None:
                continue
            try:
                finding.fix()
            except Exception as exc:  # a host fix failing must not close the panel; say what broke
                self.message.emit(f"could not fix '{finding.message}': {describe_exception(exc)}")
                break
            self.message.emit(f"fixed: {finding.message}")
        self.refresh_context()

    def blocking_findings(self) -> list[PreflightFinding]:
        return [f for f in self._context.findings if f.severity is Severity.ERROR]

    def _update_enabled(self) -> None:
        self.chunk_spin.setEnabled(self.chunk_combo.currentData() == ChunkMode.FIXED.value
                                   and not self.single_node_check.isChecked())
        self.chunk_combo.setEnabled(not self.single_node_check.isChecked())
        finding = self._selected_finding()
        self.fix_button.setEnabled(finding is not None and finding.fix is not None)
        self.fix_all_button.setEnabled(any(f.fix is not None for f in self._context.findings))
        blocking = self.blocking_findings()
        self.submit_button.setEnabled(not blocking)
        why = f"Fix the {len(blocking)} error(s) listed under Preflight first" if blocking else ""
        self.blocked_label.setText(why)
        self.submit_button.setToolTip(why or "Queue the job on the farm")

    # -- submitting -------------------------------------------------------------------------------------
    def request(self) -> SubmitRequest:
        """The form as a request; raises a one-line :class:`UsageError`-style message when it is invalid."""
        rop = self.rop_edit.text().strip()
        if not rop:
            how = ("select one in Houdini and press 'From selection'" if self._provider is not None
                   else "type its path, e.g. /out/karma1")
            raise FarmhandError(f"choose a ROP to render ({how})")
        start, end, step = self.start_spin.value(), self.end_spin.value(), self.step_spin.value()
        if end < start:
            raise FarmhandError(
                f"frame range {format_frame(start)}-{format_frame(end)} ends before it starts; "
                "swap start and end")
        if not self.preset_combo.currentText():
            raise FarmhandError("choose a preset (none are installed: see 'farmhand presets')")
        return SubmitRequest(
            rop_path=rop,
            hip_path=self.scene_edit.text().strip() if self._typed_scene() else self._context.hip_path,
            frame_start=start,
            frame_end=end,
            frame_step=step,
            preset=self.preset_combo.currentText(),
            chunk_policy=ChunkMode(self.chunk_combo.currentData()),
            chunk_size=self.chunk_spin.value(),
            nodes=tuple(self.selected_nodes()),
            priority=self.priority_spin.value(),
            single_node=self.single_node_check.isChecked(),
            job_name=self.name_edit.text().strip(),
            houdini_version=self._context.houdini_version,
            groups=labels.groups_text(self.groups_edit.text()), env=labels.env_text(self.env_edit.text()),
        )

    def submit(self) -> None:
        try:
            request = self.request()
        except FarmhandError as exc:
            self.message.emit(exc.message)
            return
        if self._handler is not None:
            try:
                job_id = self._handler(request)
            except FarmhandError as exc:
                self.message.emit(f"not submitted: {exc.message}")
                return
            self._submitted(job_id)
            return
        self.submit_button.setEnabled(False)

        def failed(text: str) -> None:
            self._update_enabled()
            self.message.emit(f"not submitted: {text}")

        self._runner.run(lambda: self._backend.submit(request),
                         done=lambda job_id: self._submitted(str(job_id)), error=failed, name="submit")

    def _submitted(self, job_id: str) -> None:
        self._update_enabled()
        name = self.name_edit.text().strip() or self.rop_edit.text().strip()
        self.message.emit(f"submitted {name} as job {job_id}")
        self.submitted.emit(job_id)
