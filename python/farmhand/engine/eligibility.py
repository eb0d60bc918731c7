"""Which nodes may render a job, which Houdini install each would use, and how fast each is for it.

Pure functions over a job's working copy and the farm's nodes: the assigner, the blame (how many nodes
must agree before a job fails fast) and the dispatcher (a job no node can take) all ask here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Optional

from farmhand import labels
from farmhand.engine.estimates import NodeSpeed
from farmhand.engine.jobrun import JobRun
from farmhand.engine.state import FarmNode
from farmhand.nodes.tags import unmatched


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


def pick_hfs(job: JobRun, node: FarmNode) -> Optional[str]:
    """The node's Houdini install for the job: the submitter's exact build, else the same major.minor,
    else (no version given) the newest."""
    if not node.houdini:
        return None
    wanted = job.spec.houdini_version
    builds = sorted(node.houdini, key=lambda vh: _version_key(vh[0]))
    if not wanted:
        return builds[-1][1]
    for version, hfs in builds:
        if version == wanted:
            return hfs
    major_minor = _version_key(wanted)[:2]
    same = [hfs for version, hfs in builds if _version_key(version)[:2] == major_minor]
    return same[-1] if same else None


def groups_of(job: JobRun) -> tuple[str, ...]:
    """The groups a node must be in to render the job: the job's own and its preset's."""
    return tuple(dict.fromkeys((*job.spec.groups, *job.preset.groups)))


def suitable(job: JobRun, node: FarmNode) -> bool:
    """The node is selected for the job, in its groups, not blocklisted for it, and has a Houdini build
    if it needs one."""
    if job.spec.nodes and node.name not in job.spec.nodes:
        return False
    if not labels.groups_match(groups_of(job), node.tags):
        return False
    stat = job.nodes.get(node.name)
    if stat is not None and stat.blocked:
        return False
    return not (job.preset.needs_houdini and pick_hfs(job, node) is None)


def eligible_nodes(job: JobRun, farm: Iterable[FarmNode]) -> list[FarmNode]:
    """The nodes that may render the job (backoffs are temporary and do not count here)."""
    return [n for n in farm if suitable(job, n)]


def why_no_node(job: JobRun, farm: Iterable[FarmNode]) -> str:
    """One line saying why :func:`eligible_nodes` is empty, naming what to fix."""
    selected = [n for n in farm if not job.spec.nodes or n.name in job.spec.nodes]
    if not selected:
        return (f"none of the nodes given by --nodes ({', '.join(job.spec.nodes)}) is a trusted, "
                "enabled node; see 'farmhand nodes list'")
    groups = groups_of(job)
    if not any(labels.groups_match(groups, n.tags) for n in selected):
        return unmatched(groups, [n.tags for n in selected]) or "no selected node is in the job's groups"
    selected = [n for n in selected if labels.groups_match(groups, n.tags)]
    free = [n for n in selected if not (job.nodes.get(n.name) and job.nodes[n.name].blocked)]
    if not free:
        last = next((st.message for st in job.nodes.values() if st.blocked and st.message), None)
        return "every selected node is blocklisted for this job" + (f"; last: {last}" if last else "")
    wanted = job.spec.houdini_version
    build = f"{wanted} (or another {'.'.join(wanted.split('.')[:2])} build)" if wanted else "installed"
    return (f"no selected node has Houdini {build} "
            f"in its inventory ({', '.join(n.name for n in free)}); install it, run 'farmhand nodes "
            "probe', or submit with another --houdini-version")


def job_spf(job: JobRun) -> Optional[float]:
    """The job's mean measured seconds per frame over its nodes, or None before any measurement."""
    measured = [s.spf for s in job.nodes.values() if s.spf]
    return sum(measured) / len(measured) if measured else None


def speeds(job: JobRun, farm: Iterable[FarmNode]) -> list[NodeSpeed]:
    """What the scheduler knows about each eligible node on the job: measured seconds per frame and
    start cost (None until measured) and its speed relative to the farm from earlier jobs."""
    out = []
    for n in eligible_nodes(job, farm):
        stat = job.nodes.get(n.name)
        spf = stat.spf if stat is not None else None
        startup = stat.startup if stat is not None and stat.startup > 0 else None
        out.append(NodeSpeed(n.name, n.cores, spf, startup, job.prior.get(n.name)))
    return out
