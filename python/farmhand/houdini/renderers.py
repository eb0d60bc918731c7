"""What the nodes need to render a scene's jobs, beyond seeing its files: the licence its file format
asks for, the renderer plug-ins its ROPs use, a display for OpenGL, a USD file for husk. No ``hou``
here: :func:`check` takes plain values and returns preflight findings.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from farmhand.display import Severity
from farmhand.houdini.preflight import Finding

#: Presets whose input is a USD file, not a .hip (husk renders USD stages only).
USD_INPUT_PRESETS = frozenset({"husk"})
USD_EXTENSIONS = (".usd", ".usda", ".usdc", ".usdz")

#: Third-party renderer ROPs (type name without namespace/version) and the plug-in each needs on a node.
PLUGIN_ROPS: dict[str, str] = {
    "Redshift_ROP": "Redshift for Houdini",
    "arnold": "Arnold (HtoA)",
    "vray_renderer": "V-Ray for Houdini",
    "ris": "RenderMan for Houdini",
    "Octane_ROP": "Octane for Houdini",
}


@dataclass(frozen=True)
class JobFacts:
    """One job as the renderer checks see it."""

    rop_path: str
    rop_type: str  # type name without namespace/version, e.g. "ifd", "opengl"
    preset: str
    file: str  # what the nodes open


def is_usd(path: str) -> bool:
    return path.lower().endswith(USD_EXTENSIONS)


def check(hip_path: str, jobs: Sequence[JobFacts]) -> list[Finding]:
    """Licence, plug-in, display and input-format findings for ``jobs`` of the scene ``hip_path``."""
    findings = _licence(hip_path)
    for job in jobs:
        findings += _job(job)
    return findings


def _licence(hip_path: str) -> list[Finding]:
    extension = os.path.splitext(hip_path)[1].lower()
    if extension == ".hipnc":
        return [Finding("apprentice_scene", Severity.ERROR,
                        "This is a Houdini Apprentice scene (.hipnc): Apprentice files cannot be rendered on "
                        "a farm (hython and hbatch refuse Apprentice licences)",
                        "open it in a commercial Houdini and save it as .hip to render it on the nodes")]
    if extension == ".hiplc":
        return [Finding("indie_scene", Severity.WARNING,
                        "This is a Houdini Indie scene (.hiplc): every node needs an Indie licence (Houdini "
                        "Engine Indie) to load it",
                        "make sure the nodes' licence server offers Indie licences, or save it as .hip in "
                        "a commercial Houdini")]
    return []


def _job(job: JobFacts) -> list[Finding]:
    findings: list[Finding] = []
    if job.preset in USD_INPUT_PRESETS and not is_usd(job.file):
        findings.append(Finding(
            "husk_needs_usd", Severity.ERROR,
            f"{job.rop_path}: the {job.preset} preset renders USD files, not {os.path.basename(job.file)}",
            "use the hython-worker preset (a Karma or USD Render ROP runs husk itself), or send the ROP's "
            "USD to the farm with the USD option"))
    if job.rop_type == "opengl":
        findings.append(Finding(
            "opengl_headless", Severity.WARNING,
            f"{job.rop_path} is an OpenGL ROP: it needs a GPU and a graphical display on each node",
            "render it on nodes with a GPU and a display (headless nodes fail), or use Karma or Mantra"))
    plugin = PLUGIN_ROPS.get(job.rop_type)
    if plugin:
        findings.append(Finding(
            "renderer_plugin", Severity.WARNING,
            f"{job.rop_path} renders with {plugin}: every node needs that plug-in for this Houdini build "
            "(and its licence); Farmhand cannot check the nodes for it",
            f"install {plugin} on the nodes and make Houdini load it there (a package in the nodes' "
            "Houdini preferences or on HOUDINI_PACKAGE_DIR)"))
    return findings
