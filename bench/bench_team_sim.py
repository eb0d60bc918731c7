"""The simulated parts of ``bench/bench_team.py`` (run it through bench_team.py): one dispatcher on the
SQLite and the PostgreSQL store; one and three dispatchers on 60 simulated nodes; what a dispatcher with
nothing to do pays per step. The dispatchers are driven by hand with the unit tests' fake nodes
(:mod:`tests.engine.fake_farm`) and a simulated clock; the farm database is real.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import psycopg

from bench_team import POLICY, PROBE, REPO, RUNS, USERS, FarmDb, costs_of, new_farm, seen, split, submit_work
from farmhand.engine.pg import schema
from farmhand.lab.pgcluster import PgCluster

# --- part 1: one dispatcher, SQLite against PostgreSQL ----------------------------------------------

def single(cluster: PgCluster, nodes: int, frames: int) -> dict[str, Any]:
    from farmhand.engine.pg.store import PgStore
    from farmhand.engine.store import Store

    result: dict[str, Any] = {"part": "single", "nodes": nodes, "frames": frames}
    result["sqlite_s"] = round(rig_run(Store, nodes, frames), 3)
    database = cluster.create_database(f"bench_single_{secrets.token_hex(2)}")
    with psycopg.connect(cluster.url(database=database), autocommit=True) as conn:
        schema.migrate(conn)
    before = PROBE.snapshot()
    result["postgresql_s"] = round(rig_run(lambda: PgStore(cluster.url(database=database)), nodes, frames), 3)
    result["postgresql_over_sqlite"] = round(result["postgresql_s"] / result["sqlite_s"], 2)
    costs = costs_of(before, PROBE.snapshot(), frames)
    result.update((k, costs[k]) for k in ("round_trips_per_frame", "round_trips_per_step"))
    cluster.drop_database(database)
    return result


def rig_run(open_store: Callable[[], Any], nodes: int, frames: int) -> float:
    """Wall seconds for one dispatcher (no team) to render ``frames`` on ``nodes`` simulated nodes."""
    from tests.engine import rig as rig_module
    from tests.engine.fake_farm import NodeBehaviour

    from farmhand.jobs import JobState

    with tempfile.TemporaryDirectory() as home:
        os.environ["FARMHAND_HOME"] = home
        rig_module.Store = open_store  # type: ignore[attr-defined]
        rig = rig_module.Rig(Path(home), {f"n{i:03d}": NodeBehaviour(spf=1.0) for i in range(nodes)})
        job = rig.submit(f"1-{frames}")

        def finished() -> bool:
            with PROBE.off():
                return rig.client.job(job, events=1).state is JobState.DONE

        started = time.perf_counter()
        rig.drive(finished, dt=0.5, limit=10 * frames)
        took = time.perf_counter() - started
        rig.store.close()
        return took


# --- part 2: one and three dispatchers on a simulated farm ------------------------------------------

SIM_LEASE = 300.0  # leases expire by the server's clock; simulated steps may run slower than real time


def sim_team(cluster: PgCluster, run: str, args: argparse.Namespace) -> dict[str, Any]:
    from farmhand.client import Client
    from farmhand.engine.pg.store import PgStore

    farm = new_farm(cluster, f"sim{run}")
    names = [f"n{i:03d}" for i in range(args.nodes)]
    fake = costed_executor(names, args.costs)
    count = RUNS[run]
    clock = [1000.0]
    with tempfile.TemporaryDirectory() as home:
        os.environ["FARMHAND_HOME"] = home
        dispatchers = [sim_dispatcher(farm, f"dispatcher:bench:{i}", fake, clock, seen(names, run, i))
                       for i in range(count)]
        clients = [Client(PgStore(url), autostart=False) for url in farm.artists]
        gate, jobs, total = submit_work(clients, args.sim_frames, 1.0, args.costs, Path(home) / "out", {})

        def step() -> None:
            clock[0] += 0.1
            fake.advance(clock[0])
            turn = int(clock[0] * 10) % count
            for d in dispatchers[turn:] + dispatchers[:turn]:
                d.step(clock[0])

        def finished(ids: Sequence[str]) -> bool:
            with PROBE.off():
                return all(clients[0].job(j, events=1).state.finished for j in ids)

        while not finished([gate]):
            step()
        released, before = clock[0], PROBE.snapshot()
        while not finished(jobs):
            step()
            if clock[0] - released > 20 * total:
                raise SystemExit(f"sim, run {run}: the jobs did not finish")
        result = {"part": "sim", "run": run, "nodes": args.nodes, "frames": total,
                  "makespan_sim_s": round(clock[0] - released, 1),
                  "ideal_sim_s": round(3 * args.sim_frames / args.nodes, 1),
                  **costs_of(before, PROBE.snapshot(), total), **split(farm, jobs)}
        for c in clients:
            c.close()
        for d in dispatchers:
            d.close()
    cluster.drop_database(farm.name)
    return result


def sim_dispatcher(farm: FarmDb, name: str, fake: Any, clock: list[float], sees: Sequence[str]) -> Any:
    from farmhand.engine.dispatcher import Dispatcher, inline_submit
    from farmhand.engine.pg.store import PgStore
    from farmhand.engine.pg.team import PgTeam
    from farmhand.engine.scheduler import Policy
    from farmhand.engine.state import FarmNode
    from farmhand.jobs import Retry

    store = PgStore(farm.dispatch_url(), writer=name)
    nodes = [FarmNode(n, 4) for n in sees]
    # Its wall clock is the simulated one too, so the chunks' times in the store are simulated seconds.
    return Dispatcher(store, fake, lambda: nodes, clock=lambda: clock[0], wall=lambda: clock[0],
                      submit=inline_submit, retry=Retry(stall_floor=30.0), policy=Policy(**POLICY),
                      node_package=str(REPO / "python" / "farmhand"), team=PgTeam(store, name),
                      lease_seconds=SIM_LEASE)


def costed_executor(names: Sequence[str], costs: Sequence[float]) -> Any:
    """The unit tests' fake nodes, where a frame of user i's job (its output folder is the user's name)
    takes ``costs[i]`` simulated seconds."""
    from tests.engine.fake_farm import FakeExecutor, FakeRender, NodeBehaviour

    by_user = {user: NodeBehaviour(spf=cost) for user, cost in zip(USERS, costs)}

    class Render(FakeRender):
        @property
        def behaviour(self) -> NodeBehaviour:
            return by_user.get(Path(self.output or "").parent.name, self.ex.nodes[self.host])

    class Executor(FakeExecutor):
        def start(self, host: str, argv: Sequence[str], *, on_line: Any, watchdog: bool = True) -> Any:
            self._pgid += 1
            proc = Render(self, host, argv, on_line, self.now, self._pgid)
            self.procs.append(proc)
            return proc

    return Executor({n: NodeBehaviour(spf=1.0) for n in names})


# --- part 3: what a dispatcher with nothing to do pays per step -------------------------------------

def idle(cluster: PgCluster, per_user: int) -> dict[str, Any]:
    """One dispatcher with an empty registry on a farm where three users queued ``per_user`` frames each:
    its step time, the part in ``Team.refresh``, its round trips per step (30 steps, after 3)."""
    from farmhand.client import Client
    from farmhand.engine.pg.store import PgStore
    from farmhand.jobs import JobSpec

    farm, clock = new_farm(cluster, f"idle{per_user}"), [1000.0]
    with tempfile.TemporaryDirectory() as home:
        os.environ["FARMHAND_HOME"] = home
        d = sim_dispatcher(farm, "dispatcher:bench:idle", costed_executor([], (1, 1, 1)), clock, [])
        for url, user in zip(farm.artists, USERS):
            client = Client(PgStore(url), autostart=False)
            client.submit(JobSpec(preset="demo", frames=f"1-{per_user}", output=f"{home}/{user}/f.$F4.png"))
            client.close()
        snapshots = []
        for i in range(34):
            if i in (3, 33):
                snapshots.append(PROBE.snapshot())
            clock[0] += 0.1
            d.step(clock[0])
        d.close()
    cluster.drop_database(farm.name)
    before, after = snapshots
    steps = after["steps"] - before["steps"]
    return {"part": "idle", "frames_queued": 3 * per_user,
            "step_ms": round(1000 * (after["step_s"] - before["step_s"]) / steps, 1),
            "refresh_ms": round(1000 * (after["refresh_s"] - before["refresh_s"]) / steps, 1),
            "round_trips_per_step": round((after["statements"] - before["statements"]) / steps, 1)}
