"""Groups and limits end to end on real sshd nodes, with concurrent jobs: the CLI tags a node and sets a
limit, three jobs render at once, the GPU job stays on the GPU node and the two licensed jobs never hold
more seats than the limit has, while 'farmhand jobs' says which one waits for it."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Callable

import pytest

from farmhand.nodes.registry import Registry

from .conftest import EngineFarm, assert_complete
from .test_e2e_faults import demo_args

pytestmark = [pytest.mark.lab, pytest.mark.slow]

Make = Callable[..., EngineFarm]


def chunk_spans(farm: EngineFarm, jobs: set[str]) -> list[tuple[float, float, str]]:
    """(started, ended, node) of every chunk of ``jobs``, from the store."""
    with sqlite3.connect(farm.home / "jobs.sqlite") as db:
        rows = db.execute("SELECT job, node, started, ended FROM chunks").fetchall()
    return sorted((float(s), float(e if e is not None else time.time() + 1e6), n)
                  for job, n, s, e in rows if str(job) in jobs)


def open_chunks(farm: EngineFarm, jobs: set[str]) -> int:
    """Chunks of ``jobs`` the store says are starting or running now (one dispatcher step's view)."""
    uri = (farm.home / "jobs.sqlite").resolve().as_uri() + "?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        rows = db.execute("SELECT job FROM chunks WHERE state IN ('starting', 'running')").fetchall()
    return sum(1 for (job,) in rows if str(job) in jobs)


def test_groups_and_a_shared_limit_across_concurrent_jobs(engine_farm: Make) -> None:
    farm = engine_farm(n=3)
    farm.farmhand("nodes", "tag", "render01", "gpu")
    farm.farmhand("limits", "set", "karma", "1")
    gpu = farm.submit(*demo_args(farm, "1-10", spf=0.2, out="gpu"), "--group", "gpu", "--chunk", "2")
    first = farm.submit(*demo_args(farm, "1-8", spf=0.2, out="k1"), "--limit", "karma", "--chunk", "2")
    second = farm.submit(*demo_args(farm, "1-8", spf=0.2, out="k2"), "--limit", "karma", "--chunk", "2")
    said_waiting, most = False, 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(farm.client.job(j).state.finished for j in (first, second)):
        most = max(most, open_chunks(farm, {first, second}))
        said_waiting = said_waiting or any(s.hold == "waiting for limit karma (1 of 1 in use)"
                                           for s in farm.client.jobs())
        time.sleep(0.02)
    for job in (gpu, first, second):
        assert_complete(farm, farm.wait(job))
    assert said_waiting
    assert most == 1  # one karma seat: never two chunks holding it in any step the store recorded
    assert {f.node for f in farm.client.job(gpu).frames} == {"render01"}
    assert len(chunk_spans(farm, {first, second})) >= 8
    listed = json.loads(farm.farmhand("limits", "list", "--json").stdout)
    assert listed == [{"capacity": 1, "in_use": 0, "name": "karma", "per_node": False, "waiting": 0}]


def test_a_group_no_node_is_in_is_refused_by_the_cli(engine_farm: Make) -> None:
    farm = engine_farm(n=2)
    result = farm.farmhand("submit", *demo_args(farm, "1-2"), "--group", "gpu", check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == ("farmhand: no trusted, enabled node is in group gpu; groups that exist: "
                                     "houdini-20, houdini-20.5, houdini-20.5.487, houdini-21, houdini-21.0, "
                                     "houdini-21.0.512, linux (tag nodes with 'farmhand nodes tag HOST TAG', "
                                     "or probe them for gpu/houdini-X.Y tags)")
    assert Registry().manual_tags() == {}
    assert farm.client.jobs() == []
