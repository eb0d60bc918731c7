"""Farmhand: an agentless SSH render farm for SideFX Houdini.

The core package imports neither ``hou`` nor Qt; ``farmhand.ui`` holds the Qt widgets and
``farmhand.houdini`` is the only package that talks to Houdini.
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
