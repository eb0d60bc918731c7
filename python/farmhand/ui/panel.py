"""The Farmhand panel: Nodes, Submit and Jobs tabs over one backend, fed by one poller thread.

Hosts build it with :func:`create_panel` (Houdini's Python panel, ``farmhand monitor``) or open it as a
floating window over their main window with :func:`show_floating`. Closing the panel stops only its
poller; jobs belong to the dispatcher process and keep rendering. A new panel reads the same store and
so reattaches to whatever is running.
"""

from __future__ import annotations

import logging
import time
from typing import Optional

from farmhand.display import safe_text
from farmhand.jobs import JobState
from farmhand.ui.jobs_tab import JobsTab
from farmhand.ui.nodes_tab import NodesTab
from farmhand.ui.qt import Qt, QtGui, QtWidgets, Signal, binding_problem, is_alive
from farmhand.ui.submit_tab import ContextProvider, SubmitHandler, SubmitTab
from farmhand.ui.threads import Poller, TaskRunner
from farmhand.ui.view.backend import FarmBackend
from farmhand.ui.view.records import FarmSnapshot, SubmitContext
from farmhand.ui.view.summaries import RED, ended_words

log = logging.getLogger(__name__)

WINDOW_TITLE = "Farmhand"
DEFAULT_POLL_SECONDS = 0.5


class FarmhandPanel(QtWidgets.QWidget):
    """The whole panel. Every Houdini value arrives through the constructor or :meth:`set_submit_context`."""

    #: Emitted on the UI thread after each snapshot has been shown (tests and benches wait on it).
    snapshotApplied = Signal(object)
    #: A job the panel saw unfinished has ended: its id, name and final state (done, failed, cancelled).
    jobEnded = Signal(str, str, str)

    def __init__(self, backend: FarmBackend, *, context: Optional[SubmitContext] = None,
                 context_provider: Optional[ContextProvider] = None,
                 submit_handler: Optional[SubmitHandler] = None,
                 poll_seconds: float = DEFAULT_POLL_SECONDS, autostart: bool = True,
                 parent: Optional[QtWidgets.QWidget] = None) -> None:
        super().__init__(parent)
        self.setObjectName("FarmhandPanel")
        self.setWindowTitle(WINDOW_TITLE)
        self.backend = backend
        self.runner = TaskRunner(self)
        self.poller = Poller(backend, poll_seconds, self)
        # An embedded panel may be destroyed with its pane without ever being closed.
        poller = self.poller
        self.destroyed.connect(lambda *_: poller.halt())
        self.last_snapshot: Optional[FarmSnapshot] = None
        self.apply_seconds = 0.0
        self._states: dict[str, JobState] = {}  # each job's state in the last snapshot shown

        self.tabs = QtWidgets.QTabWidget(self)
        self.nodes_tab = NodesTab(backend, self.runner, self)
        self.submit_tab = SubmitTab(backend, self.runner, context_provider, submit_handler, self)
        self.jobs_tab = JobsTab(backend, self.runner, self)
        self.tabs.addTab(self.nodes_tab, "Nodes")
        self.tabs.addTab(self.submit_tab, "Submit")
        self.tabs.addTab(self.jobs_tab, "Jobs")
        self._build_status_row()
        self._connect()
        if context is not None:
            self.submit_tab.set_context(context)
        elif context_provider is not None:
            self.submit_tab.refresh_context()
        self.submit_tab.load_presets()
        self.tabs.setCurrentWidget(self.jobs_tab)
        if autostart:
            self.poller.start()

    def _build_status_row(self) -> None:
        # Long messages wrap rather than widen a docked pane.
        self.status = QtWidgets.QLabel(self)
        self.status.setWordWrap(True)
        # Messages carry job and node names as typed: shown literally, never as Qt rich text.
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.updated_label = QtWidgets.QLabel(self)
        self.updated_label.setTextFormat(Qt.TextFormat.PlainText)
        status_row = QtWidgets.QHBoxLayout()
        status_row.addWidget(self.status, 1)
        status_row.addWidget(self.updated_label)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(status_row)

    def _connect(self) -> None:
        self.poller.updated.connect(self.apply_snapshot)
        self.jobs_tab.jobSelected.connect(self.poller.set_job)
        for tab in (self.nodes_tab, self.submit_tab, self.jobs_tab):
            tab.message.connect(self.show_message)
        self.nodes_tab.changed.connect(self.poller.poll_now)
        self.submit_tab.submitted.connect(self._follow_new_job)

    # -- host API -------------------------------------------------------------------------------------
    def set_submit_context(self, context: SubmitContext) -> None:
        """Houdini calls this when the user picks another ROP; switches to the Submit tab."""
        self.submit_tab.set_context(context)
        self.tabs.setCurrentWidget(self.submit_tab)

    def show_message(self, text: str) -> None:
        """One line in the status bar; messages quote names and errors from the farm, so escaped."""
        log.info("%s", text)
        self.status.setText(safe_text(text))

    def apply_snapshot(self, snapshot: object) -> None:
        if not isinstance(snapshot, FarmSnapshot) or not is_alive(self):
            return
        started = time.perf_counter()
        if snapshot.error:
            # Keep the last good data on screen; say what went wrong.
            self.updated_label.setStyleSheet(f"color: {RED}")
            self.updated_label.setText("showing the last good data")
            self.show_message(f"could not refresh: {snapshot.error}")
        else:
            self.last_snapshot = snapshot
            self._notice_endings(snapshot)
            self.nodes_tab.apply(snapshot)
            self.submit_tab.apply(snapshot)
            self.jobs_tab.apply(snapshot)
            self.updated_label.setStyleSheet("")
            stamp = time.strftime("updated %H:%M:%S", time.localtime(snapshot.taken_at))
            self.updated_label.setText(f"{snapshot.dispatcher}  ·  {stamp}" if snapshot.dispatcher else stamp)
        self.apply_seconds = time.perf_counter() - started
        self.snapshotApplied.emit(snapshot)

    def _notice_endings(self, snapshot: FarmSnapshot) -> None:
        """A job of the user's seen unfinished and now finished: one line in the status bar and
        :attr:`jobEnded` (the Houdini glue shows it in Houdini's status bar). Jobs already finished when
        the panel opened, and other users' jobs on a farm database, are not announced."""
        mine = [job for job in snapshot.jobs if job.mine]
        before, self._states = self._states, {job.job_id: job.status for job in mine}
        for job in mine:
            was = before.get(job.job_id)
            if job.status.finished and was is not None and not was.finished:
                self.show_message(ended_words(job))
                self.jobEnded.emit(job.job_id, job.name, job.status.value)

    def _follow_new_job(self, job_id: str) -> None:
        self.tabs.setCurrentWidget(self.jobs_tab)
        self.jobs_tab.select_job(job_id)
        self.poller.set_job(job_id)

    # -- lifetime -------------------------------------------------------------------------------------
    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        if not self.poller.running:
            self.poller.start()
            self.poller.poll_now()

    def hideEvent(self, event: QtGui.QHideEvent) -> None:
        # A hidden pane tab (another tab in front of it) reads nothing; showing it again polls at once.
        super().hideEvent(event)
        if not event.spontaneous():
            self.poller.stop(timeout=0.0)

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self.detach()
        super().closeEvent(event)

    def detach(self) -> None:
        """Stop reading the store. The jobs keep running in the dispatcher."""
        self.poller.stop()


