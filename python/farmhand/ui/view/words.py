"""The farm in an artist's words: failures instead of exit codes, node activities, what a job waits for.

Every table here is keyed by the shared enums (:class:`farmhand.presets.failures.FailureKind`,
:class:`farmhand.jobs.NodeActivity`), so a new state is a missing key a test notices, not a silent
fallback to a misspelt string.
"""

from __future__ import annotations

from typing import Optional

from farmhand.jobs import JobState, JobSummary, NodeActivity, NodeRow
from farmhand.presets.failures import FailureKind

FAILURE_WORDS: dict[FailureKind, str] = {
    FailureKind.LICENCE: "no render licence free",
    FailureKind.MISSING_FILE: "missing file",
    FailureKind.SCENE_LOAD: "the scene could not be loaded",
    FailureKind.BAD_COMMAND: "the render command is wrong",
    FailureKind.CRASH: "the renderer crashed",
    FailureKind.OOM: "out of memory",
    FailureKind.UNREACHABLE: "the node could not be reached",
    FailureKind.STALLED: "stalled (no output for too long)",
    FailureKind.DISK_FULL: "disk full",
    FailureKind.OUTPUT_MISSING: "finished but wrote no output file",
    FailureKind.CANCELLED: "cancelled",
    FailureKind.UNKNOWN: "failed",
}

#: The per-node State column of a job, where the activity's own name would puzzle (others as they are).
ACTIVITY_WORDS: dict[NodeActivity, str] = {
    NodeActivity.BACKOFF: "backing off",  # licence or connection trouble; tries again soon
    NodeActivity.BLOCKED: "blocklisted",  # for this job, after repeated failures
    NodeActivity.BUSY: "busy elsewhere",  # another dispatcher's job holds the node
}

#: Per-node activities in which a node does no work for the job.
HELD = (NodeActivity.BACKOFF, NodeActivity.BLOCKED, NodeActivity.OFFLINE, NodeActivity.BUSY)


def activity_words(state: NodeActivity) -> str:
    return ACTIVITY_WORDS.get(state, state.value)


def _failure_kind(kind: Optional[str]) -> Optional[FailureKind]:
    try:
        return FailureKind(kind) if kind else None
    except ValueError:  # a kind newer than this panel: shown by name
        return None


def failure_words(kind: Optional[str], message: Optional[str]) -> str:
    """``"out of memory: Killed (signal 9)"``; the message alone when the kind is unknown or absent."""
    known = _failure_kind(kind)
    words = FAILURE_WORDS[known] if known is not None else ""
    message = (message or "").strip()
    if words and message and words.lower() not in message.lower():
        return f"{words}: {message}"
    return message or words or (f"failed ({kind})" if kind else "")


def waiting_words(summary: JobSummary, titles: dict[str, str], done: set[str]) -> str:
    """``"job 7 (shot010_sim)"``: the jobs a waiting job still waits for (all of ``after`` if none is
    done yet; ids no longer in the store are named by id)."""
    blocking = [dep for dep in summary.after if dep not in done] or list(summary.after)
    return ", ".join(f"job {dep} ({titles[dep]})" if dep in titles else f"job {dep}" for dep in blocking)


def blocked_words(title: str, message: Optional[str]) -> str:
    """Why a node is blocklisted, for the Nodes tab, where "this job" means nothing: the dispatcher's
    "blocklisted for this job after 2 failures: …" names the job instead."""
    if not message:
        return f"blocklisted for {title}"
    if "for this job" in message:
        return message.replace("for this job", f"for {title}", 1)
    return f"{title}: {message}"


def stall_words(summary: JobSummary, rows: tuple[NodeRow, ...]) -> str:
    """``"no node is rendering it: 3 backing off (licence unavailable; retrying in 80s)"`` when a running
    job has nodes but every one is held; the queue otherwise shows such a job as plainly running."""
    if summary.state is not JobState.RUNNING or not rows or any(r.state not in HELD for r in rows):
        return ""
    counts: dict[str, int] = {}
    for row in rows:
        words = activity_words(row.state)
        counts[words] = counts.get(words, 0) + 1
    why = next((r.message for r in rows if r.message), "")
    held = ", ".join(f"{n} {words}" for words, n in counts.items())
    return f"no node is rendering it: {held}" + (f" ({why})" if why else "")


def count_words(count: int, noun: str) -> str:
    """``"1 node"``, ``"3 nodes"``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
