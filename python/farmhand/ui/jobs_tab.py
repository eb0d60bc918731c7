"""The Jobs tab: the queue, and for the selected job its nodes, its frames and their logs."""

from __future__ import annotations

import time
from typing import Callable, Optional

from farmhand.display import safe_text
from farmhand.frames import format_frame
from farmhand.jobs import JobState
from farmhand.ui.framegrid import FrameGrid
from farmhand.ui.models import ProgressDelegate, RecordRole, StateDelegate, job_nodes_model, jobs_model
from farmhand.ui.preview import PreviewPane
from farmhand.ui.qt import QAction, Qt, QtCore, QtGui, QtWidgets, Signal, exec_menu
from farmhand.ui.threads import TaskRunner
from farmhand.ui.view.backend import FarmBackend
from farmhand.ui.view.columns import hidden_job_columns
from farmhand.ui.view.records import FarmSnapshot, JobDetail, JobView
from farmhand.ui.view.summaries import legend_html, revival_words, summary_html
from farmhand.ui.view.team import empty_queue_words, shown_jobs
from farmhand.ui.widgets import Confirm, ask, fit_columns, hide_columns, table_view

#: How often the log on screen is re-read while its job runs.
LOG_FOLLOW_SECONDS = 2.0

class JobsTab(QtWidgets.QWidget):
    """Shows snapshots; every action goes to the backend through the task runner, off the UI thread."""

    #: The selected job id (None when nothing is selected); the panel tells its poller.
    jobSelected = Signal(object)
    #: A one-line status message for the panel's status bar.
    message = Signal(str)

    def __init__(self, backend: FarmBackend, runner: TaskRunner,
                 parent: Optional[QtWidgets.QWidget] = None) -> None:
        super().__init__(parent)
        self._backend = backend
        self._runner = runner
        self.confirm: Confirm = ask(self)
        self._job_id: Optional[str] = None
        self._log_target: Optional[tuple[str, Optional[str], Optional[float]]] = None
        self._log_loading = False
        self._log_loaded_at = 0.0
        self._detail: Optional[JobDetail] = None

        self._last_jobs: tuple[JobView, ...] = ()
        self._build_tables()
        self._build_detail()
        self._build_actions()
        self._layout()
        self._connect()
        self._update_buttons()

    def _build_tables(self) -> None:
        self.jobs = jobs_model(self)
        self.job_nodes = job_nodes_model(self)
        self.jobs_view = table_view(self.jobs, self)
        column = self.jobs.column
        self.jobs_view.setItemDelegateForColumn(column("State"), StateDelegate(self.jobs_view))
        self.jobs_view.setItemDelegateForColumn(column("Progress"), ProgressDelegate(self.jobs_view))
        fit_columns(self.jobs_view, {
            column("Job"): "shot010_lighting_v012", column("State"): "cancelled", column("Priority"): "100",
            column("Progress"): "1000/1000  100%  (9 failed)", column("ETA"): "59m59s",
            column("Owner"): "wrangler_anna"}, dotted=(column("State"),))
        hide_columns(self.jobs_view, hidden_job_columns(shared=False))
        self.nodes_view = table_view(self.job_nodes, self)
        self.nodes_view.setItemDelegateForColumn(1, StateDelegate(self.nodes_view))
        bars = ProgressDelegate(self.nodes_view)
        self.nodes_view.setItemDelegateForColumn(3, bars)
        self.nodes_view.setItemDelegateForColumn(4, bars)
        fit_columns(self.nodes_view, {0: "render01", 1: "busy elsewhere", 2: "1001", 3: "100%    ",
                                      4: "100/100 frames", 5: "1000", 6: "100.0", 7: "59m59s"},
                    dotted=(1,))

    def _build_detail(self) -> None:
        self.grid = FrameGrid(self)
        self.preview = PreviewPane(self)
        self.legend = QtWidgets.QLabel(self)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        self.summary = QtWidgets.QLabel("No jobs in the queue yet.", self)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setWordWrap(True)
        self.log_title = QtWidgets.QLabel("Log: click a node or a frame", self)
        self.log_title.setTextFormat(Qt.TextFormat.PlainText)
        self.log_view = QtWidgets.QPlainTextEdit(self)
        self.log_view.setReadOnly(True)
        self.log_view.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.NoWrap)
        self.log_view.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))

    def _build_actions(self) -> None:
        self.cancel_button = QtWidgets.QPushButton("Cancel", self)
        self.pause_button = QtWidgets.QPushButton("Pause", self)
        self.resume_button = QtWidgets.QPushButton("Resume", self)
        self.retry_button = QtWidgets.QPushButton("Retry failed", self)
        self.priority_spin = QtWidgets.QSpinBox(self)
        self.priority_spin.setRange(0, 100)
        self.priority_spin.setToolTip("Higher runs first")
        self.priority_button = QtWidgets.QPushButton("Set priority", self)
        self.requeue_button = QtWidgets.QPushButton("Requeue frame", self)
        self.job_log_button = QtWidgets.QPushButton("Job log", self)
        self.hide_finished_check = QtWidgets.QCheckBox("Hide finished", self)
        self.hide_finished_check.setToolTip("Show only queued, waiting, running and paused jobs")
        self.all_users_check = QtWidgets.QCheckBox("All users", self)
        self.all_users_check.setToolTip("Show every user's jobs on the farm database, not only yours")

    def _layout(self) -> None:
        # A tool bar, so a narrow docked pane shows what fits and puts the rest behind its » button.
        actions = QtWidgets.QToolBar(self)
        for button in (self.cancel_button, self.pause_button, self.resume_button, self.retry_button):
            actions.addWidget(button)
        actions.addSeparator()
        actions.addWidget(QtWidgets.QLabel(" Priority ", self))
        actions.addWidget(self.priority_spin)
        actions.addWidget(self.priority_button)
        actions.addSeparator()
        actions.addWidget(self.requeue_button)
        actions.addWidget(self.job_log_button)
        actions.addSeparator()
        actions.addWidget(self.hide_finished_check)
        # Only a shared farm database has other users' jobs (a tool bar hides a widget by its action).
        self.all_users_action = actions.addWidget(self.all_users_check)
        self.all_users_action.setVisible(False)
        self.actions_bar = actions

        detail = QtWidgets.QWidget(self)
        detail_layout = QtWidgets.QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.addWidget(self.summary)
        detail_layout.addWidget(self.nodes_view, 3)
        frames_row = QtWidgets.QHBoxLayout()
        frames_row.addWidget(self.grid, 1)
        frames_row.addWidget(self.preview)
        detail_layout.addLayout(frames_row, 2)
        detail_layout.addWidget(self.legend)

        logs = QtWidgets.QWidget(self)
        log_layout = QtWidgets.QVBoxLayout(logs)
        log_layout.setContentsMargins(0, 0, 0, 0)
        log_layout.addWidget(self.log_title)
        log_layout.addWidget(self.log_view)

        split = QtWidgets.QSplitter(Qt.Orientation.Vertical, self)
        split.addWidget(self.jobs_view)
        split.addWidget(detail)
        split.addWidget(logs)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 5)
        split.setStretchFactor(2, 2)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(actions)
        layout.addWidget(split, 1)

    def _connect(self) -> None:
        self.jobs_view.selectionModel().currentRowChanged.connect(self._job_row_changed)
        self.nodes_view.clicked.connect(self._node_clicked)
        self.grid.frameClicked.connect(self._frame_clicked)
        self.grid.frameMenuRequested.connect(self._frame_menu)
        self.cancel_button.clicked.connect(self.cancel)
        self.pause_button.clicked.connect(lambda: self._act("pause", self._backend.pause))
        self.resume_button.clicked.connect(lambda: self._act("resume", self._backend.resume))
        self.retry_button.clicked.connect(
            lambda: self._act("retry failed frames of", self._backend.retry_failed))
        self.priority_button.clicked.connect(self.set_priority)
        self.requeue_button.clicked.connect(self.requeue_selected_frame)
        self.job_log_button.clicked.connect(lambda: self._show_log(None, None))
        self.hide_finished_check.toggled.connect(lambda *_: self._show_jobs(self._last_jobs))
        self.all_users_check.toggled.connect(lambda *_: self._show_jobs(self._last_jobs))

    # -- snapshots ------------------------------------------------------------------------------------
    def _show_jobs(self, jobs: tuple[JobView, ...]) -> None:
        self._last_jobs = jobs
        self.jobs.set_rows(shown_jobs(jobs, all_users=self.all_users_check.isChecked(),
                                      hide_finished=self.hide_finished_check.isChecked(),
                                      selected=self._job_id))
        if self._job_id is None:
            self.summary.setText(self._nothing_selected())
            return
        row = self.jobs.row_of(self._job_id)
        if row < 0:
            self.select_job(None)  # removed from the store, or another user's job no longer listed
        elif self.jobs_view.currentIndex().row() != row:
            self._select_row(row)

    def _nothing_selected(self) -> str:
        return empty_queue_words(self.jobs.rowCount(), self._last_jobs,
                                 all_users=self.all_users_check.isChecked())

    def apply(self, snapshot: FarmSnapshot) -> None:
        """Show a snapshot (called on the UI thread by the panel)."""
        hide_columns(self.jobs_view, hidden_job_columns(snapshot.shared))
        self.all_users_action.setVisible(snapshot.shared)
        following = self._job_id is None
        self._show_jobs(snapshot.jobs)
        if following and self.jobs.rowCount():
            # Reattaching: follow what renders now (newest first), else the newest unfinished job, so a
            # reopened panel shows work in progress rather than a job waiting for it.
            jobs = self.jobs.records()
            follow = ([j for j in jobs if j.status is JobState.RUNNING]
                      or [j for j in jobs if not j.status.finished] or list(jobs))
            self.select_job(follow[0].job_id)
        detail = snapshot.detail
        if detail is not None and detail.job.job_id == self._job_id:
            self._apply_detail(detail)
        self._update_buttons()
        self._follow_log()

    def _apply_detail(self, detail: JobDetail) -> None:
        self._detail = detail
        self.job_nodes.set_rows(detail.nodes)
        self.grid.set_frames(detail.frames)
        self.legend.setText(legend_html(self.grid.counts()))
        self.summary.setText(summary_html(detail.job))
        self.preview.show_detail(detail)

    def select_job(self, job_id: Optional[str]) -> None:
        row = self.jobs.row_of(job_id) if job_id is not None else -1
        if row >= 0:
            self._select_row(row)
            return
        self._job_id = None
        self._detail = None
        self.jobs_view.clearSelection()
        self.job_nodes.set_rows(())
        self.grid.set_frames(())
        self.preview.choose(None)
        self.preview.show_detail(None)
        self.legend.setText("")
        self.summary.setText(self._nothing_selected())
        self.jobSelected.emit(None)
        self._update_buttons()

    def _select_row(self, row: int) -> None:
        self.jobs_view.selectionModel().setCurrentIndex(
            self.jobs.index(row, 0),
            QtCore.QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QtCore.QItemSelectionModel.SelectionFlag.Rows,
        )

    def _job_row_changed(self, current: QtCore.QModelIndex, previous: QtCore.QModelIndex) -> None:
        del previous
        job = self.jobs.record(current.row()) if current.isValid() else None
        new_id = job.job_id if job is not None else None
        if new_id == self._job_id:
            return
        self._job_id = new_id
        self._detail = None
        self._log_target = None
        self.log_title.setText("Log: click a node or a frame")
        self.log_view.clear()
        self.job_nodes.set_rows(())
        self.grid.set_frames(())
        self.preview.choose(None)
        self.preview.show_detail(None)
        if job is not None:
            self.priority_spin.setValue(job.priority)
            self.summary.setText(summary_html(job))
        self.jobSelected.emit(new_id)
        self._update_buttons()

    def selected_job(self) -> Optional[JobView]:
        row = self.jobs.row_of(self._job_id) if self._job_id is not None else -1
        return self.jobs.record(row)

    def _update_buttons(self) -> None:
        job = self.selected_job()
        live = job is not None and not job.status.finished
        self.cancel_button.setEnabled(live)
        self.pause_button.setEnabled(live and job is not None and job.status is not JobState.PAUSED)
        self.resume_button.setEnabled(job is not None and job.status is JobState.PAUSED)
        self.retry_button.setEnabled(job is not None and job.frames_failed > 0)
        self.priority_button.setEnabled(live)
        self.requeue_button.setEnabled(job is not None and self.grid.selected_frame() is not None)
        self.job_log_button.setEnabled(job is not None)

    # -- actions ---------------------------------------------------------------------------------------
    def _act(self, verb: str, call: Callable[[str], None]) -> None:
        job = self.selected_job()
        if job is None:
            return
        job_id, name = job.job_id, job.name
        self._runner.run(lambda: call(job_id), done=lambda _: self.message.emit(f"{verb} {name}: done"),
                         error=lambda text: self.message.emit(f"could not {verb} {name}: {text}"), name=verb)

    def cancel(self) -> None:
        job = self.selected_job()
        if job is None:
            return
        if self.confirm("Cancel job", f"Cancel {safe_text(job.name)}? Frames already rendered are kept."):
            self._act("cancel", self._backend.cancel)

    def set_priority(self) -> None:
        job = self.selected_job()
        if job is None:
            return
        priority = self.priority_spin.value()
        self._act(f"set priority {priority} for", lambda job_id: self._backend.set_priority(job_id, priority))

    def requeue_selected_frame(self) -> None:
        frame = self.grid.selected_frame()
        if frame is not None:
            self.requeue_frame(frame)

    def requeue_frame(self, frame: float) -> None:
        label = format_frame(frame)
        also = revival_words(self.selected_job(), self._detail, frame)
        if also and not self.confirm("Requeue frame", f"{also} Requeue frame {label} anyway?"):
            return
        self._act(f"requeue frame {label} of", lambda job_id: self._backend.requeue_frame(job_id, frame))

    # -- logs ------------------------------------------------------------------------------------------
    def _node_clicked(self, index: QtCore.QModelIndex) -> None:
        record = index.data(RecordRole)
        if record is not None:
            self._show_log(record.host, None)

    def _frame_clicked(self, frame: float) -> None:
        self._update_buttons()
        self.preview.choose(frame)
        self.preview.show_detail(self._detail)
        self._show_log(None, frame)

    def _frame_menu(self, frame: float, pos: QtCore.QPoint) -> None:
        self._update_buttons()
        menu = QtWidgets.QMenu(self)
        label = format_frame(frame)
        requeue = QAction(f"Requeue frame {label}", menu)
        show = QAction(f"Show log of frame {label}", menu)
        requeue.triggered.connect(lambda *_: self.requeue_frame(frame))
        show.triggered.connect(lambda *_: self._show_log(None, frame))
        menu.addAction(requeue)
        menu.addAction(show)
        exec_menu(menu, pos)
        menu.deleteLater()

    def _show_log(self, host: Optional[str], frame: Optional[float], *, follow: bool = False) -> None:
        """Load a log in the background. ``follow``: a refresh of the log on screen (no "loading")."""
        if self._job_id is None:
            return
        job_id = self._job_id
        target = (job_id, host, frame)
        self._log_target = target
        self._log_loading = True
        self._log_loaded_at = time.monotonic()
        what = "job"
        if host:
            what = f"node {safe_text(host)}"
        elif frame is not None:
            what = f"frame {format_frame(frame)}"
        if not follow:
            self.log_title.setText(f"Log: {what} (loading…)")

        def show(text: object) -> None:
            self._log_loading = False
            if self._log_target != target:
                return
            bar = self.log_view.verticalScrollBar()
            # Stay where the reader scrolled to, unless they were following the end.
            at_end = not follow or bar.value() >= bar.maximum() - 2
            body = str(text) or "(empty)"
            if body != self.log_view.toPlainText():
                position = bar.value()
                self.log_view.setPlainText(body)
                bar.setValue(bar.maximum() if at_end else position)
            self.log_title.setText(f"Log: {what}")

        def failed(text: str) -> None:
            self._log_loading = False
            if self._log_target == target:
                self.log_title.setText(f"Log: {what}")
                self.log_view.setPlainText(f"could not read the log: {text}")

        self._runner.run(lambda: self._backend.log(job_id, host, frame), done=show, error=failed, name="log")

    def _follow_log(self) -> None:
        """Refresh the log on screen while its job runs (at most every LOG_FOLLOW_SECONDS)."""
        target, job = self._log_target, self.selected_job()
        if target is None or job is None or job.job_id != target[0] or job.status.finished:
            return
        if self._log_loading or time.monotonic() - self._log_loaded_at < LOG_FOLLOW_SECONDS:
            return
        self._show_log(target[1], target[2], follow=True)