_floating: dict[str, QtWidgets.QWidget] = {}


def create_panel(backend: Optional[FarmBackend] = None, *, context: Optional[SubmitContext] = None,
                 context_provider: Optional[ContextProvider] = None,
                 submit_handler: Optional[SubmitHandler] = None,
                 parent: Optional[QtWidgets.QWidget] = None,
                 poll_seconds: float = DEFAULT_POLL_SECONDS) -> FarmhandPanel:
    """The panel widget, for embedding (Houdini's Python panel returns it from ``onCreateInterface``)."""
    problem = binding_problem()
    if problem:
        log.warning("%s", problem)
    if backend is None:
        from farmhand.ui.client_backend import ClientBackend

        backend = ClientBackend()
    return FarmhandPanel(backend, context=context, context_provider=context_provider,
                         submit_handler=submit_handler, poll_seconds=poll_seconds, parent=parent)


def show_floating(parent: Optional[QtWidgets.QWidget], backend: Optional[FarmBackend] = None, *,
                  context: Optional[SubmitContext] = None,
                  context_provider: Optional[ContextProvider] = None,
                  submit_handler: Optional[SubmitHandler] = None) -> FarmhandPanel:
    """Open (or raise) the panel as a floating window over ``parent`` (Houdini's main window).

    The window stays above its parent without blocking it, and one press of the shelf tool never opens
    a second copy: the existing window is raised and given the new context instead.
    """
    existing = _floating.get("panel")
    if existing is not None and is_alive(existing) and isinstance(existing, FarmhandPanel):
        if context is not None:
            existing.set_submit_context(context)
        elif context_provider is not None:
            existing.submit_tab.refresh_context()
        existing.show()
        existing.raise_()
        existing.activateWindow()
        return existing
    panel = create_panel(backend, context=context, context_provider=context_provider,
                         submit_handler=submit_handler, parent=parent)
    # A Window-flagged child floats over its parent, follows it when minimised and is freed with it.
    panel.setWindowFlags(Qt.WindowType.Window)
    panel.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    panel.resize(1000, 720)
    _floating["panel"] = panel
    if context is not None or context_provider is not None:
        panel.tabs.setCurrentWidget(panel.submit_tab)
    panel.show()
    return panel


def floating_panel() -> Optional[FarmhandPanel]:
    """The floating window if it is open (for hosts that want to update its context)."""
    existing = _floating.get("panel")
    if existing is not None and is_alive(existing) and isinstance(existing, FarmhandPanel):
        return existing
    return None


__all__ = ["FarmhandPanel", "create_panel", "floating_panel", "show_floating"]
