"""Fair share: the pure assignment rule, a long simulation of it, and its inputs read from PostgreSQL."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import pytest
from tests.pg.conftest import FarmDb

from farmhand.engine.fairshare import QueuedJob, assign
from farmhand.engine.pg import leases, submit, work
from farmhand.engine.pg.db import PgDatabase
from farmhand.engine.pg.roles import FarmRole
from farmhand.jobs import JobSpec


def test_priority_wins_whatever_the_usage() -> None:
    queued = [QueuedJob("low", "alice", 50, age=100), QueuedJob("high", "bob", 80, age=1)]
    picks = assign(["n1", "n2"], queued, usage={"bob": 50, "alice": 0})
    assert picks == [("n1", "high"), ("n2", "high")]


def test_equal_priority_goes_to_the_account_furthest_below_its_share() -> None:
    queued = [QueuedJob("a1", "alice", 50, age=10), QueuedJob("b1", "bob", 50, age=5)]
    assert assign(["n1"], queued, usage={"alice": 3, "bob": 1}) == [("n1", "b1")]
    # Weights 2:1 from an empty farm: the heavier account first, then 2:1 overall.
    picks = assign(["n1", "n2", "n3"], queued, usage={}, weights={"alice": 2.0})
    assert Counter(job for _, job in picks) == {"a1": 2, "b1": 1}
    assert picks[0] == ("n1", "a1")


def test_oldest_job_of_the_account_first_and_want_respected() -> None:
    queued = [
        QueuedJob("young", "alice", 50, age=1),
        QueuedJob("old", "alice", 50, age=99, want=1),
        QueuedJob("bobs", "bob", 50, age=5, want=1),
    ]
    picks = assign(["n1", "n2", "n3", "n4"], queued, usage={})
    assert picks == [("n1", "old"), ("n2", "bobs"), ("n3", "young"), ("n4", "young")]


def test_nodes_only_serve_jobs_they_may_run_and_idle_ones_are_left_out() -> None:
    queued = [QueuedJob("gpu", "alice", 50), QueuedJob("cpu", "bob", 50)]

    def can_run(node: str, job: QueuedJob) -> bool:
        return job.job_id == "cpu" or node.startswith("gpu")

    picks = assign(["cpu1", "gpu1", "cpu2"], queued, usage={}, can_run=can_run)
    assert picks == [("cpu1", "cpu"), ("gpu1", "gpu"), ("cpu2", "cpu")]
    assert assign(["n1"], [QueuedJob("done", "alice", 50, want=0)], usage={}) == []
    assert assign([], queued, usage={}) == []


def test_bad_weights_and_wants_are_refused() -> None:
    with pytest.raises(ValueError, match="share weight of 'alice' must be > 0"):
        assign(["n1"], [QueuedJob("a", "alice", 50)], usage={}, weights={"alice": 0})
    with pytest.raises(ValueError, match="want -1 is negative"):
        QueuedJob("a", "alice", 50, want=-1)


# --- simulation --------------------------------------------------------------------------------------


@dataclass
class Running:
    node: str
    user: str
    ends: int


def simulate(
    chunk_steps: dict[str, tuple[int, int]],
    weights: dict[str, float],
    *,
    nodes: int = 24,
    steps: int = 4000,
    joins: dict[str, int] | None = None,
    measure_from: int = 0,
    seed: int = 7,
) -> dict[str, float]:
    """Every user always has work; chunks take a random number of steps (each user its own range).
    Returns each user's fraction of the node-steps from ``measure_from`` on."""
    rng = random.Random(seed)
    names = [f"n{i:02d}" for i in range(nodes)]
    running: list[Running] = []
    used: Counter[str] = Counter()
    for step in range(steps):
        running = [r for r in running if r.ends > step]
        busy = {r.node for r in running}
        present = [u for u in chunk_steps if (joins or {}).get(u, 0) <= step]
        queued = [QueuedJob(f"{u}-job", u, 50, age=float(step)) for u in present]
        usage = Counter(r.user for r in running)
        for node, job in assign([n for n in names if n not in busy], queued, usage, weights):
            user = job.split("-")[0]
            running.append(Running(node, user, step + rng.randint(*chunk_steps[user])))
        assert len({r.node for r in running}) == len(running), "a node serves two chunks"
        if step >= measure_from:
            used.update(r.user for r in running)
    total = sum(used.values())
    return {u: used[u] / total for u in chunk_steps}


