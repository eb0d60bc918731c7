"""The module a test or the fake hython imports as ``hou``: the typed fake in ``fake_hou`` (tests only)."""

from fake_hou import *  # noqa: F403
from fake_hou import __all__ as _fake_names
from fake_hou import reset as _reset
from fake_hou._session import hython_mode as _hython_mode

if _hython_mode():
    # hython has no UI: hou.ui and hou.qt do not exist there.
    del ui, qt  # noqa: F821
    _fake_names = [n for n in _fake_names if n not in ("ui", "qt")]

# The hou names of the release this process stands in for (FAKE_HOUDINI_VERSION; 19.5 has no OpNode).
_reset()
