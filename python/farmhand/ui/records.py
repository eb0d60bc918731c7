"""The panel's records under their first name, for the Houdini glue (:mod:`farmhand.houdini.panel`).

They live in :mod:`farmhand.ui.view.records`; import them from there. This module only re-exports what
the glue imports, so it keeps working while it moves. ``ChunkPolicy`` here was the Submit tab's Chunks
menu, which is :class:`farmhand.jobs.ChunkMode` now (same values); the policy itself is
:class:`farmhand.jobs.ChunkPolicy`, which :attr:`SubmitRequest.chunk` gives.
"""

from __future__ import annotations

from farmhand.jobs import ChunkMode as ChunkPolicy
from farmhand.ui.view.records import PreflightFinding, Severity, SubmitContext, SubmitRequest

__all__ = ["ChunkPolicy", "PreflightFinding", "Severity", "SubmitContext", "SubmitRequest"]
