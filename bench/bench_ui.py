"""How the panel scales: applying a snapshot, painting the frame grid, reading the store.

Run offscreen with either binding:

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/bench_ui.py
    FARMHAND_QT_API=pyside2 QT_QPA_PLATFORM=offscreen .venv-pyside2/bin/python bench/bench_ui.py

Prints medians and the ratios between the small farm (4 nodes, 240 frames) and the large one (100 nodes,
5 000 frames), and between the model/view panel and a widget-per-cell table, all measured in this run.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from farmhand.jobs import JobState, NodeActivity
from farmhand.ui.panel import FarmhandPanel
from farmhand.ui.qt import BINDING, QT_VERSION, QtWidgets
from farmhand.ui.view.records import (
    FarmSnapshot,
    FrameStatus,
    FrameView,
    JobDetail,
    JobNodeView,
    JobView,
    NodeStatus,
    NodeView,
)


def farm(n_nodes: int, n_frames: int, tick: int) -> FarmSnapshot:
    """A running job; ``tick`` moves every node's progress so every row changes between snapshots."""
    done = n_frames // 3 + tick
    frames = tuple(
        FrameView(float(1001 + i), FrameStatus.DONE if i < done else
                  FrameStatus.RENDERING if i < done + n_nodes else FrameStatus.WAITING,
                  f"render{i % n_nodes:03d}", 1, 2.0)
        for i in range(n_frames))
    nodes = tuple(JobNodeView(f"render{i:03d}", NodeActivity.RENDERING, float(1001 + done + i),
                              float((tick * 7 + i) % 100), done // n_nodes, 8, (tick + i) % 8, 2.0, 10.0)
                  for i in range(n_nodes))
    job = JobView("1", "shot010_beauty", JobState.RUNNING, 50, "anna", "hrender", n_frames, done, 0, n_nodes,
                  300.0 - tick)
    registry = tuple(NodeView(f"render{i:03d}", NodeStatus.RENDERING, f"10.0.{i // 250}.{i % 250}", True,
                              True, "", 32, 128.0, ("RTX A4000",), ("21.0.512",), (tick + i) % 8 / 4.0,
                              "shot010_beauty (anna)") for i in range(n_nodes))
    return FarmSnapshot(jobs=(job,), nodes=registry, detail=JobDetail(job, nodes, frames))


class StaticBackend:
    def __init__(self, snapshot: FarmSnapshot) -> None:
        self.current = snapshot

    def snapshot(self, job_id: object) -> FarmSnapshot:
        return self.current

    def presets(self) -> list[str]:
        return ["hrender"]


def median_ms(run: Callable[[], None], repeat: int = 15) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def dispose(app: QtWidgets.QApplication, widget: QtWidgets.QWidget) -> int:
    """Close and delete ``widget`` (so the next measurement starts clean); returns its child widget count."""
    widgets = len(widget.findChildren(QtWidgets.QWidget))
    widget.close()
    widget.deleteLater()
    app.processEvents()
    return widgets


def panel_apply(app: QtWidgets.QApplication, n_nodes: int, n_frames: int) -> tuple[float, float, int]:
    """Median ms to apply a snapshot where every row changed, and to repaint the Jobs tab; widget count."""
    snapshots = [farm(n_nodes, n_frames, tick) for tick in range(16)]
    panel = FarmhandPanel(StaticBackend(snapshots[0]), autostart=False)  # type: ignore[arg-type]
    panel.resize(1100, 760)
    panel.show()
    panel.apply_snapshot(snapshots[0])
    panel.apply_snapshot(snapshots[0])  # the first selects the job, the second shows its detail
    app.processEvents()
    ticks = iter(snapshots[1:] * 4)
    apply_ms = median_ms(lambda: panel.apply_snapshot(next(ticks)))

    def repaint() -> None:
        panel.apply_snapshot(next(ticks))
        panel.jobs_tab.repaint()

    paint_ms = median_ms(repaint)
    widgets = dispose(app, panel)
    return apply_ms, paint_ms, widgets


def node_table(app: QtWidgets.QApplication, n_nodes: int) -> tuple[float, float, int]:
    """The panel's per-node table alone: model + painted bars. Build ms, update+repaint ms, child widgets."""
    from farmhand.ui.models import ProgressDelegate, job_nodes_model

    snapshots = [farm(n_nodes, 10, tick).detail for tick in range(16)]
    model = job_nodes_model()
    view = QtWidgets.QTableView()
    view.setModel(model)
    bars = ProgressDelegate(view)
    view.setItemDelegateForColumn(3, bars)
    view.setItemDelegateForColumn(4, bars)
    view.resize(1100, 400)
    view.show()
    started = time.perf_counter()
    model.set_rows(snapshots[0].nodes if snapshots[0] else ())
    app.processEvents()
    build_ms = (time.perf_counter() - started) * 1000
    ticks = iter(snapshots[1:] * 4)

    def update() -> None:
        detail = next(ticks)
        model.set_rows(detail.nodes if detail else ())
        view.repaint()

    update_ms = median_ms(update)
    widgets = dispose(app, view)
    return build_ms, update_ms, widgets


def widget_per_cell(app: QtWidgets.QApplication, n_nodes: int) -> tuple[float, float, int]:
    """The design the panel avoids: a QTableWidget with two QProgressBar widgets per node row."""
    table = QtWidgets.QTableWidget(n_nodes, 9)
    table.resize(1100, 400)
    table.show()
    bars = []
    started = time.perf_counter()
    for row in range(n_nodes):
        for column in (3, 4):
            bar = QtWidgets.QProgressBar()
            table.setCellWidget(row, column, bar)
            bars.append(bar)
        for column in (0, 1, 2, 5, 6, 7, 8):
            table.setItem(row, column, QtWidgets.QTableWidgetItem("x"))
    app.processEvents()
    build_ms = (time.perf_counter() - started) * 1000
    tick = [0]

    def update() -> None:
        tick[0] += 1
        for i, bar in enumerate(bars):
            bar.setValue((tick[0] * 7 + i) % 100)
        for row in range(n_nodes):
            for column in (0, 1, 2, 5, 6, 7, 8):
                table.item(row, column).setText(str(tick[0] + row + column))
        table.repaint()

    update_ms = median_ms(update)
    widgets = dispose(app, table)
    return build_ms, update_ms, widgets


def store_reads(n_frames: int) -> tuple[float, float, float]:
    """ClientBackend.snapshot on a real store, median ms: after a change, the client's own read of the job
    alone (its part of the first number), and with nothing changed."""
    with tempfile.TemporaryDirectory() as home:
        os.environ["FARMHAND_HOME"] = home
        from farmhand.client import Client
        from farmhand.jobs import FrameState, JobSpec
        from farmhand.ui.client_backend import ClientBackend

        class NoNodes:
            def nodes(self) -> list[NodeView]:
                return []

        backend = ClientBackend(lambda: Client(autostart=False), nodes=NoNodes())  # type: ignore[arg-type]
        client = backend.client()
        spec = JobSpec(preset="hrender", frames=f"1-{n_frames}", file=str(Path(home) / "a.hip"),
                       target="/out/karma1")
        job_id = client.submit(spec)
        tick = [0]

        def changed() -> None:
            tick[0] += 1
            client.store.update_frames(job_id, [tick[0] % n_frames], state=FrameState.DONE.value)
            backend.snapshot(job_id)

        changed_ms = median_ms(changed, 9)
        client_ms = median_ms(lambda: client.job(job_id, events=0), 9)
        unchanged_ms = median_ms(lambda: backend.snapshot(job_id), 9)
        client.close()
        return changed_ms, client_ms, unchanged_ms


def main() -> int:
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    assert isinstance(app, QtWidgets.QApplication)
    print(f"binding {BINDING}, Qt {QT_VERSION}, Python {sys.version.split()[0]}")
    small = panel_apply(app, 4, 240)
    large = panel_apply(app, 100, 5000)
    print(f"apply snapshot      small {small[0]:7.2f} ms   large {large[0]:7.2f} ms   "
          f"ratio {large[0] / small[0]:5.1f}x")
    print(f"apply + repaint     small {small[1]:7.2f} ms   large {large[1]:7.2f} ms   "
          f"ratio {large[1] / small[1]:5.1f}x")
    print(f"widgets in panel    small {small[2]:7d}      large {large[2]:7d}")
    print(f"large apply+repaint at the 10 Hz cap takes {large[1] / 100:.0%} of the UI thread")
    ours = node_table(app, 100)
    cells = widget_per_cell(app, 100)
    print(f"100-node table, model+delegate: build {ours[0]:6.1f} ms, update+repaint {ours[1]:6.2f} ms, "
          f"{ours[2]} widgets")
    print(f"100-node table, widget per cell: build {cells[0]:6.1f} ms, update+repaint {cells[1]:6.2f} ms, "
          f"{cells[2]} widgets")
    print(f"widget per cell / model+delegate: build {cells[0] / ours[0]:.1f}x, "
          f"update {cells[1] / ours[1]:.1f}x, widgets {cells[2] / ours[2]:.1f}x")
    changed, client_only, unchanged = store_reads(5000)
    print(f"store read, 5000-frame job (poller thread): after a change {changed:.1f} ms "
          f"(client.job alone {client_only:.1f} ms), unchanged {unchanged:.3f} ms "
          f"(cache: {changed / max(unchanged, 1e-6):.0f}x less)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
