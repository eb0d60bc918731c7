"""Node leases: one dispatcher per node, expiry, and adoption of a dead dispatcher's nodes and chunks."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from tests.pg.conftest import FarmDb

from farmhand.engine.pg import leases, submit, work
from farmhand.engine.pg.db import PgDatabase
from farmhand.engine.pg.errors import LeaseLost
from farmhand.engine.pg.roles import FarmRole
from farmhand.jobs import ChunkState, JobSpec

NODES = [f"render{i:02d}" for i in range(40)]


def _registered(url: str, name: str) -> PgDatabase:
    db = PgDatabase(url, writer=name)
    db.run(lambda c: leases.register(c, name, "host", 1, now=0.0))
    return db


def test_racing_dispatchers_never_lease_the_same_node(farm_db: FarmDb) -> None:
    service = farm_db.user(FarmRole.DISPATCHER, "service")
    got: dict[str, list[str]] = {}
    go = threading.Barrier(4)

    def race(name: str, order: list[str]) -> None:
        db = _registered(service.url, name)
        go.wait()
        mine: list[str] = []
        for i in range(0, len(order), 5):  # small overlapping bites, in different orders
            mine += db.run(lambda c, part=order[i:i + 5]: leases.acquire(c, name, part, ttl=600))
        got[name] = mine

    orders = [NODES, NODES[::-1], NODES[20:] + NODES[:20], NODES[::2] + NODES[1::2]]
    threads = [threading.Thread(target=race, args=(f"d{i}", o)) for i, o in enumerate(orders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = Counter(node for mine in got.values() for node in set(mine))
    assert sorted(counts) == NODES
    assert set(counts.values()) == {1}, "a node was leased to two dispatchers"
    held = PgDatabase(service.url).run(leases.leases)
    assert {lease.node: lease.dispatcher for lease in held} == {
        node: name for name, mine in got.items() for node in mine
    }


def test_lease_is_renewed_released_and_not_taken_while_live(farm_db: FarmDb) -> None:
    service = farm_db.user(FarmRole.DISPATCHER, "service")
    a, b = _registered(service.url, "a"), _registered(service.url, "b")
    assert a.run(lambda c: leases.acquire(c, "a", ["n1", "n2"], ttl=10, now=100.0)) == ["n1", "n2"]
    assert b.run(lambda c: leases.acquire(c, "b", ["n1", "n3"], ttl=10, now=105.0)) == ["n3"]
    assert a.run(lambda c: leases.renew(c, "a", ttl=10, now=108.0)) == ["n1", "n2"]
    assert b.run(lambda c: leases.adopt(c, "b", ttl=10, now=112.0)) == []  # renewed until 118
    assert a.run(lambda c: leases.release(c, "a", ["n2"])) == ["n2"]
    assert b.run(lambda c: leases.acquire(c, "b", ["n2"], ttl=10, now=113.0)) == ["n2"]
    # An expired lease is not simply acquired: it goes through adoption, with its chunks.
    assert b.run(lambda c: leases.acquire(c, "b", ["n1"], ttl=10, now=500.0)) == []


def _claim_on(db: PgDatabase, name: str, node: str, job: str) -> work.Claim:
    claim = db.run(lambda c: work.claim_chunk(c, dispatcher=name, node=node, job_id=job, count=2, now=1.0))
    assert claim is not None
    return claim


def test_a_dead_dispatchers_nodes_and_chunks_are_adopted(farm_db: FarmDb) -> None:
    artist = farm_db.user(FarmRole.ARTIST, "artist")
    service = farm_db.user(FarmRole.DISPATCHER, "service")
    job = PgDatabase(artist.url).run(lambda c: submit.insert_job(c, JobSpec(preset="demo", frames="1-6"),
                                                                 [1, 2, 3, 4, 5, 6]))
    a, b = _registered(service.url, "a"), _registered(service.url, "b")
    a.run(lambda c: leases.acquire(c, "a", ["n1", "n2"], ttl=10, now=0.0))
    first = _claim_on(a, "a", "n1", job)
    second = _claim_on(a, "a", "n2", job)
    a.run(lambda c: work.close_chunk(c, dispatcher="a", chunk_id=second.chunk_id, state=ChunkState.DONE,
                                     now=2.0))

    assert b.run(lambda c: leases.adopt(c, "b", ttl=10, now=9.0)) == []  # not expired yet
    adopted = b.run(lambda c: leases.adopt(c, "b", ttl=10, now=10.0))
    assert [(x.node, x.previous) for x in adopted] == [("n1", "a"), ("n2", "a")]
    assert [c.id for c in adopted[0].chunks] == [first.chunk_id]  # the open one only
    assert adopted[0].chunks[0].idxs == first.idxs and adopted[0].chunks[0].dispatcher == "b"
    assert adopted[1].chunks == ()

    # "a" comes back: it holds nothing, may not claim, and its late writes change nothing.
    assert a.run(lambda c: leases.renew(c, "a", ttl=10, now=11.0)) == []
    with pytest.raises(LeaseLost):
        _claim_on(a, "a", "n1", job)
    assert not a.run(lambda c: work.close_chunk(c, dispatcher="a", chunk_id=first.chunk_id,
                                                state=ChunkState.FAILED, now=11.0))
    # "b" found the node's process group gone: the frames go back to the queue and are claimed again.
    assert b.run(lambda c: work.requeue_chunk(c, dispatcher="b", chunk_id=first.chunk_id, now=12.0)) == [0, 1]
    again = b.run(lambda c: work.claim_chunk(c, dispatcher="b", node="n1", job_id=job, count=6, now=12.0))
    assert again is not None and again.idxs == (0, 1, 4, 5)
    assert b.run(lambda c: work.open_chunks(c, "a")) == []


def test_racing_adopters_take_each_node_once(farm_db: FarmDb) -> None:
    service = farm_db.user(FarmRole.DISPATCHER, "service")
    dead = _registered(service.url, "dead")
    dead.run(lambda c: leases.acquire(c, "dead", NODES, ttl=5, now=0.0))
    got: dict[str, list[str]] = {}
    go = threading.Barrier(3)

    def adopt(name: str) -> None:
        db = _registered(service.url, name)
        go.wait()
        mine: list[str] = []
        while True:
            taken = db.run(lambda c: leases.adopt(c, name, ttl=60, now=10.0, limit=3))
            if not taken:
                break
            mine += [x.node for x in taken]
        got[name] = mine

    threads = [threading.Thread(target=adopt, args=(f"r{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(node for mine in got.values() for node in mine) == NODES


def test_leases_expire_on_the_database_clock(farm_db: FarmDb) -> None:
    """No ``now`` given: the server's clock decides; a dispatcher that stops renewing loses its nodes."""
    service = farm_db.user(FarmRole.DISPATCHER, "service")
    a = PgDatabase(service.url, writer="a")
    b = PgDatabase(service.url, writer="b")
    for db, name in ((a, "a"), (b, "b")):
        db.run(lambda c, name=name: leases.register(c, name, "host", 1))
    a.run(lambda c: leases.acquire(c, "a", ["n1"], ttl=0.5))
    deadline = time.monotonic() + 30  # a hang guard, not a timing claim
    adopted: list[leases.Adopted] = []
    while not adopted and time.monotonic() < deadline:
        adopted = b.run(lambda c: leases.adopt(c, "b", ttl=30))
        time.sleep(0.1)
    assert [x.node for x in adopted] == ["n1"]
    assert b.run(lambda c: leases.renew(c, "b", ttl=30)) == ["n1"]


def test_silent_dispatchers_without_leases_are_forgotten(farm_db: FarmDb) -> None:
    service = farm_db.user(FarmRole.DISPATCHER, "service")
    a, b = _registered(service.url, "a"), _registered(service.url, "b")
    a.run(lambda c: leases.acquire(c, "a", ["n1"], ttl=10, now=0.0))
    assert b.run(lambda c: leases.forget(c, older_than=60, now=100.0)) == ["b"]  # "a" still holds n1
    assert [d.id for d in b.run(leases.dispatchers)] == ["a"]
