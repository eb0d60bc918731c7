"""Preflight: the mistakes to catch before any node starts, as plain records. No ``hou`` here.

:func:`check` takes what :mod:`farmhand.houdini.rops` read from the scene plus the node list and the
path map, and returns :class:`Finding` records: what is wrong, how bad, and what to do. The Houdini
dialog and the panel show them; a finding with a ``fix`` names an action the host can run
(``save``, ``save_new_version``).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Sequence
from dataclasses import dataclass

from farmhand.display import Severity
from farmhand.houdini.pathmap import PathMap


class Fix(str, enum.Enum):
    SAVE = "save"
    SAVE_NEW_VERSION = "save_new_version"


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    message: str  # what is wrong, one line
    action: str  # what to do about it, one line
    fixes: tuple[Fix, ...] = ()

    @property
    def text(self) -> str:
        return f"{self.message} — {self.action}"


@dataclass(frozen=True)
class NodeFacts:
    """What preflight needs to know about one render node (from the node registry)."""

    host: str
    enabled: bool = True
    trusted: bool = True
    houdini: tuple[str, ...] = ()  # builds installed, e.g. ("21.0.512", "20.5.487")
    gpus: int = 0  # GPUs the inventory found


@dataclass(frozen=True)
class SceneFacts:
    hip_path: str
    houdini_version: str
    unsaved: bool
    untitled: bool
    outputs: tuple[str, ...]  # every output file the job will write
    file_refs: tuple[tuple[str, str], ...]  # (parm path, expanded path) the scene reads


def check(scene: SceneFacts, nodes: Sequence[NodeFacts], pmap: PathMap,
          chosen: Sequence[str] = ()) -> list[Finding]:
    """All findings, errors first. ``chosen`` limits the node checks to the hosts the user picked."""
    findings: list[Finding] = []
    findings += _scene_file(scene)
    findings += _visibility(scene, pmap)
    findings += _outputs(scene, pmap)
    findings += _nodes(scene, nodes, chosen)
    return by_severity(findings)


def by_severity(findings: Sequence[Finding]) -> list[Finding]:
    """Errors first, then warnings, then notes (each group in its own order)."""
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    return sorted(findings, key=lambda f: order[f.severity])


def blocking(findings: Sequence[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.ERROR]


def _scene_file(scene: SceneFacts) -> list[Finding]:
    if scene.untitled:
        return [Finding("untitled", Severity.ERROR, "The scene has never been saved",
                        "save it on the shared storage first; the nodes read the .hip from disk")]
    if scene.unsaved:
        return [Finding("unsaved", Severity.ERROR, "The scene has unsaved changes",
                        "save (or save as a new version): nodes render the file on disk, not this session",
                        (Fix.SAVE, Fix.SAVE_NEW_VERSION))]
    return []


def _visibility(scene: SceneFacts, pmap: PathMap) -> list[Finding]:
    findings: list[Finding] = []
    visible = pmap.visible(scene.hip_path)
    if visible is False:
        where = "the shares in pathmap.json" if pmap.shares else "shared storage"
        findings.append(Finding(
            "hip_not_shared", Severity.ERROR,
            f"The scene {scene.hip_path} is not on a path the nodes can see",
            f"save it under {where} ({', '.join(pmap.shares) or 'e.g. your project share'}) "
            "or add a path-mapping rule"))
    elif visible is None and not pmap.configured:
        findings.append(Finding(
            "no_pathmap", Severity.INFO,
            "No shared-storage list is configured, so Farmhand cannot check that nodes see the scene",
            "list your project shares in FARMHAND_HOME/pathmap.json"))
    outside = [(parm, path) for parm, path in scene.file_refs if pmap.visible(path) is False]
    if outside:
        shown = ", ".join(f"{path} ({parm})" for parm, path in outside[:3])
        more = f" and {len(outside) - 3} more" if len(outside) > 3 else ""
        findings.append(Finding(
            "refs_outside", Severity.WARNING,
            f"{len(outside)} file reference(s) are outside the shared storage: {shown}{more}",
            "move those files to the share (or map their paths); nodes will not find them"))
    return findings


def _outputs(scene: SceneFacts, pmap: PathMap) -> list[Finding]:
    findings: list[Finding] = []
    dirs = sorted({os.path.dirname(p) for p in scene.outputs if p})
    for directory in dirs:
        problem = _writable_problem(directory)
        if problem:
            findings.append(Finding("output_not_writable", Severity.ERROR,
                                    f"The output folder {directory} {problem}",
                                    "pick an output path on the share that you can write to"))
    hidden = [d for d in dirs if pmap.visible(d) is False]
    if hidden:
        findings.append(Finding("output_not_shared", Severity.WARNING,
                                f"Outputs go to {hidden[0]}, which is not shared storage",
                                "write the outputs to the share so frames can be checked and collected"))
    if not scene.outputs:
        findings.append(Finding("no_outputs", Severity.INFO, "This ROP has no output file Farmhand knows",
                                "frames are trusted on the renderer's word, without checking files"))
    return findings


def _writable_problem(directory: str) -> str:
    """Why nobody could write into ``directory`` (its nearest existing parent must be writable)."""
    path = directory
    while path and not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    if not path or not os.path.exists(path):
        return "does not exist"
    if not os.path.isdir(path):
        return f"cannot be created: {path} is a file"
    if not os.access(path, os.W_OK | os.X_OK):
        return "is not writable" if path == directory else f"cannot be created: {path} is not writable"
    return ""


def _nodes(scene: SceneFacts, nodes: Sequence[NodeFacts], chosen: Sequence[str]) -> list[Finding]:
    pool = [n for n in nodes if not chosen or n.host in chosen]
    unknown = sorted(set(chosen) - {n.host for n in nodes})
    findings: list[Finding] = []
    if unknown:
        findings.append(Finding("unknown_nodes", Severity.ERROR, f"Unknown node(s): {', '.join(unknown)}",
                                "scan for nodes or fix the node names"))
    enabled = [n for n in pool if n.enabled]
    untrusted = [n.host for n in enabled if not n.trusted]
    usable = [n for n in enabled if n.trusted]
    if untrusted:
        findings.append(Finding("untrusted", Severity.WARNING,
                                f"Host key not trusted yet: {', '.join(untrusted)} (these nodes are skipped)",
                                "check and trust their fingerprints in the Nodes tab (farmhand nodes trust)"))
    if not usable:
        findings.append(Finding("no_nodes", Severity.ERROR, "No enabled, trusted render node is available",
                                "scan for nodes, trust their host keys and enable them"))
        return findings
    version = scene.houdini_version
    exact = [n for n in usable if version in n.houdini]
    if version and not exact:
        minor = ".".join(version.split(".")[:2])
        close = [n for n in usable if any(b.startswith(minor + ".") for b in n.houdini)]
        if close:
            findings.append(Finding(
                "build_mismatch", Severity.WARNING,
                f"No node has Houdini {version}; {len(close)} have another {minor} build",
                "they will render with their build; install the same build for identical results"))
        else:
            builds = sorted({b for n in usable for b in n.houdini}) or ["none found"]
            findings.append(Finding(
                "no_matching_build", Severity.ERROR,
                f"No enabled node has Houdini {minor} (they have: {', '.join(builds)})",
                f"install Houdini {version} on the nodes or submit from a matching Houdini"))
    return findings
