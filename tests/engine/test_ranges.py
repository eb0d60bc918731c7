"""Every value a user gives the engine is range-checked before it is stored: one line, never SQLite's.

The CLI checks what is typed (``tests/cli``); these are the client's and the store's checks, for callers
that are not the CLI (the panel, scripts) and for rows any program may have written.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from farmhand.cli import main
from farmhand.client import Client
from farmhand.engine.store import Store
from farmhand.errors import NotFound, UsageError
from farmhand.jobs import CommandOp, JobSpec


@pytest.fixture
def client(farmhand_home: Path) -> Client:
    return Client(autostart=False)


def _job(client: Client, tmp: Path) -> str:
    return client.submit(JobSpec(preset="demo", frames="1-3", output=str(tmp / "f.$F4.png")))


@pytest.mark.parametrize("priority", [10**22, -1, 101, 2**63, True, 50.5, math.nan])
def test_priorities_out_of_range_are_refused_by_the_client(
    client: Client, tmp_path: Path, priority: Any
) -> None:
    job = _job(client, tmp_path)
    with pytest.raises(UsageError, match="out of range") as info:
        client.set_priority(job, priority)
    assert "\n" not in info.value.message
    spec = JobSpec(preset="demo", frames="1-3", output=str(tmp_path / "g.$F4.png"), priority=priority)
    with pytest.raises(UsageError, match="out of range"):
        client.submit(spec)
    assert client.store.pending_commands() == [] and len(client.jobs()) == 1


@pytest.mark.parametrize("frame", [math.nan, math.inf, -math.inf, 1e300, 10**22])
def test_frames_out_of_range_are_refused_by_the_client(client: Client, tmp_path: Path, frame: Any) -> None:
    job = _job(client, tmp_path)
    with pytest.raises(UsageError, match="not a frame number"):
        client.requeue_frame(job, frame)


@pytest.mark.parametrize("job_id", ["9" * 22, "-1", "0", "1e3", "#", "nan", "٣", "1" * 5000])
def test_job_ids_beyond_sqlite_are_jobs_that_do_not_exist(client: Client, job_id: str) -> None:
    for call in (client.job, client.cancel, lambda j: client.set_priority(j, 10), client.events):
        with pytest.raises(NotFound, match="does not exist") as info:
            call(job_id)
        assert "\n" not in info.value.message and len(info.value.message) < 120


def test_the_store_itself_refuses_what_sqlite_cannot_hold(farmhand_home: Path, tmp_path: Path) -> None:
    store = Store()
    spec = JobSpec(preset="demo", frames="1-3", priority=2**70)
    with pytest.raises(UsageError, match=r"priority .* is out of range"):
        store.insert_job(spec, [1, 2, 3], [None] * 3)
    with pytest.raises(UsageError):
        store.insert_job(JobSpec(preset="demo", frames="1"), [math.nan], [None])
    with pytest.raises(ValueError, match="JSON"):  # NaN is not JSON: a command argument cannot carry one
        store.add_command(None, CommandOp.PRIORITY, {"priority": math.nan})


@pytest.mark.parametrize(
    "argv",
    [["priority", "1", "1" * 22], ["requeue", "1", "nan"], ["cancel", "9" * 22],
     ["submit", "--preset", "demo", "--frames", "1-3", "--priority", "1e999"]],
)
def test_the_cli_says_one_line_and_exits_2(farmhand_home: Path, capsys: pytest.CaptureFixture[str],
                                           argv: list[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") <= 1 and "Traceback" not in err  # argparse: usage line + one error line
