"""Qt tests run offscreen under whichever binding ``FARMHAND_QT_API`` names (PySide6 by default).

pytest-qt finds the binding itself: each virtualenv has exactly one (``.venv`` PySide6,
``.venv-pyside2`` Debian's PySide2), and ``test_qt_binding`` checks the panel imported the same one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from farmhand.ui.panel import FarmhandPanel

from .fake_backend import FakeBackend


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def make_panel(qtbot) -> Iterator:
    panels: list[FarmhandPanel] = []

    def make(backend: FakeBackend, **kwargs) -> FarmhandPanel:
        kwargs.setdefault("poll_seconds", 0.1)
        panel = FarmhandPanel(backend, **kwargs)
        qtbot.addWidget(panel)
        panel.jobs_tab.confirm = lambda title, question: True
        panel.nodes_tab.confirm = lambda title, question: True
        panels.append(panel)
        panel.resize(1000, 700)
        panel.show()
        qtbot.waitExposed(panel)
        return panel

    yield make
    for panel in panels:
        panel.detach()


def wait_snapshot(qtbot, panel: FarmhandPanel, timeout: int = 3000) -> None:
    with qtbot.waitSignal(panel.snapshotApplied, timeout=timeout):
        panel.poller.poll_now()
