"""End to end on real sshd nodes with the job store in PostgreSQL (``FARMHAND_STORE``): the CLI submits,
the dispatcher it starts renders on the lab's nodes, every row lives in the farm database; the server
restarted mid-job loses nothing. The dispatcher reaches the server over its Unix socket (the lab's
network namespace has its own loopback)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import psycopg
import pytest
from tests.engine.conftest import FAST_SETTINGS, EngineFarm, assert_complete

from farmhand import paths
from farmhand.engine.pg import schema
from farmhand.engine.store import Store
from farmhand.jobs import FrameState
from farmhand.lab import LocalFarm
from farmhand.lab.pgcluster import PgCluster

pytestmark = [pytest.mark.lab, pytest.mark.slow]
Make = Callable[[PgCluster, str], EngineFarm]


def socket_url(cluster: PgCluster, database: str) -> str:
    """The superuser's URL over the cluster's Unix socket, password in the URL (a test cluster's)."""
    base = cluster.url(database=database)
    return f"{base.split('@')[0]}@/{database}?host={cluster.socket_dir}&port={cluster.port}"


@pytest.fixture
def pg_engine_farm(
    make_lab: Callable[..., LocalFarm], farmhand_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Make]:
    farms: list[EngineFarm] = []

    def make(cluster: PgCluster, database: str, n: int = 3) -> EngineFarm:
        with psycopg.connect(cluster.url(database=database), autocommit=True) as conn:
            schema.migrate(conn)
        monkeypatch.setenv("FARMHAND_STORE", socket_url(cluster, database))
        lab = make_lab(n=n)
        lab.trust()
        ssh = Path(os.path.expanduser("~/.ssh/config"))
        ssh.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        ssh.write_text(lab.ssh_config_text())
        farmhand_home.mkdir(parents=True, exist_ok=True)
        (farmhand_home / "dispatcher.json").write_text(json.dumps(FAST_SETTINGS))
        farm = EngineFarm(lab, farmhand_home)
        farm.register()
        farms.append(farm)
        return farm

    yield make
    for farm in farms:
        farm.stop_dispatcher()
        farm.client.close()
    for farm in farms:
        farm.assert_no_orphans()


def demo_args(farm: EngineFarm, frames: str, spf: float = 0.2) -> list[str]:
    return ["--preset", "demo", "--frames", frames, "--output", str(farm.share / "out" / "img.$F4.png"),
            "--param", f"seconds_per_frame={spf}"]


def frames_in_database(cluster: PgCluster, database: str, job: str) -> dict[str, int]:
    with psycopg.connect(cluster.url(database=database), autocommit=True) as conn:
        found = conn.execute("SELECT state, count(*) FROM frames WHERE job = %s GROUP BY state",
                             (int(job.lstrip("#")),)).fetchall()
    return {str(state): int(n) for state, n in found}


def sqlite_jobs() -> list[str]:
    """Jobs in FARMHAND_HOME's SQLite store (engine.previews still opens one of its own: see docs/team.md)."""
    if not paths.jobs_db().exists():
        return []
    store = Store(readonly=True)
    try:
        return store.job_ids()
    finally:
        store.close()


def test_one_dispatcher_renders_a_job_with_the_postgresql_store(
    pg_cluster: PgCluster, pg_engine_farm: Make
) -> None:
    database = pg_cluster.create_database("lab_one")
    try:
        farm = pg_engine_farm(pg_cluster, database)
        job = farm.submit(*demo_args(farm, "1-30"))
        snap = farm.wait(job, timeout=120)
        assert_complete(farm, snap)
        assert len({r.node for r in snap.frames}) > 1  # spread over the lab's nodes
        assert frames_in_database(pg_cluster, database, job) == {FrameState.DONE.value: 30}
        assert sqlite_jobs() == []  # nothing went to a SQLite store
        farm.stop_dispatcher()
    finally:
        pg_cluster.drop_database(database)


def test_postgresql_restarted_mid_job_loses_nothing(
    make_cluster: Callable[..., PgCluster], pg_engine_farm: Make
) -> None:
    cluster = make_cluster()
    database = cluster.create_database("lab_restart")
    farm = pg_engine_farm(cluster, database)
    job = farm.submit(*demo_args(farm, "1-40", spf=0.3))
    farm.wait_for(lambda: farm.client.job(job).summary.frames_done >= 6, timeout=60, what="some frames done")
    before = {r.frame for r in farm.client.job(job).frames if r.state is FrameState.DONE}
    cluster.restart()
    snap = farm.wait(job, timeout=150)
    assert_complete(farm, snap)
    assert before <= {r.frame for r in snap.frames if r.state is FrameState.DONE}
    assert frames_in_database(cluster, database, job) == {FrameState.DONE.value: 40}
    farm.stop_dispatcher()


