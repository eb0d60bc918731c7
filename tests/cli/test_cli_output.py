"""What the job commands print: remote text neutralised, refusals on stderr, logs followed, JSON, width."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from farmhand.cli import jobs as jobs_cli
from farmhand.cli import live, main
from farmhand.cli import logs as logs_cli
from farmhand.client import Client
from farmhand.jobs import (
    Event,
    FrameRow,
    FrameState,
    JobSnapshot,
    JobSpec,
    JobState,
    JobSummary,
    LogLine,
    NodeActivity,
    NodeRow,
)

CLEAR = "\x1b[2J"
CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4=\x07"
HOSTILE = f"shot{CLEAR}<b>x</b>{CLIPBOARD}\u202egnp.exe\x9b1m"


def _clean(text: str) -> None:
    for bad in ("\x1b", "\x07", "\u202e", "\x9b"):
        assert bad not in text, repr(text)


def _snapshot(state: JobState = JobState.RUNNING) -> JobSnapshot:
    summary = JobSummary(id="3", title=HOSTILE, preset="demo", state=state, priority=50, created=0.0,
                         frames_total=4, frames_done=1, frames_failed=1, frames_rendering=1, eta_seconds=75.0,
                         error=f"node said {CLIPBOARD}")
    return JobSnapshot(
        summary=summary, spec=JobSpec(preset="demo", frames="1-4"),
        nodes=(NodeRow(f"render{CLEAR}01", NodeActivity.RENDERING, 2, 40.0, 1, 2.0, 4.0, 2, 1),
               NodeRow("render02", NodeActivity.BACKOFF, message=f"licence{CLIPBOARD}")),
        frames=(FrameRow(4, FrameState.FAILED, "render02", 4, None, "crash", f"SIGSEGV{CLEAR}"),),
    )


def test_status_text_escapes_every_remote_string() -> None:
    text = live.render_status(_snapshot(), width=200)
    _clean(text)
    assert "\\x1b[2J" in text and "\\u202e" in text and "<b>x</b>" in text
    assert text.splitlines()[0].endswith("1 failed, 1 assigned, ETA 1m15s")


def test_jobs_and_status_print_a_hostile_job_name_escaped(farmhand_home: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = str(farmhand_home / "out.$F4.png")
    Client(autostart=False).submit(JobSpec(preset="demo", frames="1-2", output=out, name=HOSTILE))
    assert main(["jobs"]) == 0
    assert main(["status", "1"]) == 0
    printed = capsys.readouterr()
    _clean(printed.out)
    _clean(printed.err)
    assert printed.out.count("shot\\x1b[2J<b>x</b>") == 2
    # JSON keeps the value as it is (escaped by JSON itself): scripts get the real name
    assert main(["jobs", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["title"] == HOSTILE


class _Answering:
    """Stands in for the client of the job commands: the dispatcher answers ``answer``."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.sent: list[tuple[str, ...]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> _Answering:
        return self

    def resume(self, job_id: str) -> int:
        self.sent.append(("resume", job_id))
        return 1

    def set_priority(self, job_id: str, priority: int) -> int:
        self.sent.append(("priority", job_id, str(priority)))
        return 2

    def command_result(self, command_id: int, timeout: float = 0.0) -> Any:
        return self.answer