def _within_ten_percent(got: dict[str, float], weights: dict[str, float]) -> None:
    total = sum(weights.values())
    for user, w in weights.items():
        expected = w / total
        share = got[user]
        assert abs(share / expected - 1) <= 0.10, f"{user}: {share:.3f} of the node time, want {expected:.3f}"


def test_simulation_equal_shares_despite_very_different_chunk_lengths() -> None:
    chunks = {"alice": (1, 3), "bob": (10, 30), "carol": (4, 8)}
    weights = {"alice": 1.0, "bob": 1.0, "carol": 1.0}
    _within_ten_percent(simulate(chunks, weights), weights)


def test_simulation_weighted_shares() -> None:
    chunks = {"alice": (2, 6), "bob": (2, 6), "carol": (5, 15)}
    weights = {"alice": 1.0, "bob": 1.0, "carol": 2.0}
    _within_ten_percent(simulate(chunks, weights), weights)


def test_simulation_a_late_user_gets_an_even_share_without_preemption() -> None:
    """Bob arrives when Alice holds every node; as her chunks end he gets his half, none killed."""
    chunks = {"alice": (20, 40), "bob": (20, 40)}
    weights = {"alice": 1.0, "bob": 1.0}
    got = simulate(chunks, weights, joins={"bob": 1000}, measure_from=1200, steps=5000)
    _within_ten_percent(got, weights)


# --- inputs from the store ---------------------------------------------------------------------------


def test_fair_inputs_from_the_store_feed_the_rule(farm_db: FarmDb) -> None:
    alice = farm_db.user(FarmRole.ARTIST, "alice")
    bob = farm_db.user(FarmRole.ARTIST, "bob")
    wrangler = farm_db.user(FarmRole.WRANGLER, "wrangler")
    service = farm_db.user(FarmRole.DISPATCHER, "service")
    spec = JobSpec(preset="demo", frames="1-10", priority=50)
    a1 = PgDatabase(alice.url).run(lambda c: submit.insert_job(c, spec, list(range(10)), now=0.0))
    a2 = PgDatabase(alice.url).run(lambda c: submit.insert_job(c, spec, list(range(10)), now=5.0,
                                                               project="shot010"))
    b1 = PgDatabase(bob.url).run(lambda c: submit.insert_job(c, spec, list(range(10)), now=10.0))
    PgDatabase(wrangler.url).run(lambda c: work.set_share(c, "user", bob.name, 3.0))
    db = PgDatabase(service.url, writer="d1")
    db.run(lambda c: leases.register(c, "d1", "host", 1))
    db.run(lambda c: leases.acquire(c, "d1", ["n1", "n2"], ttl=600))
    for node in ("n1", "n2"):  # alice's first job holds two nodes
        db.run(lambda c, node=node: work.claim_chunk(c, dispatcher="d1", node=node, job_id=a1, count=2))

    inputs = db.run(lambda c: work.fair_inputs(c, now=100.0))
    assert inputs.usage == {alice.name: 2.0}
    assert inputs.weights == {bob.name: 3.0}
    assert [(q.job_id, q.user, q.age, q.want) for q in inputs.queued] == [
        (a1, alice.name, 100.0, 6), (a2, alice.name, 95.0, 10), (b1, bob.name, 90.0, 10)]
    assert assign(["n3"], inputs.queued, inputs.usage, inputs.weights) == [("n3", b1)]

    # A project with a share becomes its own account.
    PgDatabase(wrangler.url).run(lambda c: work.set_share(c, "project", "shot010", 1.0))
    inputs = db.run(lambda c: work.fair_inputs(c, now=100.0))
    assert [q.user for q in inputs.queued] == [alice.name, "project:shot010", bob.name]
    assert inputs.weights == {bob.name: 3.0, "project:shot010": 1.0}
