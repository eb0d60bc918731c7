"""Failures in words: what the Jobs tab says instead of an exit code."""

from __future__ import annotations

from typing import Optional

#: ``farmhand.presets.failures.FailureKind`` values → what an artist should read.
FAILURE_WORDS: dict[str, str] = {
    "licence": "no render licence free",
    "missing_file": "missing file",
    "scene_load": "the scene could not be loaded",
    "bad_command": "the render command is wrong",
    "crash": "the renderer crashed",
    "oom": "out of memory",
    "unreachable": "the node could not be reached",
    "stalled": "stalled (no output for too long)",
    "disk_full": "disk full",
    "output_missing": "finished but wrote no output file",
    "cancelled": "cancelled",
    "unknown": "failed",
}


#: ``farmhand.jobs.NodeActivity`` values → the per-node State column of a job (others shown as they are).
ACTIVITY_WORDS: dict[str, str] = {
    "backoff": "backing off",  # licence or connection trouble; tries again soon
    "blocked": "blocklisted",  # for this job, after repeated failures
    "busy": "busy elsewhere",  # another dispatcher's job holds the node
}


def activity_words(state: str) -> str:
    return ACTIVITY_WORDS.get(state, state)


def failure_words(kind: Optional[str], message: Optional[str]) -> str:
    """``"out of memory: Killed (signal 9)"``; the message alone when the kind is unknown or absent."""
    words = FAILURE_WORDS.get(kind or "", "")
    message = (message or "").strip()
    if words and message and words.lower() not in message.lower():
        return f"{words}: {message}"
    return message or words or (f"failed ({kind})" if kind else "")
