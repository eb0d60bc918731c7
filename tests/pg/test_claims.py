"""Claiming chunks on a shared store: rivals racing for the same frames never double-book one."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from tests.pg.conftest import FarmDb

from farmhand.engine.pg import leases, submit, work
from farmhand.engine.pg.db import PgDatabase
from farmhand.engine.pg.errors import LeaseLost
from farmhand.engine.pg.roles import FarmRole
from farmhand.jobs import CommandOp, JobSpec

SPEC = JobSpec(preset="demo", frames="1-200")


def _dispatcher(url: str, name: str, nodes: list[str]) -> PgDatabase:
    db = PgDatabase(url, writer=name)
    db.run(lambda c: leases.register(c, name, "host", 1))
    assert db.run(lambda c: leases.acquire(c, name, nodes, ttl=600)) == sorted(nodes)
    return db


def _job(farm_db: FarmDb, frames: int = 200) -> str:
    artist = farm_db.user(FarmRole.ARTIST, "artist")
    return PgDatabase(artist.url).run(lambda c: submit.insert_job(c, SPEC, list(range(1, frames + 1))))


def test_racing_dispatchers_claim_every_frame_exactly_once(farm_db: FarmDb) -> None:
    job = _job(farm_db)
    service = farm_db.user(FarmRole.DISPATCHER, "service")
    claims: dict[str, list[work.Claim]] = {}
    go = threading.Barrier(4)

    def dispatcher(name: str) -> None:
        node = f"{name}-node"
        db = _dispatcher(service.url, name, [node])
        mine: list[work.Claim] = []
        go.wait()
        while True:
            claim = db.run(lambda c: work.claim_chunk(c, dispatcher=name, node=node, job_id=job, count=3))
            if claim is None:
                break
            mine.append(claim)
        claims[name] = mine

    threads = [threading.Thread(target=dispatcher, args=(f"d{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    taken = Counter(i for mine in claims.values() for claim in mine for i in claim.idxs)
    assert sorted(taken) == list(range(200))
    assert set(taken.values()) == {1}, "a frame was claimed twice"
    with farm_db.admin() as conn:
        rows = conn.execute("SELECT idx, state, node FROM frames WHERE job = %s ORDER BY idx", (int(job),))
        by_idx = {idx: (state, node) for idx, state, node in rows}
        chunk_rows = conn.execute("SELECT node, frames, dispatcher FROM chunks").fetchall()
    owner = {i: claim.node for mine in claims.values() for claim in mine for i in claim.idxs}
    assert all(by_idx[i] == ("rendering", owner[i]) for i in range(200))
    assert sorted(i for _, frames, _ in chunk_rows for i in frames) == list(range(200))
    assert all(node == f"{d}-node" for node, _, d in chunk_rows)


def test_a_claim_held_open_is_skipped_not_waited_for(farm_db: FarmDb) -> None:
    """While one dispatcher's claim transaction is still open, a rival takes other frames at once."""
    job = _job(farm_db, frames=6)
    service = farm_db.user(FarmRole.DISPATCHER, "service")
    first = _dispatcher(service.url, "a", ["n1"])
    second = _dispatcher(service.url, "b", ["n2"])
    claimed, release = threading.Event(), threading.Event()
    held: list[work.Claim] = []

    def slow(c: Any) -> None:
        claim = work.claim_chunk(c, dispatcher="a", node="n1", job_id=job, count=3)
        assert claim is not None
        held.append(claim)
        claimed.set()
        release.wait(60)  # keeps the transaction (and its row locks) open

    holder = threading.Thread(target=first.run, args=(slow,))
    holder.start()
    assert claimed.wait(60)
    rival: list[object] = []
    racer = threading.Thread(
        target=lambda: rival.append(
            second.run(lambda c: work.claim_chunk(c, dispatcher="b", node="n2", job_id=job, count=6))
        )
    )
    racer.start()
    racer.join(60)
    stuck = racer.is_alive()
    release.set()
    holder.join()
    racer.join()
    assert not stuck, "the rival waited for the open claim instead of skipping its frames"
    got = rival[0]
    assert isinstance(got, work.Claim)
    assert held[0].idxs == (0, 1, 2) and got.idxs == (3, 4, 5)


