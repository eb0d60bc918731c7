"""farmhand.display: one duration format, one severity, and text from elsewhere made harmless to show."""

from __future__ import annotations

import math
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from farmhand.display import UNKNOWN_DURATION, Severity, format_duration, safe_text

HOSTILE = [
    "\x1b]52;c;cm0gLXJmIH4=\x07",  # OSC 52: write the terminal's clipboard
    "\x1b[2J\x1b[H",  # clear the screen, cursor home
    "\x1b]0;owned\x07",  # retitle the window
    "\x9b31m",  # one-byte CSI (C1)
    "\x9d0;title\x9c",  # one-byte OSC ... ST
    "job\u202egnp.exe",  # right-to-left override: reads "jobexe.png"
    "a\u2066b\u2069c",  # bidi isolate
    "del\x7f",
    "nul\x00",
    "cr\rover",
    "bad byte \udcff",  # surrogateescape'd undecodable byte
    "zero\u200bwidth",
]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (45, "45s"), (59.6, "1m00s"), (245, "4m05s"), (3599, "59m59s"), (3720, "1h02m"),
     (7380, "2h03m"), (360000, "100h00m")],
)
def test_durations_have_one_format(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("value", [None, -1.0, math.nan, math.inf, -math.inf])
def test_unknown_durations(value: float | None) -> None:
    assert format_duration(value) == UNKNOWN_DURATION


def test_severity_values_are_the_words_shown() -> None:
    assert [s.value for s in Severity] == ["info", "warning", "error"]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_loses_every_control_character(text: str) -> None:
    shown = safe_text(text)
    assert not any(_risky(ch) for ch in shown), repr(shown)
    shown.encode("utf-8")  # printable on any UTF-8 terminal (no lone surrogate left)


def test_escapes_are_readable() -> None:
    assert safe_text("\x1b[2J") == "\\x1b[2J"
    assert safe_text("a\u202eb") == "a\\u202eb"
    assert safe_text("x\udcffy") == "x\\udcffy"


def test_ordinary_text_is_unchanged() -> None:
    for text in ("shot010_v012.hip /out/mantra1", "render01 (anna)", "Ünïcödé 渲染 ✓", "a\\x1b literal"):
        assert safe_text(text) == text


def test_newlines_and_tabs_kept_only_for_blocks() -> None:
    assert safe_text("a\nb\tc") == "a\\x0ab\\x09c"
    assert safe_text("a\nb\tc\x1b", multiline=True) == "a\nb\tc\\x1b"


def test_limit_cuts_the_original_and_says_so() -> None:
    assert safe_text("abcdef", limit=3) == "abc…"
    assert safe_text("a\x1bcdef", limit=2) == "a\\x1b…"
    assert safe_text("abc", limit=3) == "abc"


def test_none_and_non_strings() -> None:
    assert safe_text(None) == ""
    assert safe_text(12.5) == "12.5"


def _risky(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or unicodedata.bidirectional(ch) in (
        "LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x2FFFF)))
def test_nothing_risky_survives(text: str) -> None:
    shown = safe_text(text)
    assert not any(_risky(ch) for ch in shown)
    assert safe_text(shown) == shown
    multi = safe_text(text, multiline=True)
    assert not any(_risky(ch) for ch in multi if ch not in "\n\t")
