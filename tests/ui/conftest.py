"""Qt tests run offscreen under whichever binding ``FARMHAND_QT_API`` names (PySide6 by default)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# pytest-qt must drive the same binding the panel imports.
_api = os.environ.get("FARMHAND_QT_API", "").strip().lower()
if _api in ("pyside6", "pyside2"):
    os.environ.setdefault("PYTEST_QT_API", _api)
