"""The functions Houdini's entry points call: shelf tools, the ROP right-click menu, the Python panel
and the Farmhand ROP's Submit button. Each receives Houdini's ``kwargs`` and runs on the main thread.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Optional

import hou

from farmhand.errors import FarmhandError, UsageError
from farmhand.houdini import farm, pathmap, rops, submit
from farmhand.houdini.mainthread import run_in_background
from farmhand.houdini.preflight import Finding, NodeFacts, Severity
from farmhand.houdini.submit import JobSink, Sent, SubmitOptions, SubmitPlan

log = logging.getLogger(__name__)

Kwargs = Optional[Mapping[str, Any]]

#: Swapped by tests and by hosts embedding Farmhand differently.
sink_factory: Callable[[], JobSink] = submit.ClientSink
nodes_provider: Callable[[], list[NodeFacts]] = farm.registry_nodes
pathmap_loader: Callable[[], pathmap.PathMap] = pathmap.load


# --- picking the ROP ------------------------------------------------------------------------------

#: How deep the ROP picker looks (``/obj/geo1/subnet1/rop_geometry1`` is depth 4); deeper networks are
#: usually inside assets, and walking them all makes the picker slow on big scenes.
PICKER_DEPTH = 5


def scene_rops() -> list[str]:
    """Every ROP in the scene Farmhand can render (``/out`` and ROPs/file caches inside networks)."""
    found: list[str] = []

    def walk(node: hou.OpNode, depth: int) -> None:
        for child in node.children():
            if rops.is_rop(child):
                found.append(child.path())
            elif depth < PICKER_DEPTH:
                walk(child, depth + 1)

    root = hou.node("/")
    if isinstance(root, hou.OpNode):
        walk(root, 1)
    return found


def selected_rop() -> Optional[str]:
    """The most recently selected node that is a ROP (Houdini lists it last)."""
    for node in reversed(hou.selectedNodes()):
        if rops.is_rop(node):
            return node.path()
    return None


def pick_rop() -> Optional[str]:
    chosen = selected_rop()
    if chosen:
        return chosen
    choices = scene_rops()
    if not choices:
        _tell("This scene has no ROP to render. Create one in /out (e.g. a Mantra or Karma ROP).",
              Severity.WARNING)
        return None
    picked = hou.ui.selectFromList(choices, exclusive=True, title="Render on Farm",
                                   message="Which ROP should the farm render?")
    return choices[picked[0]] if picked else None


# --- submitting -----------------------------------------------------------------------------------

def make_plan(rop_path: str | Sequence[str], options: SubmitOptions) -> SubmitPlan:
    return submit.plan(rop_path, options, nodes_provider(), pathmap_loader())


def submit_interactive(rop_path: str | Sequence[str], options: Optional[SubmitOptions] = None
                       ) -> Optional[Sent]:
    """Plan, show the preflight dialog, save when asked, and send the jobs (in the background).

    Returns what was sent (the first job id is in it once the background submit finished), or None
    when the user cancelled or preflight found errors.
    """
    options = options or SubmitOptions()
    plan = make_plan(rop_path, options)
    if not hou.isUIAvailable():
        submit.refuse(plan)
        return submit.send(plan.specs, sink_factory())
    approved = _preflight_dialog(plan, rop_path, options)
    if approved is None:
        return None
    return _send_in_background(approved)


def _preflight_dialog(plan: SubmitPlan, rop_path: str | Sequence[str], options: SubmitOptions,
                      offer_save: bool = True) -> Optional[SubmitPlan]:
    findings = list(plan.findings)
    summary = _summary(plan)
    errors = [f for f in findings if f.severity is Severity.ERROR]
    fixable = [f for f in errors if f.fixes]
    if errors and offer_save and len(fixable) == len(errors):
        buttons = ("Save and Submit", "Save as New Version and Submit", "Cancel")
        choice = hou.ui.displayMessage(
            "Farmhand: fix before submitting", buttons=buttons, severity=hou.severityType.Warning,
            default_choice=0, close_choice=2, title="Farmhand preflight", details=_details(findings),
            details_expanded=True)
        if choice == 2:
            return None
        submit.save_scene(new_version=choice == 1)
        # Saving can change the path (a new version): check again, and never offer to save twice.
        return _preflight_dialog(make_plan(rop_path, options), rop_path, options, offer_save=False)
    if errors:
        hou.ui.displayMessage("Farmhand cannot submit this ROP yet", buttons=("OK",),
                              severity=hou.severityType.Error, title="Farmhand preflight",
                              details=_details(findings), details_expanded=True)
        return None
    if any(f.severity is Severity.WARNING for f in findings):
        # Notes alone (INFO) never stop a submit; warnings ask once.
        choice = hou.ui.displayMessage(summary, buttons=("Submit", "Cancel"),
                                       severity=hou.severityType.Warning, default_choice=0, close_choice=1,
                                       title="Farmhand preflight", details=_details(findings),
                                       details_expanded=True)
        return None if choice == 1 else plan
    return plan


def _summary(plan: SubmitPlan) -> str:
    jobs = ", ".join(f"{info.path} ({len(info.frames)} frame{'' if len(info.frames) == 1 else 's'})"
                     for info in plan.rops)
    return f"Farmhand will render {jobs} from {plan.scene.hip_path}."


def _details(findings: list[Finding]) -> str:
    marks = {Severity.ERROR: "ERROR", Severity.WARNING: "WARNING", Severity.INFO: "NOTE"}
    return "\n".join(f"{marks[f.severity]}: {f.message}\n    → {f.action}" for f in findings)


def _send_in_background(plan: SubmitPlan) -> Sent:
    sent = Sent(job_ids=[], pending=list(plan.specs))

    def work() -> Sent:
        return submit.send(plan.specs, sink_factory(), sent=sent)

    def done(result: Optional[Sent], error: Optional[BaseException]) -> None:
        if error is not None or result is None:
            message = (error.message if isinstance(error, FarmhandError)
                       else f"{type(error).__name__}: {error}")
            _tell(f"Farmhand could not submit: {message}", Severity.ERROR)
            sent.error = message
            return
        ids = result.job_ids
        if len(ids) == 1:
            _status(f"Farmhand: job {ids[0]} submitted")
        else:
            _status(f"Farmhand: jobs {', '.join(ids)} submitted (each starts when the one before is done)")

    sent.thread = run_in_background(work, done, name="farmhand-submit")
    return sent


def _tell(text: str, severity: Severity) -> None:
    if not hou.isUIAvailable():
        log.warning(text)
        return
    level = {Severity.ERROR: hou.severityType.Error, Severity.WARNING: hou.severityType.Warning}.get(
        severity, hou.severityType.Message)
    hou.ui.displayMessage(text, severity=level, title="Farmhand")


def _status(text: str) -> None:
    log.info(text)
    if hou.isUIAvailable():
        hou.ui.setStatusMessage(text)


def _guarded(fn: Callable[[], Optional[Sent]]) -> Optional[Sent]:
    """Entry points never show a traceback: a Farmhand or Houdini error becomes one message."""
    try:
        return fn()
    except FarmhandError as exc:
        _tell(exc.message, Severity.ERROR)
        return None
    except hou.Error as exc:
        _tell(f"Farmhand: Houdini refused: {str(exc).strip() or type(exc).__name__}", Severity.ERROR)
        return None


# --- entry points ---------------------------------------------------------------------------------

def render_on_farm(kwargs: Kwargs = None) -> Optional[Sent]:
    """Shelf "Render on Farm": the selected ROP, or a picker of the scene's ROPs."""

    def run() -> Optional[Sent]:
        rop_path = pick_rop()
        return _submit_path(rop_path) if rop_path else None

    return _guarded(run)


