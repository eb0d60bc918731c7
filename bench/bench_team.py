"""The job store on PostgreSQL against SQLite, for ONE dispatcher: time per step and database round trips
per rendered frame (issue 14's team-farm benchmark, the part that runs today).

    .venv/bin/python bench/bench_team.py                      # 8 simulated nodes, 400 frames
    .venv/bin/python bench/bench_team.py --nodes 20 --frames 1000

The dispatcher is driven by hand on a simulated farm (the unit tests' rig: fake executor, simulated
clock, real store and files), once with the SQLite store in a temporary FARMHAND_HOME and once with a
throwaway PostgreSQL server (:class:`farmhand.lab.pgcluster.PgCluster`, Debian's ``postgresql``). It prints
JSON: wall seconds per backend, their ratio, and the statements the PostgreSQL store sent per frame (each
one a round trip, counting the bench's own poll of the job after every step, as a client's). NOT
measured yet, because several dispatchers on one database are not wired
(docs/team.md): three dispatchers sharing lab nodes, throughput against one, and the node-time split
between equal-priority users.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "python"), str(REPO)]

import psycopg  # noqa: E402
from tests.engine import rig as rig_module  # noqa: E402
from tests.engine.fake_farm import NodeBehaviour  # noqa: E402

from farmhand.engine.pg import schema  # noqa: E402
from farmhand.engine.pg.sqlite_dialect import PgConnection  # noqa: E402
from farmhand.engine.pg.store import PgStore  # noqa: E402
from farmhand.engine.store import Store  # noqa: E402
from farmhand.jobs import JobState  # noqa: E402
from farmhand.lab.pgcluster import PgCluster  # noqa: E402


def run(open_store: Callable[[], Store], nodes: int, frames: int) -> float:
    """Wall seconds for one dispatcher to render ``frames`` on ``nodes`` simulated nodes."""
    with tempfile.TemporaryDirectory() as home:
        os.environ["FARMHAND_HOME"] = home
        rig_module.Store = open_store  # type: ignore[misc,assignment]
        rig = rig_module.Rig(Path(home), {f"n{i:03d}": NodeBehaviour(spf=1.0) for i in range(nodes)})
        job = rig.submit(f"1-{frames}")
        started = time.perf_counter()
        rig.drive(lambda: rig.client.job(job, events=1).state is JobState.DONE, dt=0.5, limit=10 * frames)
        took = time.perf_counter() - started
        rig.store.close()
        return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--frames", type=int, default=400)
    args = parser.parse_args()
    result: dict[str, Any] = {"nodes": args.nodes, "frames": args.frames}
    result["sqlite_s"] = round(run(Store, args.nodes, args.frames), 3)
    statements = [0]
    original = PgConnection.execute

    def counted(self: PgConnection, sql: str, params: Any = ()) -> Any:
        statements[0] += 1
        return original(self, sql, params)

    with PgCluster() as cluster:
        database = cluster.create_database("bench_team")
        with psycopg.connect(cluster.url(database=database), autocommit=True) as conn:
            schema.migrate(conn)
        PgConnection.execute = counted  # type: ignore[method-assign]
        try:
            result["postgresql_s"] = round(run(lambda: PgStore(cluster.url(database=database)),
                                               args.nodes, args.frames), 3)
        finally:
            PgConnection.execute = original  # type: ignore[method-assign]
    result["postgresql_over_sqlite"] = round(result["postgresql_s"] / result["sqlite_s"], 2)
    result["pg_statements_per_frame"] = round(statements[0] / args.frames, 1)
    result["not_measured"] = "three dispatchers sharing nodes; node-time split between users (not wired)"
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
