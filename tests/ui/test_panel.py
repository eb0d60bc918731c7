"""The panel as a whole: updates from a worker thread, rate limit, detach/reattach, floating window, scale."""

from __future__ import annotations

import threading
import time

import pytest

from farmhand.ui.panel import FarmhandPanel, floating_panel, show_floating
from farmhand.ui.qt import Qt, QtCore, QtWidgets
from farmhand.ui.threads import MAX_RATE_HZ, Poller
from farmhand.ui.view.records import FarmSnapshot

from . import farm_data
from .conftest import wait_snapshot
from .fake_backend import FakeBackend

pytestmark = pytest.mark.ui


def test_snapshots_are_read_off_and_applied_on_the_ui_thread(qtbot, make_panel, backend) -> None:
    applied_on: list[bool] = []
    panel = make_panel(backend)
    app_thread = QtWidgets.QApplication.instance().thread()
    panel.snapshotApplied.connect(lambda _s: applied_on.append(QtCore.QThread.currentThread() == app_thread))
    wait_snapshot(qtbot, panel)
    assert backend.snapshot_threads == {"farmhand-ui-poller"}
    assert applied_on and all(applied_on)


class SlowBackend(FakeBackend):
    """A store that takes 1 s per read (a busy disk): the UI must stay responsive meanwhile."""

    def snapshot(self, job_id):
        time.sleep(1.0)
        return super().snapshot(job_id)


def test_a_slow_store_never_blocks_the_ui(qtbot, make_panel) -> None:
    backend = SlowBackend()
    panel = make_panel(backend)
    ticks: list[float] = []
    timer = QtCore.QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(20)
    qtbot.waitUntil(lambda: panel.last_snapshot is not None, timeout=5000)
    qtbot.wait(1200)
    timer.stop()
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    # The event loop kept ticking while the reads ran in the poller thread: a read on the UI thread would
    # leave a gap of a whole second (the margin below is for a loaded machine, not for the design).
    assert len(ticks) > 30
    assert max(gaps) < 0.5


def test_polls_are_capped_and_merged(qtbot) -> None:
    backend = FakeBackend()
    poller = Poller(backend, interval=0.0)
    received: list[FarmSnapshot] = []
    poller.updated.connect(received.append)
    assert poller.interval == pytest.approx(1.0 / MAX_RATE_HZ)
    poller.start()
    started = time.monotonic()
    try:
        for _ in range(200):  # a burst of requests (e.g. many selection changes)
            poller.poll_now()
            qtbot.wait(2)
        qtbot.wait(300)
    finally:
        poller.stop()
    elapsed = time.monotonic() - started
    assert backend.snapshot_calls <= elapsed * MAX_RATE_HZ + 2
    assert len(received) <= backend.snapshot_calls


def test_ui_falling_behind_drops_old_snapshots(qtbot) -> None:
    backend = FakeBackend()
    poller = Poller(backend, interval=0.1)
    received: list[FarmSnapshot] = []
    poller.updated.connect(received.append)
    started = time.time()
    poller.start()
    try:
        time.sleep(1.0)  # the UI thread is busy: no events are processed for a second
        woke = time.time()
        qtbot.wait(50)
    finally:
        poller.stop()
    # About ten polls happened while the UI was busy, but only the newest of them reached it (plus at
    # most one taken during the short wait afterwards), never a backlog starting with the oldest.
    assert backend.snapshot_calls >= 5
    assert 1 <= len(received) <= 2
    assert received[0].taken_at >= woke - 0.25 > started


def test_store_errors_keep_the_last_data_and_say_why(qtbot, make_panel, backend) -> None:
    from farmhand.errors import FarmhandError

    panel = make_panel(backend)
    wait_snapshot(qtbot, panel)
    rows = panel.jobs_tab.jobs.rowCount()

    def broken(job_id):
        raise FarmhandError("job store /tmp/x/jobs.sqlite is unusable (not a database); move it aside")

    backend.snapshot = broken
    wait_snapshot(qtbot, panel)
    assert panel.jobs_tab.jobs.rowCount() == rows
    assert panel.status.text() == ("could not refresh: "
                                   "job store /tmp/x/jobs.sqlite is unusable (not a database); move it aside")
    assert "showing the last good data" in panel.updated_label.text()


def test_closing_detaches_without_touching_jobs_and_reopening_reattaches(qtbot, backend) -> None:
    first = FarmhandPanel(backend, poll_seconds=0.1)
    qtbot.addWidget(first)
    first.show()
    wait_snapshot(qtbot, first)
    first.close()
    assert not first.poller.running
    assert [c for c, _ in backend.calls if c in ("cancel", "pause")] == []
    polls = backend.snapshot_calls
    qtbot.wait(300)
    assert backend.snapshot_calls == polls  # nothing polls after close

    second = FarmhandPanel(backend, poll_seconds=0.1)
    qtbot.addWidget(second)
    second.show()
    qtbot.waitUntil(lambda: second.jobs_tab.grid.frames() != (), timeout=3000)
    assert second.jobs_tab.selected_job().job_id == "j1"
    second.close()


