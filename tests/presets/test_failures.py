"""classify(): exit status + output → failure kind and policy."""

from __future__ import annotations

import pytest

from farmhand.presets import Preset, load_preset
from farmhand.presets.failures import (
    ErrorLine,
    Failure,
    FailureKind,
    classify,
    failure,
    signal_name,
    with_message,
)


def hrender() -> Preset:
    return load_preset("hrender", search_dirs=[])


def demo() -> Preset:
    return load_preset("demo", search_dirs=[])


def kind_of(result: Failure | None) -> str | None:
    return None if result is None else result.kind.value


def test_clean_exit_is_success() -> None:
    assert classify(demo().error_rules, 0, None, [], ["Saved: '/o/1.png'"]) is None
    assert classify(hrender().error_rules, 0, None, [], "17:00:00  m frame 1\nALF_PROGRESS 100%") is None


@pytest.mark.parametrize(
    ("exit_code", "sig", "tail", "kind"),
    [
        (139, None, [], "crash"),
        (None, "SEGV", [], "crash"),
        (None, "SIGABRT", [], "crash"),
        (134, None, ["Aborted (core dumped)"], "crash"),
        (137, None, [], "oom"),
        (None, "KILL", [], "oom"),
        (1, None, ["Killed"], "oom"),
        (1, None, ["MemoryError"], "oom"),
        (134, None, ["terminate called after throwing an instance of 'std::bad_alloc'"], "oom"),
        (1, None, ["OSError: [Errno 28] No space left on device"], "disk_full"),
        (139, None, ["No space left on device"], "disk_full"),
        (3, None, ["No licenses could be found to run this application."], "licence"),
        (1, None, ["Error: Cannot find file /s/a.hip."], "missing_file"),
        (1, None, ["AttributeError: 'NoneType' object has no attribute 'render'"], "scene_load"),
        (1, None, ["Error: Unknown argument(s): -x"], "bad_command"),
        (1, None, ["some text", "the last words", ""], "unknown"),
        (None, None, [], "unreachable"),
    ],
)
def test_kinds(exit_code: int | None, sig: str | None, tail: list[str], kind: str) -> None:
    assert kind_of(classify(hrender().error_rules, exit_code, sig, [], tail)) == kind


def test_unknown_failure_names_the_status_and_last_line() -> None:
    result = classify(hrender().error_rules, 2, None, [], ["a", "the last words", "  "])
    assert result is not None and result.message == "exit status 2: the last words"


def test_crash_message_names_the_signal() -> None:
    result = classify(hrender().error_rules, 139, None, [], [])
    assert result is not None and result.message == "the renderer crashed (exit status 139, SIGSEGV)"
    result = classify(hrender().error_rules, None, 11, [], [])
    assert result is not None and "SIGSEGV" in result.message
    term = classify(hrender().error_rules, 143, None, [], [])
    assert term is not None and term.kind is FailureKind.CRASH and "terminated" in term.message


def test_licence_beats_the_crash_it_caused() -> None:
    lines = [ErrorLine(FailureKind.LICENCE, "No licenses could be found to run this application.")]
    result = classify(hrender().error_rules, 139, None, lines, [])
    assert result is not None and result.kind is FailureKind.LICENCE


def test_exit_zero_with_errors_is_a_failure_for_hrender_only() -> None:
    tail = ["17:00:00  m frame 1", "hou.OperationFailed: The attempted operation failed."]
    result = classify(hrender().error_rules, 0, None, [], tail)
    assert result is not None and result.kind is FailureKind.UNKNOWN
    assert result.message == "exited 0 but reported: hou.OperationFailed: The attempted operation failed."
    # the demo preset has no exit-0 rule: its error-looking output does not turn success into failure
    assert classify(demo().error_rules, 0, None, [], ["hou.OperationFailed: whatever"]) is None


def test_error_lines_from_the_parser_count_even_when_the_tail_lost_them() -> None:
    lines = [ErrorLine(FailureKind.MISSING_FILE, "Error: Cannot find file /a.hip.")]
    result = classify(hrender().error_rules, 1, None, lines, ["*****"])
    assert result is not None and result.kind is FailureKind.MISSING_FILE
    assert result.message == "Error: Cannot find file /a.hip."


def test_cancelled_wins() -> None:
    assert kind_of(classify(hrender().error_rules, 143, None, [], [], cancelled=True)) == "cancelled"


@pytest.mark.parametrize(
    ("kind", "retry_same", "blame", "deterministic"),
    [
        ("licence", True, False, False),
        ("missing_file", False, False, True),
        ("scene_load", False, False, True),
        ("bad_command", False, False, True),
        ("crash", False, True, False),
        ("oom", False, True, False),
        ("unreachable", False, True, False),
        ("stalled", False, True, False),
        ("disk_full", False, True, False),
        ("output_missing", False, False, True),
        ("cancelled", False, False, False),
        ("unknown", False, True, False),
    ],
)
def test_policy(kind: str, retry_same: bool, blame: bool, deterministic: bool) -> None:
    result = failure(kind, "m")
    assert (result.retry_same_node, result.blame_node, result.deterministic) == (
        retry_same,
        blame,
        deterministic,
    )
    assert result.kind is FailureKind(kind) and result.kind == kind


def test_every_kind_has_a_policy() -> None:
    for kind in FailureKind:
        assert failure(kind, "x").kind is kind


def test_helpers() -> None:
    assert signal_name(9) == "KILL" and signal_name("SIGSEGV") == "SEGV" and signal_name("term") == "TERM"
    assert signal_name(None) is None and signal_name(999) is None
    assert with_message(failure("oom", "a"), "render02: a").message == "render02: a"
