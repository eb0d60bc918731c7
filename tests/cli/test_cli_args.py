"""Every value typed on the command line is range-checked before anything runs: one line, exit 2."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from farmhand.cli import args as types
from farmhand.cli import main
from farmhand.jobs import ChunkMode

BAD = [
    # the 22-digit priority that used to kill the dispatcher (SQLite integer overflow)
    (["priority", "1", "1234567890123456789012"], "out of range; use 0 to 100"),
    (["priority", "1", "101"], "out of range"),
    (["priority", "1", "-1"], "out of range"),
    (["priority", "1", "1.5"], "not a whole number"),
    (["priority", "99999999999999999999999", "50"], "not a job number"),
    (["status", "0"], "not a job number"),
    (["status", "abc"], "not a whole number"),
    (["status", "#"], "not a whole number"),
    (["status", "١٢"], "not a whole number"),  # Arabic-Indic digits: str.isdigit() says yes, int() agrees
    (["cancel", "9223372036854775808"], "not a job number"),  # one past SQLite's largest integer
    (["requeue", "1", "nan"], "not a frame number"),
    (["requeue", "1", "inf"], "not a frame number"),
    (["logs", "1", "--frame=-infinity"], "not a frame number"),
    (["requeue", "1", "1e400"], "not a frame number"),
    (["requeue", "1", "1e10"], "not a frame number"),
    (["requeue", "1", "twelve"], "not a number"),
    (["logs", "1", "--frame", "NaN"], "not a frame number"),
    (["submit", "--preset", "demo", "--frames", "1-10", "--priority", "1e3"], "not a whole number"),
    (["submit", "--preset", "demo", "--frames", "1-10", "--chunk", "0"], "chunk size 0 is not valid"),
    (["submit", "--preset", "demo", "--frames", "1-10", "--chunk", "9" * 40], "is not valid"),
    (["submit", "--preset", "demo", "--frames", "1-10", "--after", "x"], "not a whole number"),
    (["submit", "--preset", "demo", "--frames", "1-10", "--param", "=1"], "write it as KEY=VALUE"),
    (["submit", "--preset", "demo", "--frames", "1-2000000000x1000000000"], "goes beyond frame"),
    (["submit", "--preset", "demo", "--frames", "10-1"], "backwards"),
    (["demo", "--nodes", "0"], "use 1 to 16"),
    (["demo", "--nodes", "17"], "use 1 to 16"),
    (["demo", "--frames", "1-"], "cannot read"),
    (["monitor", "--after", "nan"], "out of range"),
    (["monitor", "--after", "-1"], "out of range"),
    (["monitor", "--after", "1e9"], "out of range"),
    (["monitor", "--job", "0"], "not a job number"),
]


@pytest.mark.parametrize(("argv", "words"), BAD, ids=[" ".join(a)[:50] for a, _ in BAD])
def test_bad_values_are_one_line_and_exit_2(argv: list[str], words: str, farmhand_home: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("farmhand: error: ") and words in lines[0]
    assert captured.out == ""
    # nothing reached the store: bad input is refused before any client opens it
    assert not (farmhand_home / "jobs.db").exists()


def test_a_pasted_megabyte_is_quoted_short(farmhand_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["priority", "1", "7" * 1_000_000]) == 2
    line = capsys.readouterr().err
    assert len(line) < 300 and "..." in line


def test_hostile_values_in_errors_are_escaped(farmhand_home: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "\x1b]52;c;aGk=\x07"]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\\x1b]52" in err


@pytest.mark.parametrize(("text", "value"), [("7", "7"), ("#7", "7"), (" 12 ", "12"), ("+3", "3"),
                                             (str(types.MAX_JOB_ID), str(types.MAX_JOB_ID))])
def test_job_ids(text: str, value: str) -> None:
    assert types.job_id(text) == value


@pytest.mark.parametrize(("text", "value"), [("12", 12), ("-3", -3), ("12.5", 12.5), ("1001.0", 1001),
                                             ("1e3", 1000)])
def test_frames(text: str, value: float) -> None:
    got = types.frame(text)
    assert got == value and type(got) is type(value)


def test_priorities_at_the_edges() -> None:
    assert types.priority("0") == types.MIN_PRIORITY and types.priority("100") == types.MAX_PRIORITY


def test_chunk_policies() -> None:
    assert types.chunk("auto").mode is ChunkMode.ADAPTIVE
    assert types.chunk("8").frames == 8
    with pytest.raises(argparse.ArgumentTypeError):
        types.chunk("-2")


def test_names_split_on_spaces_and_commas_once_each() -> None:
    assert types.names(["a", "b,c", "a"]) == ("a", "b", "c")


#: Commands whose modules another change is rewriting (scan, nodes); their positionals get help there.
ELSEWHERE = ("farmhand scan", "farmhand nodes")


def test_every_positional_argument_has_help() -> None:
    from farmhand.cli import build_parser

    def walk(parser: argparse.ArgumentParser, path: str) -> list[str]:
        missing = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    missing += walk(child, f"{path} {name}")
            elif not action.option_strings and not action.help:
                missing.append(f"{path} {action.dest}")
        return missing

    missing = walk(build_parser(), "farmhand")
    assert [m for m in missing if not m.startswith(ELSEWHERE)] == []


@pytest.mark.parametrize("command", ["submit", "jobs", "status", "logs", "cancel", "priority", "requeue",
                                     "demo", "monitor", "dispatcher"])
def test_help_of_main_commands_shows_an_example(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and f"  farmhand {command}" in out.split("examples:")[1]


def test_root_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "farmhand submit --preset hrender" in capsys.readouterr().out
