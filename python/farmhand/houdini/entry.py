"""The functions Houdini's entry points call: shelf tools, the ROP right-click menu, the Python panel
and the Farmhand ROP's Submit button. Each receives Houdini's ``kwargs``, runs on the main thread and
holds no logic of its own: the flow is :mod:`farmhand.houdini.interactive`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Optional

import hou

from farmhand.errors import UsageError
from farmhand.houdini import hda, interactive, panel, rops
from farmhand.houdini.compat import as_op_node
from farmhand.houdini.interactive import guarded
from farmhand.houdini.sending import Sent
from farmhand.houdini.submit import SubmitOptions

log = logging.getLogger(__name__)

Kwargs = Optional[Mapping[str, Any]]


def render_on_farm(kwargs: Kwargs = None) -> Optional[Sent]:
    """Shelf "Render on Farm": the selected ROP, or a picker of the scene's ROPs."""

    def run() -> Optional[Sent]:
        rop_path = interactive.pick_rop()
        return _submit_path(rop_path) if rop_path else None

    return guarded(run)


def _submit_path(rop_path: str) -> Optional[Sent]:
    """Submit a ROP; a Farmhand ROP submits its inputs with its own settings (as its Submit button)."""
    node = as_op_node(hou.node(rop_path))
    if node is not None and rops.base_type_name(node) == "farmhand":
        return hda.submit_from_node(node)
    return interactive.submit_interactive(rop_path)


def render_node(kwargs: Kwargs) -> Optional[Sent]:
    """Right-click "Render on Farmhand…" on a ROP."""
    node = (kwargs or {}).get("node")
    if node is None:
        return render_on_farm(kwargs)
    return guarded(lambda: _submit_path(node.path()))


def render_node_frames(kwargs: Kwargs) -> Optional[Sent]:
    """Right-click "Render Frames on Farmhand…": asks for a frame list first (``1-10,20,30-40x2``)."""
    node = (kwargs or {}).get("node")
    if node is None:
        return None

    def run() -> Optional[Sent]:
        info = rops.read_rop(rops.find_rop(node.path()))
        choice, text = hou.ui.readInput("Frames to render (e.g. 1-100, 1-100x2, 1,5,10-20)",
                                        buttons=("Render", "Cancel"), close_choice=1,
                                        title="Render Frames on Farmhand", initial_contents=str(info.frames))
        if choice != 0:
            return None
        if not text.strip():
            raise UsageError("no frames given; type a frame list such as 1-100")
        return interactive.submit_interactive(node.path(), SubmitOptions(frames=text.strip()))

    return guarded(run)


def menu_context(kwargs: Kwargs) -> bool:
    """The OPmenu's context test: show Farmhand's items on ROP nodes only. Never raises."""
    try:
        return rops.is_rop((kwargs or {}).get("node"))
    except Exception:  # a menu expression must never break Houdini's menu
        log.debug("menu_context failed", exc_info=True)
        return False


def open_panel(kwargs: Kwargs = None) -> Any:
    """Shelf "Farm Panel": the panel in a native pane tab (one, brought to the front if open)."""
    return panel.open_pane_tab()


def scan_for_nodes(kwargs: Kwargs = None) -> Any:
    """Shelf "Scan for Nodes": the panel's pane tab on its Nodes tab, scanning the configured range."""
    return panel.open_pane_tab(scan=True)


def create_panel_widget(kwargs: Kwargs = None) -> Any:
    """The Python panel's ``onCreateInterface``: the panel widget, embedded in a pane tab."""
    return panel.create_widget()


def hda_submit(kwargs: Kwargs) -> Optional[Sent]:
    """The Farmhand ROP's Submit button: every ROP wired into it, with the node's settings."""
    node = (kwargs or {}).get("node")
    if node is None:
        return None
    return guarded(lambda: hda.submit_from_node(node))