def test_floating_window_over_a_main_window(qtbot, backend) -> None:
    main = QtWidgets.QMainWindow()
    qtbot.addWidget(main)
    main.show()
    panel = show_floating(main, backend)
    try:
        assert panel.parent() is main
        assert panel.isWindow() and panel.isVisible()
        assert panel.windowFlags() & Qt.WindowType.Window
        assert floating_panel() is panel
        # The shelf pressed again: the same window is raised, not a second one.
        assert show_floating(main, backend) is panel
        assert len(main.findChildren(FarmhandPanel)) == 1
    finally:
        panel.close()
    qtbot.waitUntil(lambda: floating_panel() is None, timeout=3000)


def widget_count(panel: FarmhandPanel) -> int:
    return len(panel.findChildren(QtWidgets.QWidget))


def test_100_nodes_and_5000_frames_add_no_widgets(qtbot, make_panel) -> None:
    small = make_panel(FakeBackend(farm_data.snapshot(n_nodes=4, total=48, done=10, job_nodes_n=4)))
    qtbot.waitUntil(lambda: small.jobs_tab.grid.frames() != (), timeout=3000)
    large = make_panel(FakeBackend(farm_data.snapshot(n_nodes=100, total=5000, done=2000, job_nodes_n=100)))
    qtbot.waitUntil(lambda: large.jobs_tab.grid.frames() != (), timeout=3000)
    assert large.nodes_tab.model.rowCount() == 100
    assert large.jobs_tab.job_nodes.rowCount() == 100
    assert len(large.jobs_tab.grid.frames()) == 5000
    # Model/view: the widget tree does not grow with the farm (the Submit tab's node list holds items,
    # not widgets).
    assert widget_count(large) == widget_count(small)
    assert widget_count(large) < 250


def test_poller_thread_ends_with_the_panel(qtbot, backend) -> None:
    before = {t.name for t in threading.enumerate()}
    panel = FarmhandPanel(backend, poll_seconds=0.1)
    qtbot.addWidget(panel)
    assert "farmhand-ui-poller" in {t.name for t in threading.enumerate()}
    panel.detach()
    assert {t.name for t in threading.enumerate()} - before == set()


def test_hidden_panel_reads_nothing_and_showing_polls_again(qtbot, make_panel, backend) -> None:
    panel = make_panel(backend)
    wait_snapshot(qtbot, panel)
    panel.hide()
    qtbot.wait(150)
    polls = backend.snapshot_calls
    qtbot.wait(400)
    assert backend.snapshot_calls == polls
    with qtbot.waitSignal(panel.snapshotApplied, timeout=3000):
        panel.show()
    assert panel.poller.running


def test_a_destroyed_panel_stops_its_poller(qtbot, backend) -> None:
    panel = FarmhandPanel(backend, poll_seconds=0.1)
    poller = panel.poller
    wait_snapshot(qtbot, panel)
    thread = poller._thread
    assert thread is not None and thread.is_alive()
    panel.deleteLater()  # an embedding pane tab goes away: no closeEvent
    qtbot.waitUntil(lambda: not thread.is_alive(), timeout=3000)


def test_restarting_never_leaves_two_pollers(qtbot, backend) -> None:
    class SlowBackend(FakeBackend):
        def snapshot(self, job_id):
            time.sleep(0.3)
            return super().snapshot(job_id)

    slow = SlowBackend()
    poller = Poller(slow, interval=0.1)
    poller.start()
    time.sleep(0.05)  # the first read is in progress
    poller.stop(timeout=0.0)
    poller.start()
    time.sleep(1.0)
    names = [t for t in threading.enumerate() if t.name == "farmhand-ui-poller" and t.is_alive()]
    poller.stop()
    assert len(names) == 1


def test_tasks_run_a_bounded_number_at_a_time(qtbot) -> None:
    from farmhand.ui.threads import TaskRunner

    runner = TaskRunner(max_running=3)
    lock = threading.Lock()
    running = [0]
    peak = [0]
    results: list[int] = []

    def work(i: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return i

    for i in range(12):
        runner.run(lambda i=i: work(i), done=results.append, name="probe")
    qtbot.waitUntil(lambda: len(results) == 12, timeout=5000)
    assert sorted(results) == list(range(12))
    assert peak[0] == 3
