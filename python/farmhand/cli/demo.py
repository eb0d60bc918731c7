"""`farmhand demo` (placeholder until its owner fills it in)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    del sub  # not yet registered


__all__ = ["argparse", "register"]
