"""The panel's records under their first name, for the Houdini glue (:mod:`farmhand.houdini.panel`).

They live in :mod:`farmhand.ui.view.records`; import them from there. This module only re-exports them
so code written against the old path keeps working while it moves.
"""

from __future__ import annotations

from farmhand.ui.view.records import (
    ChunkPolicy,
    FarmSnapshot,
    FrameStatus,
    FrameView,
    JobDetail,
    JobNodeView,
    JobStatus,
    JobView,
    NodeStatus,
    NodeView,
    PreflightFinding,
    Severity,
    SubmitContext,
    SubmitRequest,
)

__all__ = [
    "ChunkPolicy",
    "FarmSnapshot",
    "FrameStatus",
    "FrameView",
    "JobDetail",
    "JobNodeView",
    "JobStatus",
    "JobView",
    "NodeStatus",
    "NodeView",
    "PreflightFinding",
    "Severity",
    "SubmitContext",
    "SubmitRequest",
]
