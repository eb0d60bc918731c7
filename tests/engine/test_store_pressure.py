"""The job store under pressure: readers beside a busy writer, a damaged file, a full disk, and the write
lock held only for short writes."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any, Callable

import pytest

from farmhand.cli import main
from farmhand.client import Client
from farmhand.engine import noderun
from farmhand.engine.store import Store
from farmhand.engine.store import database as db_module
from farmhand.engine.store.database import StoreBusy, StoreError
from farmhand.jobs import FrameState, JobSpec
from farmhand.presets.progress import LineParser

from .fake_farm import NodeBehaviour
from .rig import Rig, assert_all_done


def _spec(home: Path) -> JobSpec:
    return JobSpec(preset="demo", frames="1-3", output=str(home / "out" / "f.$F4.png"))


def test_readers_never_need_the_write_lock(farmhand_home: Path) -> None:
    """While the dispatcher (here: another connection) holds the write lock, 'farmhand jobs' reads."""
    Client(autostart=False).submit(_spec(farmhand_home))
    holder = sqlite3.connect(str(farmhand_home / "jobs.sqlite"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        client = Client(autostart=False)  # opening creates nothing and takes no lock
        assert [j.id for j in client.jobs()] == ["1"]
        assert client.job("1").summary.frames_total == 3
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            client.store.db.execute("DELETE FROM jobs")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_locked_store_is_busy_never_move_it_aside(
    farmhand_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = Client(autostart=False)
    job = client.submit(_spec(farmhand_home))
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT", 0.2)
    holder = sqlite3.connect(str(farmhand_home / "jobs.sqlite"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        writer = Client(autostart=False)
        with pytest.raises(StoreBusy) as info:
            writer.cancel(job)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    message = info.value.message
    assert info.value.retryable and "busy" in message and "try again" in message
    assert "aside" not in message and "\n" not in message
    assert Client(autostart=False).cancel(job) > 0  # once the lock is free


def test_a_damaged_store_is_one_line_naming_the_real_error(
    farmhand_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    farmhand_home.mkdir(parents=True, exist_ok=True)
    (farmhand_home / "jobs.sqlite").write_bytes(b"this is not a database, it was overwritten " * 100)
    with pytest.raises(StoreError) as info:
        Store()
    assert "damaged" in info.value.message and "file is not a database" in info.value.message
    assert main(["jobs"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "file is not a database" in err and "Traceback" not in err


def test_a_full_disk_loses_no_verified_frame(
    rig_for: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite says "database or disk is full" (every write refused for a while). The dispatcher logs one
    line, starts again from the store and keeps trying; frames verified before stay done; once there is
    room again the job finishes."""
    from farmhand.engine import dispatcher as dispatcher_module

    for name in ("STEP_SECONDS", "MIN_STEP_SECONDS", "MAX_RESTART_PAUSE"):
        monkeypatch.setattr(dispatcher_module, name, 0.0)
    rig = rig_for({"a": NodeBehaviour(spf=1.0)})
    job = rig.submit("1-30", chunk=5)
    d = rig.dispatcher
    disk = FullDisk(rig.store.db)
    rig.store.db = d.state.store.db = disk  # type: ignore[assignment]
    real_step = d.step
    phase = {"full": False, "steps_full": 0, "done_when_full": 0}

    def step() -> None:
        rig.now += 0.1
        rig.fake.advance(rig.now)
        done = rig.client.job(job).summary.frames_done
        if not phase["full"] and done >= 5:
            disk.full = phase["full"] = True
            phase["done_when_full"] = done
        elif phase["full"] and phase["steps_full"] >= 0:
            phase["steps_full"] += 1
            assert done >= phase["done_when_full"]  # what was verified stays verified
            if phase["steps_full"] == 300:
                disk.full = False
                phase["steps_full"] = -1
        real_step(rig.now)
        if rig.client.job(job).state.finished:
            d.stop_requested.set()

    monkeypatch.setattr(d, "step", step)
    with caplog.at_level(logging.ERROR):
        d.run()
    full = [r for r in caplog.records if "database or disk is full" in r.getMessage()]
    assert full and all("\n" not in r.getMessage() for r in full)
    assert any("starting again from the store" in r.getMessage() for r in full)
    assert_all_done(rig, job)


class FullDisk:
    """The store's connection on a full disk: every write statement fails as SQLite fails it then."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.full = False

    def execute(self, sql: str, *args: Any) -> Any:
        if self.full and sql.lstrip().split(None, 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def executemany(self, sql: str, *args: Any) -> Any:
        if self.full:
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.executemany(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def test_parsing_and_share_lookups_happen_outside_the_write_lock(
    rig_for: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0)})
    store = rig.dispatcher.state.store
    seen: dict[str, list[bool]] = {"parse": [], "look": []}
    real_feed, real_look = LineParser.feed, noderun.look_here

    def feed(self: LineParser, stream: str, line: Any) -> Any:
        seen["parse"].append(store.in_write)
        return real_feed(self, stream, line)

    def look_here(paths: Any) -> Any:
        seen["look"].append(store.in_write)
        return real_look(paths)

    monkeypatch.setattr(LineParser, "feed", feed)
    monkeypatch.setattr(noderun, "look_here", look_here)
    job = rig.submit("1-4")
    rig.out.mkdir(parents=True)
    rig.drive(rig.finished(job))
    assert_all_done(rig, job)
    assert seen["parse"] and not any(seen["parse"])
    assert seen["look"] and not any(seen["look"])


def test_frames_done_before_a_restart_stay_done(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0)})
    job = rig.submit("1-6", chunk=6)
    rig.drive(lambda: rig.snap(job).summary.frames_done >= 3)
    rig.dispatcher.restart("simulated store failure")
    rig.drive(rig.finished(job))
    snap = assert_all_done(rig, job)
    assert any(e.kind == "recovered" for e in snap.events)
    assert sum(1 for _, f in rig.fake.rendered if f <= 3) == 3 and snap.frames[0].state is FrameState.DONE
