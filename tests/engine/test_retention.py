"""What the store and the logs keep: finished jobs' history goes after ``store.keep_days``, running jobs
and the farm's own events are capped by count, render logs and ``dispatcher.log`` rotate."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable

import pytest

from farmhand.engine import process
from farmhand.engine.store import Store, append_log, read_logs
from farmhand.engine.store.retention import Retention, prune
from farmhand.jobs import ChunkState, CommandOp, JobSpec, JobState

from .fake_farm import NodeBehaviour
from .rig import Rig

DAY = 86400.0


def _count(store: Store, table: str, job: str) -> int:
    row = store.db.execute(f"SELECT COUNT(*) FROM {table} WHERE job = ?", (int(job),)).fetchone()
    return int(row[0])


def test_finished_jobs_lose_their_history_after_keep_days(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0)})
    old, recent = rig.submit("1-3"), rig.submit("1-3", output=str(rig.out / "r.$F4.png"))
    rig.drive(lambda: rig.finished(old)() and rig.finished(recent)())
    store = rig.store
    now = time.time()
    store.update_job(old, now=now - 20 * DAY)
    assert read_logs(old) and _count(store, "events", old) and _count(store, "chunks", old)
    done = prune(store, Retention(keep_days=14), now)
    assert done.events and done.chunks and done.logs
    assert [_count(store, table, old) for table in ("events", "chunks", "progress")] == [0, 0, 0]
    assert read_logs(old) == []
    # the job itself and its frames are kept: removing jobs is the user's decision
    assert store.job(old).state is JobState.DONE and len(store.frames(old)) == 3
    assert _count(store, "events", recent) and read_logs(recent)


def test_a_long_running_job_and_the_farm_events_are_capped(farmhand_home: Path) -> None:
    store = Store()
    job = store.insert_job(JobSpec(preset="demo", frames="1-2"), [1, 2], [None, None])
    for i in range(300):
        store.add_event(job, "chunk_failed", f"failure {i}")
        store.add_event(None, "node_check", f"check {i}", node="a")
        chunk = store.insert_chunk(job, "a", [0], float(i))
        store.update_chunk(chunk, state=ChunkState.FAILED, ended=float(i))
    running = store.insert_chunk(job, "a", [1], 999.0)
    prune(store, Retention(job_events=50, farm_events=20, job_chunks=30))
    assert _count(store, "events", job) == 50
    assert [e.message for e in store.events(job, limit=1)] == ["failure 299"]  # the newest are kept
    assert store.db.execute("SELECT COUNT(*) FROM events WHERE job IS NULL").fetchone()[0] == 20
    assert _count(store, "chunks", job) == 31 and running in [c.id for c in store.open_chunks()]


def test_answered_commands_go_after_a_day(farmhand_home: Path) -> None:
    store = Store()
    job = store.insert_job(JobSpec(preset="demo", frames="1"), [1], [None])
    old, new, waiting = (store.add_command(job, CommandOp.PAUSE) for _ in range(3))
    store.finish_command(old, "ok", time.time() - 2 * DAY)
    store.finish_command(new, "ok")
    prune(store, Retention(command_days=1))
    ids = [int(r[0]) for r in store.db.execute("SELECT id FROM commands ORDER BY id")]
    assert ids == [new, waiting]


def test_render_logs_rotate_once(farmhand_home: Path) -> None:
    store = Store()
    job = store.insert_job(JobSpec(preset="demo", frames="1"), [1], [None])
    line = "x" * 1000
    for i in range(100):
        append_log(job, "a", [(float(i), 1, "out", line)], max_bytes=20_000)
    logs = farmhand_home / "logs" / f"job-{job}"
    sizes = sorted(p.stat().st_size for p in logs.iterdir())
    assert [p.name for p in sorted(logs.iterdir())] == ["a.log", "a.log.1"]
    assert sum(sizes) <= 2 * 20_000 + 2000
    times = [ln.time for ln in read_logs(job)]
    assert times == sorted(times) and times[-1] == 99.0 and len(times) > 15


def test_dispatcher_log_rotates(farmhand_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(process, "LOG_BYTES", 10_000)
    handler = process.log_to_file()
    try:
        log = logging.getLogger("farmhand.engine.dispatcher")
        for i in range(2000):
            log.info("step %d: %s", i, "y" * 100)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    logs = farmhand_home / "logs"
    parts = sorted(p.name for p in logs.glob("dispatcher.log*"))
    assert parts == ["dispatcher.log", "dispatcher.log.1", "dispatcher.log.2", "dispatcher.log.3"]
    assert all(p.stat().st_size <= 10_500 for p in logs.glob("dispatcher.log*"))
    assert "step 1999" in (logs / "dispatcher.log").read_text()


def test_the_dispatcher_prunes_by_itself(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({"a": NodeBehaviour(spf=1.0)})
    rig.dispatcher.retention = Retention(job_events=5, prune_minutes=0.01)  # every 0.6 s
    job = rig.submit("1-60", chunk=1)
    rig.drive(lambda: rig.snap(job).summary.frames_done >= 40)
    written = int(rig.store.db.execute("SELECT MAX(id) FROM events").fetchone()[0])
    assert written > 40 and _count(rig.store, "events", job) < 10
