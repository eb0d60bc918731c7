"""The only package that imports ``hou``. It reads scene values and passes plain values inward."""

from __future__ import annotations
