"""Preset patterns are checked for catastrophic backtracking when a preset is loaded."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from farmhand.errors import ConfigError
from farmhand.presets import list_presets, load_preset, preset_from_dict, regexcheck
from farmhand.presets.failures import COMMON_ERROR_PATTERNS
from farmhand.presets.lines import MAX_LINE_CHARS
from farmhand.presets.regexcheck import ADJACENT, ALTERNATIVES, LEADING, NESTED, probe, static_problem


def builtin_patterns() -> list[str]:
    found: set[str] = {p for p, _ in COMMON_ERROR_PATTERNS}
    for preset in list_presets(search_dirs=[]):
        found.update(preset.progress_patterns, preset.frame_start_patterns, preset.frame_done_patterns,
                     preset.output_patterns, preset.exit_zero_is_not_success_when)
        found.update(p for p, _ in preset.error_patterns)
    return sorted(found)


@pytest.mark.parametrize("pattern", builtin_patterns())
def test_every_builtin_pattern_passes_the_static_check(pattern: str) -> None:
    assert static_problem(pattern) is None


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"^(a+)+b", NESTED),
        (r"^(.*)*x", NESTED),
        (r"^(\w+\s?)+$", NESTED),
        (r"^(x+x+)+y", NESTED),
        (r"^(\w+|\d+)*$", NESTED),
        (r"^(a|a?)+$", ALTERNATIVES),
        (r"^(?:a|\w\w)+$", ALTERNATIVES),
        # the built-in husk exit-0 pattern before this check existed: quadratic on a line of spaces
        (r"^\s*\[?[\d:]*\]?\s*Error:", ADJACENT),
        # the built-in hrender output pattern before: cubic on "Generating Image:" and spaces
        (r"Generating Image:\s+(?P<path>.+?)\s+\(\d+x\d+\)\s*$", ADJACENT),
        (r"^a.*.*b", ADJACENT),
        (r"^a.*x.*b", ADJACENT),
        (r"^[ab]*[bc]*$", ADJACENT),
        (r"\d+%", LEADING),
        (r".*Error", LEADING),
        (r"-?\d+ of", LEADING),
        (r"(?:\d+\.)+x", LEADING),
        (r"(?:x|\s+)y", LEADING),
    ],
)
def test_backtracking_shapes_are_refused(pattern: str, reason: str) -> None:
    assert static_problem(pattern) == reason


@pytest.mark.parametrize(
    "pattern",
    [
        r"^(?:\d+\.)+x",  # a separator the inner repeat cannot match keeps each round deterministic
        r"^\s*(?:\[?[\d:]+\]?\s*)?Error:",
        r"Generating Image:\s+(?P<path>\S(?:.*\S)?)\s+\(\d+x\d+\)\s*$",
        r"^Fra:(?P<frame>-?\d+) .*\| Sample (?P<done>\d+)/(?P<total>\d+)",
        r"Progress (\d+)%",
        r"^(\d+)%",
        r"^(ab|cd)+$",
        r"x{0,10}x{0,10}",
        r"\bMemoryError\b|std::bad_alloc",
    ],
)
def test_ordinary_patterns_are_accepted(pattern: str) -> None:
    assert static_problem(pattern) is None


def test_probe_refuses_a_pattern_the_clock_says_is_slow() -> None:
    ticks = itertools.count(step=1.0)  # every search appears to take one second

    assert probe(r"Error.*failed", clock=lambda: next(ticks)) is not None
    assert probe(r"Error.*failed", clock=lambda: 0.0) is None


def test_probe_lines_are_long_and_built_from_the_pattern() -> None:
    lines = regexcheck.probe_lines(r"Generating Image:\s+(\S+)", 4096)
    assert all(len(line) == 4096 for line in lines)
    assert any(line.startswith("Generating Image:") and line.endswith("    ") for line in lines)
    assert max(regexcheck.PROBE_SIZES) <= MAX_LINE_CHARS


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("(unclosed", "is not a valid regular expression"),
        ("a{99999999999}", "is not a valid regular expression"),
        ("(" * 2000 + "a" + ")" * 2000, ""),
        (r"^(a+)+b", "nests a repeat"),
    ],
)
def test_problem_is_one_line_and_never_raises(pattern: str, fragment: str) -> None:
    found = regexcheck.problem(pattern, run_probe=False)
    if fragment:
        assert found is not None and fragment in found
    assert found is None or "\n" not in found


def test_a_user_preset_with_a_backtracking_pattern_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "slow.toml").write_text('argv = ["r"]\n[errors]\nunknown = [\'^(\\w+\\s?)+$\']\n')
    with pytest.raises(ConfigError) as info:
        load_preset("slow", search_dirs=[tmp_path])
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'slow.toml'}: errors.unknown: ")
    assert "nests a repeat" in message and "\n" not in message


def test_static_checks_run_even_without_the_probe() -> None:
    with pytest.raises(ConfigError, match=r"patterns\.frame_done: .* starts with a repeat"):
        preset_from_dict({"argv": ["r"], "patterns": {"frame_done": [r"\d+ done"]}}, "x", "test", probe=False)
