"""Quoting text for where it goes: argv for remote shells, remote text for a terminal or a message.

The remote sshd runs the command string through the login user's shell, so every element must be quoted
for that shell (POSIX ``sh`` on Linux and macOS, PowerShell on Windows OpenSSH); nothing a user typed
(scene names, ROP paths, frame ranges) is ever interpolated bare.

Text that came from elsewhere (an SSH banner, a node's hostname, a known_hosts line, a target the user
typed) goes through :func:`printable` before it is shown: escape sequences could otherwise retitle, clear
or write to the clipboard of the artist's terminal, and a newline would split a one-line error.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from farmhand.display import safe_text

# PowerShell treats the typographic single quotes as quote characters too; doubling each of them is the
# language's documented escape inside a single-quoted (verbatim) string.
_PS_SINGLE_QUOTES = ("'", "\u2018", "\u2019", "\u201a", "\u201b")


def posix_join(argv: Sequence[str]) -> str:
    """One POSIX-sh command line whose words are exactly ``argv``."""
    if not argv:
        raise ValueError("empty command")
    for arg in argv:
        if "\0" in arg:
            raise ValueError("a command argument contains a NUL byte")
    return " ".join(shlex.quote(a) for a in argv)


def powershell_quote(arg: str) -> str:
    """``arg`` as a PowerShell verbatim string: no ``$``, backtick or subexpression expansion."""
    if "\0" in arg:
        raise ValueError("a command argument contains a NUL byte")
    out = arg
    for q in _PS_SINGLE_QUOTES:
        out = out.replace(q, q + q)
    return f"'{out}'"


def powershell_join(argv: Sequence[str]) -> str:
    """A PowerShell statement running ``argv[0]`` with the remaining elements as arguments.

    The call operator ``&`` makes a quoted program path executable; every element is a verbatim string.
    """
    if not argv:
        raise ValueError("empty command")
    return "& " + " ".join(powershell_quote(a) for a in argv)


def powershell_encoded(script: str) -> str:
    """``powershell -EncodedCommand`` text for ``script`` (UTF-16LE base64): survives cmd.exe untouched."""
    import base64

    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def printable(text: str, limit: int = 200) -> str:
    """``text`` safe for a terminal and for a one-line message (:func:`farmhand.display.safe_text`, cut
    to ``limit`` characters): remote text quoted in an error stays one harmless line."""
    return safe_text(text, limit=limit)