def test_a_refused_command_goes_to_stderr_with_exit_1(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(jobs_cli, "Client", _Answering(f"job is cancelled, not paused{CLEAR}"))
    assert main(["resume", "7"]) == 1
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err == "farmhand: job 7: resume refused: job is cancelled, not paused\\x1b[2J\n"
    assert main(["resume", "7", "--json"]) == 1
    answer = json.loads(capsys.readouterr().out)
    assert answer == {"id": "7", "op": "resume", "answer": f"job is cancelled, not paused{CLEAR}",
                      "ok": False, "pending": False}


def test_an_accepted_command_and_one_not_answered_yet(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    client = _Answering("ok")
    monkeypatch.setattr(jobs_cli, "Client", client)
    assert main(["priority", "#7", "80"]) == 0
    assert capsys.readouterr().out == "job 7: priority done\n"
    assert client.sent == [("priority", "7", "80")]
    client.answer = None
    assert main(["priority", "7", "80", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["pending"] is True


class _GrowingLog:
    """A job whose log grows by one line per read on each of two nodes, then ends."""

    def __init__(self, reads: int = 3) -> None:
        self.reads, self.total = 0, reads

    def __call__(self, *args: Any, **kwargs: Any) -> _GrowingLog:
        return self

    def job(self, job_id: str, **kwargs: Any) -> Any:
        self.reads += 1
        state = JobState.DONE if self.reads >= self.total else JobState.RUNNING
        return _snapshot(state)

    def logs(self, job_id: str, node: Any = None, frame: Any = None) -> list[LogLine]:
        lines = [LogLine(float(i), name, i, "out", f"{name} line {i}{CLEAR}")
                 for i in range(self.reads) for name in ("a", "b")]
        return sorted(lines, key=lambda line: line.time)

    def events(self, job_id: str, since: int = 0, limit: int = 200) -> list[Event]:
        return [Event(i, float(i), job_id, "assigned", f"chunk {i}{CLIPBOARD}", "a", i)
                for i in range(since + 1, self.reads + 1)]


def test_logs_follow_prints_each_new_line_once_until_the_job_ends(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(logs_cli, "Client", _GrowingLog(reads=3))
    monkeypatch.setattr(logs_cli, "FOLLOW_SECONDS", 0.0)
    assert main(["logs", "3", "-f"]) == 0
    out = capsys.readouterr().out
    _clean(out)
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["a", "b", "a", "b", "a", "b"]
    assert lines[-1] == "b [    2] b line 2\\x1b[2J"


def test_logs_follow_json_and_events(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(logs_cli, "Client", _GrowingLog(reads=2))
    monkeypatch.setattr(logs_cli, "FOLLOW_SECONDS", 0.0)
    assert main(["logs", "3", "-f", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["node"], r["frame"]) for r in rows] == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    monkeypatch.setattr(logs_cli, "Client", _GrowingLog(reads=3))
    assert main(["logs", "3", "-f", "--events"]) == 0
    out = capsys.readouterr().out
    _clean(out)
    ends = [line.split()[-1] for line in out.splitlines()]
    assert ends == [f"{i}\\x1b]52;c;cm0gLXJmIH4=\\x07" for i in (1, 2, 3)]


def test_logs_once_as_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    client = _GrowingLog()
    client.reads = 1
    monkeypatch.setattr(logs_cli, "Client", client)
    assert main(["logs", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and rows[0]["text"] == f"a line 0{CLEAR}"


@pytest.mark.parametrize(("columns", "width"), [("120", 119), ("0", live.DEFAULT_WIDTH),
                                                ("", live.DEFAULT_WIDTH)])
def test_width_honours_columns_and_never_collapses(columns: str, width: int,
                                                   monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    with open(tmp_path / "not-a-terminal", "w") as stream:
        assert live.terminal_width(stream) == width


def test_live_lines_fit_the_width_from_columns(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("COLUMNS", "60")
    with open(os.devnull, "w") as stream:
        width = live.terminal_width(stream)
    text = live.render_status(_snapshot(), width, clip=True)
    assert width == 59 and max(len(line) for line in text.splitlines()) <= 59
    # the 0-column terminal of the issue: lines keep their content instead of being cut to 20 characters
    monkeypatch.setenv("COLUMNS", "0")
    assert len(live.render_status(_snapshot(), live.terminal_width(stream)).splitlines()[0]) > 20


def test_client_is_what_the_commands_use() -> None:
    # The doubles above replace exactly these names.
    assert jobs_cli.Client is Client and logs_cli.Client is Client
