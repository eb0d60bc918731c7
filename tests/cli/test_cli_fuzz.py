"""Random command lines never give a traceback: exit 0, 1 or 2, and every error is one ``farmhand:`` line.

Two layers. The first parses any argv for every command with the commands themselves replaced by a
recorder (scan, nodes, demo and monitor would otherwise touch the network, start sshd or open windows):
it fuzzes argparse, the value types and ``main``'s error handling. The second runs the job commands for
real against a store in a temporary ``FARMHAND_HOME`` (no dispatcher is started, and nothing here has an
address to contact), so values that pass the types also pass the client and the store.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import farmhand.cli
from farmhand.cli import jobs as jobs_cli
from farmhand.cli import live
from farmhand.cli import logs as logs_cli
from farmhand.client import Client

COMMANDS = [
    [], ["submit"], ["jobs"], ["status"], ["cancel"], ["pause"], ["resume"], ["retry"], ["priority"],
    ["requeue"], ["logs"], ["demo"], ["monitor"], ["dispatcher"], ["scan"], ["nodes"], ["nodes", "list"],
    ["nodes", "add"], ["nodes", "rm"], ["nodes", "trust"], ["nodes", "probe"], ["nodes", "wake"],
]
OPTIONS = ["--json", "-f", "--follow", "--frames", "--frame", "--priority", "--chunk", "--after", "--node",
           "--nodes", "--param", "--events", "--preset", "--name", "--output", "-v", "--timeout", "--port",
           "--tab", "--job", "--mode", "--renderer", "--help", "-h", "--version", "--"]
VALUES = ["1", "#1", "0", "-1", "7", "50", "100", "101", "1234567890123456789012", "9223372036854775807",
          "9223372036854775808", "nan", "-inf", "inf", "1e400", "1.5", "-10--1", "1-10", "1-10x2", "1,5,9",
          "auto", "demo", "x=y", "=", "", " ", "\x1b[2J", "\x1b]52;c;aGk=\x07", "<b>bold</b>", "\u202egnp",
          "\udcff", "١٢", "99999999999999999999999999999999999999999999999"]
# Real argv never holds NUL (it is a C string); anything else may arrive, undecodable bytes included.
TEXT = st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=24)
TOKENS = st.one_of(st.sampled_from(OPTIONS), st.sampled_from(VALUES), TEXT)
IDS = st.sampled_from(["1", "#1", "2", "9223372036854775807"])
FRAMES = st.one_of(st.sampled_from(["1", "2", "3", "4", "1.5", "-1", "1000000000"]),
                   st.floats(allow_nan=True, allow_infinity=True).map(repr))
GOOD = st.one_of(st.sampled_from(["--json", "-f", "--events"]), st.tuples(st.just("--frame"), FRAMES),
                 st.tuples(st.just("--node"), TEXT))
#: Job commands with plausible leading arguments, so most examples get past the parser.
JOB_ARGV = st.one_of(
    st.tuples(st.sampled_from(["jobs", "status", "cancel", "pause", "resume", "retry", "logs"]), IDS),
    st.tuples(st.just("priority"), IDS, st.one_of(st.integers(-5, 105).map(str), st.sampled_from(VALUES))),
    st.tuples(st.just("requeue"), IDS, FRAMES),
    st.tuples(st.just("submit"), st.just("--frames"), st.one_of(st.sampled_from(VALUES), TEXT)),
).map(list)


def _check(code: int, err: str) -> None:
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err
    for line in err.splitlines():
        assert line.startswith("farmhand"), err
        assert "\x1b" not in line


def _recorder(args: argparse.Namespace) -> int:
    del args
    return 0


def _stubbed(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``parser`` with every command's function replaced by :func:`_recorder`."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                if "func" in child._defaults:
                    child.set_defaults(func=_recorder)
                _stubbed(child)
    return parser


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(COMMANDS), rest=st.lists(TOKENS, max_size=8))
def test_any_argv_parses_or_fails_in_one_line(command: list[str], rest: list[str], farmhand_home: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    build = farmhand.cli.build_parser
    monkeypatch.setattr(farmhand.cli, "build_parser", lambda: _stubbed(build()))
    code = farmhand.cli.main(command + rest)
    _check(code, capsys.readouterr().err)


def _once(client: Client, job_id: str, *args: Any, **kwargs: Any) -> Any:
    del args, kwargs
    return client.job(job_id)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=JOB_ARGV, options=st.lists(GOOD, max_size=4))
def test_job_commands_run_for_real_without_a_traceback(command: list[str], options: list[Any],
                                                       farmhand_home: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    # No dispatcher: commands are queued in the store and answered by nobody; following reads once.
    monkeypatch.setattr(jobs_cli, "Client", functools.partial(Client, autostart=False))
    monkeypatch.setattr(Client, "command_result", lambda self, command_id, timeout=0.0: None)
    monkeypatch.setattr(live, "_follow_loop", lambda client, job_id, quiet, keep_alive: client.job(job_id))
    monkeypatch.setattr(jobs_cli, "_follow", live.follow)
    monkeypatch.setattr(logs_cli, "FOLLOW_SECONDS", 0.0)
    monkeypatch.setattr(logs_cli.Client, "job", _finished(logs_cli.Client.job))
    output = ["--output", str(farmhand_home / "out.$F4.png")]
    if not (farmhand_home / "jobs.db").exists():
        seed = ["submit", "--preset", "demo", "--frames", "1-3", "--name", "fuzz", *output]
        assert farmhand.cli.main(seed) == 0, capsys.readouterr().err
    if command[0] == "submit":
        command = [*command[:1], "--preset", "demo", *output, *command[1:]]
    if command[0] == "jobs":
        command = command[:1]
    rest = [item for option in options for item in ((option,) if isinstance(option, str) else option)]
    code = farmhand.cli.main(command + rest)
    _check(code, capsys.readouterr().err)


def _finished(job: Any) -> Any:
    """``Client.job`` reporting every job as finished, so ``logs -f`` ends after one read."""
    import dataclasses

    from farmhand.jobs import JobState

    def read(self: Client, job_id: str, **kwargs: Any) -> Any:
        snap = job(self, job_id, **kwargs)
        return dataclasses.replace(snap, summary=dataclasses.replace(snap.summary, state=JobState.DONE))

    return read
