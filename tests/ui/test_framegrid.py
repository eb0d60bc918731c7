"""The frame grid: one painted widget, colours by state, hit testing, clicks and the legend."""

from __future__ import annotations

import pytest

from farmhand.ui.framegrid import FrameGrid
from farmhand.ui.qt import Qt, QtCore, QtWidgets
from farmhand.ui.view import summaries as style
from farmhand.ui.view.records import FrameStatus
from farmhand.ui.view.summaries import describe_frame, legend_html

from . import farm_data

pytestmark = pytest.mark.ui


@pytest.fixture
def grid(qtbot) -> FrameGrid:
    grid = FrameGrid()
    qtbot.addWidget(grid)
    grid.resize(400, 200)
    grid.show()
    qtbot.waitExposed(grid)
    return grid


def test_cells_are_painted_in_state_colours(grid: FrameGrid) -> None:
    frames = farm_data.frames(total=240, done=100, rendering=4, failed=2, retrying=1)
    grid.set_frames(frames)
    image = grid.viewport().grab().toImage()
    for index in (0, 100, 104, 106, 107):
        rect = grid.cell_rect(index)
        pixel = image.pixelColor(rect.center()).name()
        assert pixel == style.FRAME_COLOURS[frames[index].status], index
    assert grid.counts()[FrameStatus.DONE] == 100
    assert grid.counts()[FrameStatus.FAILED] == 2
    assert grid.counts()[FrameStatus.RETRYING] == 1
    assert grid.counts()[FrameStatus.WAITING] == 240 - 107


def test_hit_testing_matches_painting(grid: FrameGrid) -> None:
    grid.set_frames(farm_data.frames(total=500))
    for index in (0, 1, grid.columns() - 1, grid.columns(), 37):
        assert grid.index_at(grid.cell_rect(index).center()) == index
    gap = grid.cell_rect(0).topRight() + QtCore.QPoint(1, 0)
    assert grid.index_at(gap) == -1


def test_click_selects_and_emits_frame(qtbot, grid: FrameGrid) -> None:
    frames = farm_data.frames(total=240)
    grid.set_frames(frames)
    with qtbot.waitSignal(grid.frameClicked) as blocker:
        qtbot.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=grid.cell_rect(5).center())
    assert blocker.args == [frames[5].frame]
    assert grid.selected_frame() == frames[5].frame
    # The selection follows the frame when the frames are refreshed.
    grid.set_frames(farm_data.frames(total=240, done=200))
    assert grid.selected_frame() == frames[5].frame


def test_right_click_asks_for_a_menu(qtbot, grid: FrameGrid) -> None:
    frames = farm_data.frames(total=50)
    grid.set_frames(frames)
    with qtbot.waitSignal(grid.frameMenuRequested) as blocker:
        qtbot.mouseClick(grid.viewport(), Qt.MouseButton.RightButton, pos=grid.cell_rect(7).center())
    assert blocker.args[0] == frames[7].frame


def test_5000_frames_scroll_and_stay_one_widget(qtbot, grid: FrameGrid) -> None:
    grid.set_frames(farm_data.frames(total=5000, done=2500))
    assert grid.verticalScrollBar().maximum() > 0
    grid.verticalScrollBar().setValue(grid.verticalScrollBar().maximum())
    last = 4999
    rect = grid.cell_rect(last)
    assert grid.viewport().rect().contains(rect.center())
    assert grid.index_at(rect.center()) == last
    assert grid.viewport().grab().toImage().pixelColor(rect.center()).name() == style.FRAME_COLOURS[
        FrameStatus.WAITING]
    assert len(grid.findChildren(QtWidgets.QWidget)) < 10


def test_frame_words_and_legend() -> None:
    frames = farm_data.frames(total=120, done=100, rendering=4, failed=2, retrying=1)
    failed = frames[104]
    assert describe_frame(failed) == ("frame 1105: failed, on render01, attempt 4\n"
                                      "missing file: /share/tex/wood.rat")
    assert describe_frame(frames[0]).startswith("frame 1001: done, on render01, 2.0 s")
    grid_counts = {status: sum(f.status == status for f in frames) for status in FrameStatus}
    from collections import Counter

    html = legend_html(Counter(grid_counts))
    assert "failed&nbsp;2" in html and "done&nbsp;100" in html and style.RED in html
    assert "cancelled" not in html  # states with no frames (beyond the basic three) are left out
