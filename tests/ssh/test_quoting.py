"""Quoting for POSIX sh (checked by a real local sh) and PowerShell (checked against its quoting rules)."""

from __future__ import annotations

import subprocess

import pytest

from farmhand.ssh.quoting import posix_join, powershell_encoded, powershell_join, powershell_quote

HOSTILE = ["it's", 'say "hi"', "$(id)", "a;b", "line\nbreak", "`id`", "ünï ✓", "*", "", "-n", "$HOME", "\\"]


def test_posix_join_round_trips_through_real_sh() -> None:
    line = posix_join(["printf", "%s\\0", *HOSTILE])
    out = subprocess.run(["sh", "-c", line], capture_output=True, text=True, check=True).stdout
    assert out.split("\0")[:-1] == HOSTILE


def test_posix_join_rejects_nul_and_empty() -> None:
    with pytest.raises(ValueError, match="NUL byte"):
        posix_join(["echo", "a\0b"])
    with pytest.raises(ValueError, match="empty command"):
        posix_join([])


def _ps_unquote(token: str) -> str:
    """Parse one PowerShell verbatim string: '...' where a doubled quote (any of the 5) is one quote."""
    quotes = "'\u2018\u2019\u201a\u201b"
    assert token[0] == "'" and token[-1] == "'"
    body, out, i = token[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch in quotes:
            assert i + 1 < len(body) and body[i + 1] == ch, f"lone quote in {token!r}"
            i += 1
        out.append(ch)
        i += 1
    return "".join(out)


@pytest.mark.parametrize("arg", [*HOSTILE, "C:\\Program Files\\Side Effects Software\\Houdini 20.5.332",
                                  "it\u2019s", "\u2018x\u2019", "$env:PATH", "@(1,2)", "a`nb"])
def test_powershell_quote(arg: str) -> None:
    quoted = powershell_quote(arg)
    assert quoted.startswith("'") and quoted.endswith("'")
    assert _ps_unquote(quoted) == arg


def test_powershell_join_and_encoding() -> None:
    line = powershell_join(["C:\\Program Files\\x.exe", "it's"])
    assert line == "& 'C:\\Program Files\\x.exe' 'it''s'"
    import base64

    assert base64.b64decode(powershell_encoded("Get-Date")).decode("utf-16-le") == "Get-Date"