def _submit_path(rop_path: str) -> Optional[Sent]:
    """Submit a ROP; a Farmhand ROP submits its inputs with its own settings (as its Submit button)."""
    node = hou.node(rop_path)
    if isinstance(node, hou.OpNode) and rops.base_type_name(node) == "farmhand":
        from farmhand.houdini import hda

        return hda.submit_from_node(node)
    return submit_interactive(rop_path)


def render_node(kwargs: Kwargs) -> Optional[Sent]:
    """Right-click "Render on Farmhand…" on a ROP."""
    node = (kwargs or {}).get("node")
    if node is None:
        return render_on_farm(kwargs)
    return _guarded(lambda: _submit_path(node.path()))


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
        return submit_interactive(node.path(), SubmitOptions(frames=text.strip()))

    return _guarded(run)


def menu_context(kwargs: Kwargs) -> bool:
    """The OPmenu's context test: show Farmhand's items on ROP nodes only. Never raises."""
    try:
        return rops.is_rop((kwargs or {}).get("node"))
    except Exception:  # a menu expression must never break Houdini's menu
        log.debug("menu_context failed", exc_info=True)
        return False


def submit_context() -> Any:
    """What the panel's Submit tab shows (a :class:`farmhand.ui.records.SubmitContext`)."""
    from farmhand.houdini import panel

    return panel.submit_context(selected_rop())


def open_panel(kwargs: Kwargs = None) -> Any:
    """Shelf "Farm Panel": the panel as a floating window over Houdini's main window."""
    from farmhand.houdini import panel

    return panel.open_floating()


def scan_for_nodes(kwargs: Kwargs = None) -> Any:
    """Shelf "Scan for Nodes": the panel on its Nodes tab, scanning the configured range."""
    from farmhand.houdini import panel

    return panel.open_floating(scan=True)


def create_panel_widget(kwargs: Kwargs = None) -> Any:
    """The Python panel's ``onCreateInterface``: the panel widget, embedded in a pane tab."""
    from farmhand.houdini import panel

    return panel.create_widget()


def hda_submit(kwargs: Kwargs) -> Optional[Sent]:
    """The Farmhand ROP's Submit button: every ROP wired into it, with the node's settings."""
    from farmhand.houdini import hda

    node = (kwargs or {}).get("node")
    if node is None:
        return None
    return _guarded(lambda: hda.submit_from_node(node))
