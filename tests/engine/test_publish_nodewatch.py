"""The publisher and the node watch on their own: progress rows clients read, and when a node is free."""

from __future__ import annotations

from pathlib import Path

import pytest

from farmhand.engine import nodescripts
from farmhand.engine.nodewatch import BUSY_NOTE, NodeWatch
from farmhand.engine.publish import Publisher
from farmhand.jobs import NodeActivity

from .fake_farm import NodeBehaviour
from .parts import Bench, engine_state


@pytest.fixture
def bench(farmhand_home: Path) -> Bench:
    return engine_state(farmhand_home, {"a": NodeBehaviour(), "b": NodeBehaviour()})


def test_rows_are_written_only_when_they_change(bench: Bench) -> None:
    publisher = Publisher(bench.state, NodeWatch(bench.state))
    job = bench.add_job("1-4")
    job.stat("a").spf = 2.0
    publisher.publish(bench.clock.now)
    version = bench.state.store.version()
    publisher.publish(bench.clock.now)
    assert bench.state.store.version() == version
    (row,) = bench.state.store.progress(job.id)
    assert (row.node, row.state, row.seconds_per_frame) == ("a", NodeActivity.IDLE, 2.0)
    job.stat("a").blocked, job.stat("a").message = True, "blocklisted"
    publisher.publish(bench.clock.now)
    assert bench.state.store.progress(job.id)[0].state is NodeActivity.BLOCKED


def test_a_node_backed_off_for_every_job_shows_busy_or_offline(bench: Bench) -> None:
    nodes = NodeWatch(bench.state)
    publisher = Publisher(bench.state, nodes)
    job = bench.add_job("1-4")
    job.stat("a"), job.stat("b")
    nodes.back_off("a", bench.clock.now + 3, BUSY_NOTE)
    nodes.back_off("b", bench.clock.now + 3, "connection refused")
    rows = {r.node: (r.state, r.message) for r in
            (publisher.row(job, n, None, bench.clock.now) for n in ("a", "b"))}
    assert rows == {"a": (NodeActivity.BUSY, BUSY_NOTE), "b": (NodeActivity.OFFLINE, "connection refused")}
    assert publisher.row(job, "a", None, bench.clock.now + 4).state is NodeActivity.IDLE


def test_a_retired_job_leaves_the_working_set_with_its_eta_cleared(bench: Bench) -> None:
    publisher = Publisher(bench.state, NodeWatch(bench.state))
    job = bench.add_job("1-2")
    publisher.retire(job, bench.clock.now)
    assert job.id not in bench.state.jobs
    assert bench.state.store.summary(job.id).eta_seconds is None


def test_a_node_with_a_leftover_group_is_checked_before_it_gets_work(bench: Bench) -> None:
    nodes = NodeWatch(bench.state)
    nodes.check_before_reuse("a", 4321, "7", 3)
    assert not nodes.free("a", bench.clock.now)  # the check starts instead
    assert [argv[2] for _, argv in bench.fake.runs] == [nodescripts.CHECK_ORPHAN]
    assert bench.fake.runs[0][1][4:6] == ["4321", nodescripts.chunk_marker("7", 3)]
    assert not nodes.free("a", bench.clock.now)  # until its answer is read
    nodes.poll_checks(bench.clock.now)
    assert nodes.free("a", bench.clock.now)
    assert any(e.kind == "node_check" and e.node == "a" for e in bench.state.store.events())


def test_a_node_that_cannot_be_checked_is_backed_off(bench: Bench) -> None:
    bench.fake.nodes["b"].dead = True
    bench.fake.run = _refuse  # type: ignore[method-assign]
    nodes = NodeWatch(bench.state)
    nodes.check_before_reuse("b", 99, "1", 1)
    nodes.free("b", 10.0)
    nodes.poll_checks(10.0)
    assert nodes.backed_off("b", 10.0) and not nodes.free("b", 11.0)
    assert nodes.free("b", 10.0 + bench.state.retry.unreachable_backoff + 0.1)


def _refuse(host: str, argv: object, **kw: object) -> object:
    raise OSError(f"{host}: connection refused")
