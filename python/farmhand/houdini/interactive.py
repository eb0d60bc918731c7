"""The submit flow every Houdini entry point shares: pick a ROP, plan, show preflight, send.

Runs on Houdini's main thread; the job store is written in a background thread
(:func:`farmhand.houdini.mainthread.run_in_background`) so Houdini never waits on it. What the user is
told goes through :func:`tell` and :func:`status` (a dialog and the status bar, or the log in hython).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Callable, Optional

import hou

from farmhand.display import Severity
from farmhand.errors import FarmhandError
from farmhand.houdini import farm, rops, sending, submit
from farmhand.houdini.mainthread import run_in_background
from farmhand.houdini.preflight import Finding
from farmhand.houdini.sending import DispatcherNotStarted, Sent
from farmhand.houdini.submit import SubmitOptions, SubmitPlan

log = logging.getLogger(__name__)

#: How deep the ROP picker looks (``/obj/geo1/subnet1/rop_geometry1`` is depth 4); deeper networks are
#: usually inside assets, and walking them all makes the picker slow on big scenes.
PICKER_DEPTH = 5


# --- picking the ROP ------------------------------------------------------------------------------

def scene_rops() -> list[str]:
    """Every ROP in the scene Farmhand can render (``/out`` and ROPs/file caches inside networks)."""
    found: list[str] = []

    def walk(node: hou.Node, depth: int) -> None:
        for child in node.children():
            if rops.is_rop(child):
                found.append(child.path())
            elif depth < PICKER_DEPTH:
                walk(child, depth + 1)

    root = hou.node("/")
    if root is not None:
        walk(root, 1)
    return found


def selected_rop() -> Optional[str]:
    """The most recently selected node that is a ROP (Houdini lists it last)."""
    for node in reversed(hou.selectedNodes()):
        if rops.is_rop(node):
            return node.path()
    return None


def pick_rop() -> Optional[str]:
    """The selected ROP, or one the user picks from the scene's ROPs (None: cancelled or none)."""
    chosen = selected_rop()
    if chosen:
        return chosen
    choices = scene_rops()
    if not choices:
        tell("This scene has no ROP to render. Create one in /out (e.g. a Mantra or Karma ROP).",
             Severity.WARNING)
        return None
    picked = hou.ui.selectFromList(choices, exclusive=True, title="Render on Farm",
                                   message="Which ROP should the farm render?")
    return choices[picked[0]] if picked else None


# --- planning and the preflight dialog ------------------------------------------------------------

def make_plan(rop_path: str | Sequence[str], options: SubmitOptions) -> SubmitPlan:
    return submit.plan(rop_path, options, farm.nodes_provider(), farm.pathmap_loader())


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
        submit.write_local_files(plan)
        return sending.send(plan.specs, farm.sink_factory())
    approved = _preflight_dialog(plan, rop_path, options)
    if approved is None:
        return None
    submit.write_local_files(approved)  # here, on the main thread: it uses hou
    return _send_in_background(approved)


def _preflight_dialog(plan: SubmitPlan, rop_path: str | Sequence[str], options: SubmitOptions,
                      offer_save: bool = True) -> Optional[SubmitPlan]:
    findings = list(plan.findings)
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
        choice = hou.ui.displayMessage(_summary(plan), buttons=("Submit", "Cancel"),
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


# --- sending --------------------------------------------------------------------------------------

def _send_in_background(plan: SubmitPlan) -> Sent:
    sent = Sent(job_ids=[], pending=list(plan.specs))

    def work() -> Sent:
        return sending.send(plan.specs, farm.sink_factory(), sent=sent)

    def done(result: Optional[Sent], error: Optional[BaseException]) -> None:
        if isinstance(error, DispatcherNotStarted):
            tell(f"Farmhand: {error.message}", Severity.ERROR)
            sent.error = error.message
            return
        if error is not None or result is None:
            message = (error.message if isinstance(error, FarmhandError)
                       else f"{type(error).__name__}: {error}")
            tell(f"Farmhand could not submit: {message}", Severity.ERROR)
            sent.error = message
            return
        ids = result.job_ids
        if len(ids) == 1:
            status(f"Farmhand: job {ids[0]} submitted")
        else:
            status(f"Farmhand: jobs {', '.join(ids)} submitted (each starts when the one before is done)")

    sent.thread = run_in_background(work, done, name="farmhand-submit")
    return sent


# --- telling the user -----------------------------------------------------------------------------

def tell(text: str, severity: Severity) -> None:
    """A dialog in a graphical session; the log in hython."""
    if not hou.isUIAvailable():
        log.warning(text)
        return
    level = {Severity.ERROR: hou.severityType.Error, Severity.WARNING: hou.severityType.Warning}.get(
        severity, hou.severityType.Message)
    hou.ui.displayMessage(text, severity=level, title="Farmhand")


def status(text: str) -> None:
    log.info(text)
    if hou.isUIAvailable():
        hou.ui.setStatusMessage(text)


def guarded(fn: Callable[[], Optional[Sent]]) -> Optional[Sent]:
    """Entry points never show a traceback: a Farmhand or Houdini error becomes one message."""
    try:
        return fn()
    except FarmhandError as exc:
        tell(exc.message, Severity.ERROR)
        return None
    except hou.Error as exc:
        tell(f"Farmhand: Houdini refused: {str(exc).strip() or type(exc).__name__}", Severity.ERROR)
        return None
