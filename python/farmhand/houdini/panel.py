"""The bridge between Houdini and the Farmhand panel (``farmhand.ui``): Houdini values go in as plain
records (:class:`~farmhand.ui.records.SubmitContext`), submit requests come back as plain records.

The panel never imports ``hou``; this module is the only place that knows both sides, so the panel's
API can change behind :func:`create_widget` and :func:`open_floating`.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import hou

from farmhand.display import Severity as FindingSeverity
from farmhand.errors import FarmhandError, JobError
from farmhand.houdini import farm, interactive, renderers, rops, sending, submit
from farmhand.houdini.preflight import Finding, Fix
from farmhand.houdini.submit import SubmitOptions
from farmhand.jobs import ChunkPolicy

log = logging.getLogger(__name__)


def houdini_presets(scene_file: str = "") -> tuple[str, ...]:
    """Presets that render ``scene_file`` (hython-worker first: it is the default); presets taking a USD
    file (husk) only when it is one."""
    try:
        from farmhand.presets import list_presets

        names = [p.name for p in list_presets(errors=[]) if getattr(p, "needs_houdini", False)
                 and (p.name not in renderers.USD_INPUT_PRESETS or renderers.is_usd(scene_file))]
    except FarmhandError as exc:
        log.warning("cannot list presets: %s", exc)
        names = []
    ordered = [n for n in (submit.WORKER_PRESET, submit.HRENDER_PRESET) if n in names]
    return tuple(ordered + sorted(n for n in names if n not in ordered)) or (
        submit.WORKER_PRESET, submit.HRENDER_PRESET)


def _ui_finding(finding: Finding) -> Any:
    from farmhand.ui.records import PreflightFinding, Severity

    severity = {FindingSeverity.ERROR: Severity.ERROR, FindingSeverity.WARNING: Severity.WARNING}.get(
        finding.severity, Severity.INFO)
    if Fix.SAVE in finding.fixes:
        return PreflightFinding(severity, finding.text, "Save", _save)
    if Fix.SAVE_NEW_VERSION in finding.fixes:
        return PreflightFinding(severity, finding.text, "Save as New Version", _save_new_version)
    return PreflightFinding(severity, finding.text)


def _save() -> None:
    submit.save_scene(new_version=False)


def _save_new_version() -> None:
    submit.save_scene(new_version=True)


def submit_context(rop_path: Optional[str]) -> Any:
    """A :class:`SubmitContext` for ``rop_path`` (or for the scene alone when no ROP is selected)."""
    from farmhand.ui.records import SubmitContext

    scene = rops.scene_info()
    presets = houdini_presets(scene.hip_path)
    if not rop_path:
        return SubmitContext(hip_path=scene.hip_path, houdini_version=scene.houdini_version,
                             presets=presets, preset=presets[0])
    try:
        plan = interactive.make_plan(rop_path, SubmitOptions())
    except FarmhandError as exc:
        from farmhand.ui.records import PreflightFinding, Severity

        return SubmitContext(rop_path=rop_path, hip_path=scene.hip_path,
                             houdini_version=scene.houdini_version, presets=presets, preset=presets[0],
                             findings=(PreflightFinding(Severity.ERROR, exc.message),))
    # A Merge or a bypassed ROP renders only its inputs: show the last of them (what renders last).
    target = next((i for i in plan.rops if i.path == plan.rop_path), plan.rops[-1])
    frames = target.frames
    step = (frames.frames[1] - frames.frames[0]) if len(frames) > 1 else 1
    return SubmitContext(
        rop_path=plan.rop_path, frame_start=float(frames.first), frame_end=float(frames.last),
        frame_step=float(step), hip_path=scene.hip_path, houdini_version=scene.houdini_version,
        presets=presets, preset=plan.specs[-1].preset,
        findings=tuple(_ui_finding(f) for f in plan.findings),
        job_name=plan.specs[-1].name or "")


def current_context() -> Any:
    """What the Submit tab shows now: the selected ROP (or the scene alone)."""
    return submit_context(interactive.selected_rop())


def options_from_request(request: Any) -> SubmitOptions:
    """The panel's :class:`SubmitRequest` as :class:`SubmitOptions`."""
    from farmhand.frames import FrameSpec, normalise

    frames = FrameSpec.from_range(normalise(request.frame_start), normalise(request.frame_end),
                                  normalise(request.frame_step))
    policy = getattr(request.chunk_policy, "value", request.chunk_policy)
    chunk = ChunkPolicy.from_setting(str(policy), int(request.chunk_size))
    return SubmitOptions(preset=request.preset or None, frames=str(frames), nodes=tuple(request.nodes),
                         chunk=chunk, priority=int(request.priority),
                         single_node=True if request.single_node else None, name=request.job_name or None,
                         groups=tuple(request.groups), env=tuple(request.env))


def submit_handler(request: Any) -> str:
    """The panel's Submit: plan from the scene (this is the UI thread), refuse on errors, send.

    Returns the first job's id; the ROP's dependency chain is queued with it, each job ``after`` the one
    before (see :func:`sending.send`).
    """
    plan = interactive.make_plan(request.rop_path, options_from_request(request))
    errors = [f for f in plan.findings if f.severity is FindingSeverity.ERROR]
    if errors:
        raise JobError("; ".join(f.text for f in errors))
    submit.write_local_files(plan)
    sent = sending.send(plan.specs, farm.sink_factory())
    return sent.job_ids[0]


def _parent() -> Any:
    return hou.qt.mainWindow() if hou.isUIAvailable() else None


def create_widget() -> Any:
    from farmhand.ui.panel import create_panel

    return create_panel(context_provider=current_context, submit_handler=submit_handler)


#: The interface ``python_panels/farmhand.pypanel`` installs (New Pane Tab Type > Farmhand).
INTERFACE = "farmhand::panel"


def open_pane_tab(scan: bool = False) -> Any:
    """The panel in a native Houdini pane tab (the pypanel's interface): the open one brought to the
    front, or a new floating pane tab. Falls back to a plain floating window when the pypanel is not
    installed (Farmhand's folder is not on HOUDINI_PATH). Returns the panel widget."""
    interface = hou.pypanel.interfaceByName(INTERFACE)
    if interface is None:
        log.warning("the %s Python Panel is not installed; opening the panel as a window", INTERFACE)
        return open_floating(scan)
    tab = next((t for t in hou.ui.paneTabs() if _shows(t, interface)), None)
    if tab is None:
        tab = hou.ui.curDesktop().createFloatingPaneTab(hou.paneTabType.PythonPanel, size=(1100, 700))
        if isinstance(tab, hou.PythonPanel):
            tab.setActiveInterface(interface)
    tab.setIsCurrentTab()
    panel: Any = tab.activeInterfaceRootWidget() if isinstance(tab, hou.PythonPanel) else None
    if scan and panel is not None:
        panel.tabs.setCurrentWidget(panel.nodes_tab)
        panel.nodes_tab.start_scan()
    return panel


def _shows(tab: hou.PaneTab, interface: hou.PythonPanelInterface) -> bool:
    return isinstance(tab, hou.PythonPanel) and tab.activeInterface() == interface


def open_floating(scan: bool = False) -> Any:
    from farmhand.ui.panel import show_floating

    panel = show_floating(_parent(), context_provider=current_context, submit_handler=submit_handler)
    if scan:
        panel.tabs.setCurrentWidget(panel.nodes_tab)
        panel.nodes_tab.start_scan()
    return panel
