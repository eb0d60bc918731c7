"""How Farmhand shows things to people, in one place for the CLI, the panel and the Houdini glue.

Qt-free and ``hou``-free. Three concerns live here:

* :class:`Severity`, the weight of a finding (preflight, the Submit tab, Houdini's dialogs);
* :func:`format_duration`, the one way a duration is written (``45s``, ``4m05s``, ``2h03m``);
* :func:`safe_text`, which neutralises text Farmhand did not write before it reaches a terminal or a
  widget: job and node names, renderer output, SSH banners, error messages from nodes. A terminal obeys
  escape sequences (``ESC ]52`` writes the clipboard, ``ESC [2J`` clears the screen), and bidirectional
  overrides make a name read differently from what it is, so every such character is shown as an
  escape (``\\x1b``, ``\\u202e``) instead.
"""

from __future__ import annotations

import enum
import math
import re
from typing import Optional


class Severity(str, enum.Enum):
    """How bad a preflight finding is."""

    INFO = "info"
    WARNING = "warning"  # the job can run, the user should know
    ERROR = "error"  # the job would fail or render the wrong thing: submit is refused until fixed


#: What :func:`format_duration` writes for an unknown (None, negative, NaN, infinite) duration.
UNKNOWN_DURATION = "—"


def format_duration(seconds: Optional[float]) -> str:
    """``"45s"``, ``"4m05s"``, ``"2h03m"``; :data:`UNKNOWN_DURATION` when there is no sensible value."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return UNKNOWN_DURATION
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


# Characters that change how a terminal or a text layout behaves rather than being shown:
# C0 controls and DEL, C1 controls (0x80-0x9f: 0x9b is a one-byte CSI, 0x9d a one-byte OSC), zero-width
# and direction marks, line/paragraph separators, bidi embeddings/overrides/isolates, invisible
# operators, the BOM, interlinear annotation marks, and lone surrogates (undecodable bytes kept by
# ``surrogateescape``, which would make ``print`` itself raise).
_RISKY = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b\u200e\u200f\u2028-\u202e\u2060-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff"
)
_ONE_LINE = re.compile(f"[\t\n{_RISKY}]")
_MULTI_LINE = re.compile(f"[{_RISKY}]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: object, *, multiline: bool = False, limit: Optional[int] = None) -> str:
    """``text`` with every control, bidi and invisible formatting character written as an escape.

    Args:
        text: anything Farmhand did not write itself (``None`` gives ``""``; other values use ``str``).
        multiline: keep newlines and tabs (a block of log lines); by default they are escaped too, so a
            name or a message stays on the one line the caller gives it.
        limit: cut to this many characters of the original, marked with ``…`` (a banner in a table).
    """
    if text is None:
        return ""
    value = text if isinstance(text, str) else str(text)
    cut = limit is not None and len(value) > limit
    if cut:
        value = value[:limit]
    pattern = _MULTI_LINE if multiline else _ONE_LINE
    if pattern.search(value) is not None:  # the common case costs one scan
        value = pattern.sub(_escape, value)
    return value + "…" if cut else value


__all__ = ["UNKNOWN_DURATION", "Severity", "format_duration", "safe_text"]