def test_no_claim_without_a_live_lease(farm_db: FarmDb) -> None:
    job = _job(farm_db, frames=4)
    service = farm_db.user(FarmRole.DISPATCHER, "service")
    a = _dispatcher(service.url, "a", ["n1"])
    b = _dispatcher(service.url, "b", [])
    with pytest.raises(LeaseLost, match="n1: dispatcher b no longer holds"):
        b.run(lambda c: work.claim_chunk(c, dispatcher="b", node="n1", job_id=job, count=2))
    a.run(lambda c: leases.acquire(c, "a", ["n1"], ttl=10, now=1000.0))
    with pytest.raises(LeaseLost):  # expired by the time of the claim
        a.run(lambda c: work.claim_chunk(c, dispatcher="a", node="n1", job_id=job, count=2, now=1011.0))
    with farm_db.admin() as conn:
        assert conn.execute("SELECT count(*) FROM chunks").fetchone() == (0,)


def test_claim_marks_the_job_running_and_respects_chosen_frames(farm_db: FarmDb) -> None:
    job = _job(farm_db, frames=10)
    service = farm_db.user(FarmRole.DISPATCHER, "service")
    db = _dispatcher(service.url, "a", ["n1"])
    claim = db.run(
        lambda c: work.claim_chunk(c, dispatcher="a", node="n1", job_id=job, count=5, idxs=[7, 2, 9])
    )
    assert claim is not None and claim.idxs == (2, 7, 9) and claim.frames == (3, 8, 10)
    with farm_db.admin() as conn:
        assert conn.execute("SELECT state FROM jobs").fetchone() == ("running",)


def test_a_paused_job_hands_out_nothing(farm_db: FarmDb) -> None:
    job = _job(farm_db, frames=4)
    service = farm_db.user(FarmRole.DISPATCHER, "service")
    db = _dispatcher(service.url, "a", ["n1"])
    db.run(lambda c: c.execute("UPDATE jobs SET state = 'paused'"))
    assert db.run(lambda c: work.claim_chunk(c, dispatcher="a", node="n1", job_id=job, count=2)) is None


def test_each_command_is_taken_by_one_dispatcher(farm_db: FarmDb) -> None:
    artist = farm_db.user(FarmRole.ARTIST, "artist")
    service = farm_db.user(FarmRole.DISPATCHER, "service")
    job = PgDatabase(artist.url).run(lambda c: submit.insert_job(c, SPEC, [1, 2]))
    artist_db = PgDatabase(artist.url)
    ids = [artist_db.run(lambda c: submit.add_command(c, job, CommandOp.PAUSE)) for _ in range(20)]
    taken: dict[str, list[int]] = {}
    go = threading.Barrier(3)

    def take(name: str) -> None:
        db = _dispatcher(service.url, name, [])
        go.wait()
        taken[name] = [cmd[0] for cmd in db.run(lambda c: submit.take_commands(c, name, stale_after=60))]

    threads = [threading.Thread(target=take, args=(f"d{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(i for got in taken.values() for i in got) == sorted(ids)
    # A taker that falls silent loses what it took but did not finish.
    db = PgDatabase(service.url)
    silent = next(name for name, got in taken.items() if got)
    db.run(lambda c: c.execute("UPDATE dispatchers SET heartbeat = 0 WHERE id = %s", (silent,)))
    db.run(lambda c: leases.register(c, "late", "host", 2))
    again = db.run(lambda c: submit.take_commands(c, "late", stale_after=60))
    assert sorted(cmd[0] for cmd in again) == sorted(taken[silent])
    db.run(lambda c: submit.finish_command(c, again[0][0], "paused"))
    assert db.run(lambda c: submit.take_commands(c, "other", stale_after=60)) == []
