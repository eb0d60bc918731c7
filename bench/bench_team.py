"""Several dispatchers on one PostgreSQL farm database against one alone (issue 14's team benchmark).

    .venv/bin/python bench/bench_team.py --parts single,sim            # no lab, no root needed
    sudo flock /tmp/fh-lab.lock .venv/bin/python bench/bench_team.py   # all three parts (60 lab nodes)

Every part runs on a throwaway PostgreSQL server (:class:`farmhand.lab.pgcluster.PgCluster`) and prints
one JSON row; every ratio is between runs of the same invocation.

* ``single`` — ONE dispatcher without a team, driven by hand on a simulated farm (the unit tests' rig),
  with the SQLite store and with the PostgreSQL store: wall seconds, their ratio, statements per frame.
* ``sim`` — a fresh farm database per run; three artist logins (``farmhand_artist``) each submit one job
  of equal priority, all held behind a one-frame gate job so they become ready in the same step. ONE then
  THREE dispatchers (a ``farmhand_dispatcher`` login each, their own connection, :class:`PgTeam`) render
  them on the same simulated nodes (one :class:`FakeExecutor`, simulated clock, each dispatcher going
  first in turn). Makespan in simulated seconds from the gate's end; the dispatchers' summed step time.
* ``lab`` — the same on real OpenSSH nodes (:class:`farmhand.lab.LocalFarm`, as root): ONE then THREE
  ``farmhand dispatcher`` processes, each with its own FARMHAND_HOME registering every node and
  ``FARMHAND_STORE`` on the farm database (its Unix socket: the lab has its own loopback), the demo
  preset. Wall seconds from the gate's end until the client sees every job finished; each dispatcher's CPU.

Figures of a team run (``sim`` and ``lab``): ``throughput_3_over_1`` = makespan alone / makespan with
three; the node-time split = each user's node-seconds (chunks ``started``..``ended`` joined to
``jobs.owner``) while all three users still had waiting frames (from the first chunk until the earliest of
the users' last first-try chunk starts), as a multiple of an even third, and the worst deviation; round
trips per rendered frame = statements the dispatchers' psycopg cursors sent (each one round trip; COMMIT
is a statement too) over the frames of the three jobs; chunks per dispatcher. In the lab each dispatcher
process counts its own statements (this script started with ``--count-to FILE``).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "python"), str(REPO)]

import psycopg  # noqa: E402

from farmhand.engine.pg import roles, schema  # noqa: E402
from farmhand.engine.pg.roles import FarmRole  # noqa: E402
from farmhand.lab.pgcluster import PgCluster  # noqa: E402

USERS = ("ann", "bob", "cat")
_COUNT = {"on": 1, "n": 0}


def count_round_trips() -> None:
    """Count every statement this process's psycopg cursors send while ``_COUNT['on']`` (one round trip
    each: psycopg sends a statement and its parameters in one exchange; ``Connection.execute`` goes
    through ``Cursor.execute``)."""
    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        _COUNT["n"] += _COUNT["on"]
        return execute(self, *args, **kwargs)

    def counted_many(self: Any, *args: Any, **kwargs: Any) -> Any:
        _COUNT["n"] += _COUNT["on"]
        return executemany(self, *args, **kwargs)

    psycopg.Cursor.execute = counted  # type: ignore[method-assign]
    psycopg.Cursor.executemany = counted_many  # type: ignore[method-assign]


@contextmanager
def uncounted() -> Iterator[None]:
    """The bench's own polls (a client's) are left out of the dispatchers' round trips."""
    _COUNT["on"] = 0
    try:
        yield
    finally:
        _COUNT["on"] = 1


# --- the farm database ------------------------------------------------------------------------------

@dataclass(frozen=True)
class FarmDb:
    cluster: PgCluster
    name: str
    dispatch: tuple[str, str]  # the farmhand_dispatcher login and its password
    artists: tuple[str, ...]   # the artists' URLs (TCP, 127.0.0.1)

    @property
    def admin_url(self) -> str:
        return self.cluster.url(database=self.name)

    def dispatch_url(self, socket: bool = False) -> str:
        url = self.cluster.url(*self.dispatch, database=self.name)
        if not socket:
            return url
        return f"{url.split('@')[0]}@/{self.name}?host={self.cluster.socket_dir}&port={self.cluster.port}"


def new_farm(cluster: PgCluster, tag: str) -> FarmDb:
    """A migrated database with a dispatcher login and three artist logins (roles are cluster-wide)."""
    name = cluster.create_database(f"bench_{tag}")
    logins: list[tuple[str, str]] = []
    with psycopg.connect(cluster.url(database=name), autocommit=True) as conn:
        schema.migrate(conn)
        for stem, role in [("dispatch", FarmRole.DISPATCHER)] + [(u, FarmRole.ARTIST) for u in USERS]:
            logins.append((f"{stem}_{tag}", secrets.token_urlsafe(12)))
            roles.add_user(conn, logins[-1][0], role, logins[-1][1])
    return FarmDb(cluster, name, logins[0], tuple(cluster.url(u, p, name) for u, p in logins[1:]))


def submit_work(clients: Sequence[Any], frames: int, spf: float, costs: Sequence[float], out: Path,
                params: dict[str, str]) -> tuple[str, list[str]]:
    """A one-frame gate job, then one job per user waiting for it, so all three become ready in the same
    step: user ``i``'s frames cost ``spf * costs[i]`` seconds and it has ``frames / costs[i]`` of them
    (equal work, unequal chunk lengths). ``spf`` reaches the lab's renderer as a preset parameter."""
    from farmhand.jobs import JobSpec

    def spec(name: str, count: int, cost: float, **kw: Any) -> JobSpec:
        given = {**params, "seconds_per_frame": f"{spf * cost:g}"} if params else {}
        return JobSpec(preset="demo", frames=f"1-{count}", output=str(out / name / "f.$F4.png"),
                       params=tuple(sorted(given.items())), name=name, **kw)

    gate = clients[0].submit(spec("gate", 1, 1.0))
    jobs = [c.submit(spec(user, round(frames / cost), cost, after=(gate,)))
            for c, user, cost in zip(clients, USERS, costs)]
    return gate, jobs


def costed_executor(names: Sequence[str], costs: Sequence[float]) -> Any:
    """The unit tests' fake nodes, where a frame of user ``i``'s job (its output folder is the user's
    name) takes ``costs[i]`` simulated seconds."""
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


def split(farm: FarmDb, jobs: Sequence[str]) -> dict[str, Any]:
    """Node-time by user while every user had waiting frames, and chunks by dispatcher (see module doc)."""
    with psycopg.connect(farm.admin_url, autocommit=True) as conn:
        rows = conn.execute("SELECT j.owner, c.dispatcher, c.started, coalesce(c.ended, c.started),"
                            " c.backup_of IS NULL FROM chunks c JOIN jobs j ON j.num = c.job"
                            " WHERE c.job = ANY(%s)", ([int(j) for j in jobs],)).fetchall()
    start = min(r[2] for r in rows)
    end = min(max(r[2] for r in rows if r[0] == owner and r[4]) for owner in {r[0] for r in rows})
    seconds: Counter[str] = Counter()
    for owner, _, began, ended, _ in rows:
        seconds[owner] += max(0.0, min(ended, end) - max(began, start))
    total = sum(seconds.values())
    of_even = {owner.split("_")[0]: round(3 * s / total, 3) for owner, s in sorted(seconds.items())}
    return {"fair_window_s": round(end - start, 1), "node_s_over_even": of_even,
            "worst_deviation_pct": round(100 * max(abs(v - 1) for v in of_even.values()), 1),
            "chunks_by_dispatcher": sorted(Counter(r[1] for r in rows).values(), reverse=True)}


# --- part 1: one dispatcher, SQLite against PostgreSQL ----------------------------------------------

def single(cluster: PgCluster, nodes: int, frames: int) -> dict[str, Any]:
    from farmhand.engine.pg.store import PgStore
    from farmhand.engine.store import Store

    result: dict[str, Any] = {"part": "single", "nodes": nodes, "frames": frames}
    result["sqlite_s"] = round(rig_run(Store, nodes, frames), 3)
    database = cluster.create_database("bench_single")
    with psycopg.connect(cluster.url(database=database), autocommit=True) as conn:
        schema.migrate(conn)
    before = _COUNT["n"]
    result["postgresql_s"] = round(rig_run(lambda: PgStore(cluster.url(database=database)), nodes, frames), 3)
    result["postgresql_over_sqlite"] = round(result["postgresql_s"] / result["sqlite_s"], 2)
    result["pg_round_trips_per_frame"] = round((_COUNT["n"] - before) / frames, 1)
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
            with uncounted():
                return rig.client.job(job, events=1).state is JobState.DONE

        started = time.perf_counter()
        rig.drive(finished, dt=0.5, limit=10 * frames)
        took = time.perf_counter() - started
        rig.store.close()
        return took


# --- part 2: one and three dispatchers on a simulated farm ------------------------------------------

#: Chunks of about 12 s, at most 6 frames: the three users' chunks differ in length (9-12 s in the lab).
POLICY = {"target_chunk_seconds": 12.0, "max_chunk_frames": 6}
SIM_LEASE = 300.0  # leases expire by the server's clock; simulated steps may run slower than real time


def sim_team(
    cluster: PgCluster, count: int, nodes: int, frames: int, costs: Sequence[float]
) -> dict[str, Any]:
    from farmhand.client import Client
    from farmhand.engine.pg.store import PgStore
    from farmhand.engine.state import FarmNode

    farm = new_farm(cluster, f"sim{count}_{secrets.token_hex(2)}")
    names = [f"n{i:03d}" for i in range(nodes)]
    fake = costed_executor(names, costs)
    farm_nodes = [FarmNode(n, 4) for n in names]
    clock = [1000.0]
    with tempfile.TemporaryDirectory() as home:
        os.environ["FARMHAND_HOME"] = home
        dispatchers = [sim_dispatcher(farm, f"dispatcher:bench:{i}", fake, farm_nodes, clock)
                       for i in range(count)]
        clients = [Client(PgStore(url), autostart=False) for url in farm.artists]
        gate, jobs = submit_work(clients, frames, 1.0, costs, Path(home) / "out", {})
        total = frame_count(clients[0], jobs)
        stepping = [0.0]

        def step() -> None:
            clock[0] += 0.1
            fake.advance(clock[0])
            turn = int(clock[0] * 10) % count
            began = time.perf_counter()
            for d in dispatchers[turn:] + dispatchers[:turn]:
                d.step(clock[0])
            stepping[0] += time.perf_counter() - began

        def finished(ids: Sequence[str]) -> bool:
            with uncounted():
                return all(clients[0].job(j, events=1).state.finished for j in ids)

        while not finished([gate]):
            step()
        released, stepping[0], before = clock[0], 0.0, _COUNT["n"]
        while not finished(jobs):
            step()
            if clock[0] - released > 20 * total:
                raise SystemExit(f"sim, {count} dispatcher(s): the jobs did not finish")
        result = {"part": "sim", "dispatchers": count, "nodes": nodes, "frames": total,
                  "makespan_sim_s": round(clock[0] - released, 1),
                  "dispatcher_step_wall_s": round(stepping[0], 2),
                  "ideal_sim_s": round(3 * frames / nodes, 1),
                  "round_trips_per_frame": round((_COUNT["n"] - before) / total, 1), **split(farm, jobs)}
        for c in clients:
            c.close()
        for d in dispatchers:
            d.close()
    cluster.drop_database(farm.name)
    return result


def sim_dispatcher(farm: FarmDb, name: str, fake: Any, nodes: list[Any], clock: list[float]) -> Any:
    from farmhand.engine.dispatcher import Dispatcher, inline_submit
    from farmhand.engine.pg.store import PgStore
    from farmhand.engine.pg.team import PgTeam
    from farmhand.engine.scheduler import Policy
    from farmhand.jobs import Retry

    store = PgStore(farm.dispatch_url(), writer=name)
    return Dispatcher(store, fake, lambda: nodes, clock=lambda: clock[0], wall=lambda: clock[0],
                      submit=inline_submit,
                      retry=Retry(stall_floor=30.0), policy=Policy(**POLICY),
                      node_package=str(REPO / "python" / "farmhand"), team=PgTeam(store, name),
                      lease_seconds=SIM_LEASE)


# --- part 3: one and three dispatcher processes on real lab nodes -----------------------------------

LAB_SETTINGS = {
    "retry": {"stall_floor": 10.0, "licence_backoff": 1.0, "unreachable_backoff": 2.0, "cancel_grace": 0.5},
    "policy": POLICY,
    "verify": {"quiet_seconds": 0.5, "grace_seconds": 3.0, "recheck_seconds": 0.5},
}


def lab_team(
    lab: Any, cluster: PgCluster, count: int, args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    from bench_scale import machine_busy, proc_cpu
    from farmhand.client import Client
    from farmhand.engine.pg.store import PgStore

    farm = new_farm(cluster, f"lab{count}_{secrets.token_hex(2)}")
    procs, counts = start_lab_dispatchers(lab, farm, count, work / f"run{count}")
    clients = [Client(PgStore(url), autostart=False) for url in farm.artists]
    try:
        wait(lambda: registered(farm) >= count, 60, "the dispatchers to register")
        gate, jobs = submit_work(clients, args.frames, args.spf, args.costs, lab.share_dir / f"team{count}",
                                 {"size": "16x9"})
        total = frame_count(clients[0], jobs)
        wait(lambda: clients[0].job(gate, events=1).state.finished, 120, "the gate job")
        t0, n0, busy0 = time.monotonic(), read_counts(counts), machine_busy()
        cpu0 = [proc_cpu(p.pid) for p in procs]
        wait(lambda: all(clients[0].job(j, events=1).state.finished for j in jobs), 900, "the three jobs")
        t1, n1, busy1 = time.monotonic(), read_counts(counts), machine_busy()
        cpu1 = [proc_cpu(p.pid) for p in procs]
        states = {clients[0].job(j, events=1).state.value for j in jobs}
    finally:
        for c in clients:
            c.close()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)
    took = t1 - t0
    result = {"part": "lab", "dispatchers": count, "nodes": len(lab.nodes), "frames": total,
              "job_states": sorted(states), "wall_s": round(took, 2),
              "ideal_s": round(3 * args.frames * args.spf / len(lab.nodes), 1),
              "round_trips_per_frame": round((n1 - n0) / total, 1),
              "dispatcher_cpu_pct_of_one_core": [round(100 * (b - a) / took, 1) for a, b in zip(cpu0, cpu1)],
              "machine_cpu_pct": round(100 * (busy1[0] - busy0[0]) / (busy1[1] - busy0[1]), 1),
              **split(farm, jobs)}
    cluster.drop_database(farm.name)
    return result


def start_lab_dispatchers(lab: Any, farm: FarmDb, count: int, work: Path) -> tuple[list[Any], list[Path]]:
    """``count`` dispatcher processes, each with its own FARMHAND_HOME registering every lab node."""
    from farmhand.nodes.registry import Registry

    procs, counts = [], []
    for i in range(count):
        home = work / f"home{i}"
        home.mkdir(parents=True)
        os.environ["FARMHAND_HOME"] = str(home)
        registry = Registry()
        for node in lab.nodes:
            registry.add(node.name, node.address, port=node.port, user=lab.user,
                         identity=str(lab.identity_file))
            registry.record_inventory(node.name, {"hostname": node.hostname, "os": "linux",
                                                  "cpus_logical": 8})
        lab.trust()
        (home / "dispatcher.json").write_text(json.dumps(LAB_SETTINGS))
        counts.append(work / f"statements{i}")
        env = dict(os.environ, PYTHONPATH=str(REPO / "python"), FARMHAND_STORE=farm.dispatch_url(socket=True),
                   FARMHAND_NODE_PACKAGE=str(REPO / "python" / "farmhand"))
        with open(work / f"dispatcher{i}.log", "ab") as log:
            argv = [sys.executable, str(Path(__file__).resolve()), "--count-to", str(counts[-1])]
            procs.append(lab.popen_in_lab(argv, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL))
    return procs, counts


def frame_count(client: Any, jobs: Sequence[str]) -> int:
    return sum(len(client.job(j, events=1).frames) for j in jobs)


def registered(farm: FarmDb) -> int:
    with psycopg.connect(farm.admin_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM dispatchers").fetchone()
    return int(row[0]) if row else 0


def read_counts(files: Sequence[Path]) -> int:
    return sum(int(f.read_text() or 0) for f in files if f.exists())


def wait(predicate: Callable[[], bool], limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {limit:.0f} s waiting for {what}")
        time.sleep(0.1)


def counting_dispatcher(path: Path) -> int:
    """``farmhand dispatcher`` in this process, writing its statement count to ``path`` every 0.2 s."""
    count_round_trips()

    def publish() -> None:
        while True:
            path.with_suffix(".tmp").write_text(str(_COUNT["n"]))
            path.with_suffix(".tmp").replace(path)
            time.sleep(0.2)

    threading.Thread(target=publish, daemon=True).start()
    from farmhand.cli import main as cli

    return cli(["dispatcher"])


# --- the run ----------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="single,sim,lab", help="comma-separated: single, sim, lab")
    parser.add_argument("--single-nodes", type=int, default=8)
    parser.add_argument("--single-frames", type=int, default=400)
    parser.add_argument("--nodes", type=int, default=60, help="nodes of the team parts (sim and lab)")
    parser.add_argument("--frames", type=int, default=320, help="lab: frames per user at cost 1")
    parser.add_argument("--sim-frames", type=int, default=1200, help="sim: frames per user at cost 1")
    parser.add_argument("--spf", type=float, default=3.0, help="lab: seconds per frame at cost 1")
    parser.add_argument("--costs", type=lambda t: [float(c) for c in t.split(",")], default=[1.0, 2.0, 0.5],
                        help="the three users' frame costs (default 1,2,0.5)")
    parser.add_argument("--count-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count_to:
        return counting_dispatcher(args.count_to)
    parts = set(args.parts.split(","))
    if parts - {"single", "sim", "lab"}:
        parser.error(f"--parts: unknown {', '.join(sorted(parts - {'single', 'sim', 'lab'}))}")
    count_round_trips()
    with PgCluster() as cluster:
        if "single" in parts:
            print(json.dumps(single(cluster, args.single_nodes, args.single_frames)), flush=True)
        if "sim" in parts:
            rows = [sim_team(cluster, n, args.nodes, args.sim_frames, args.costs) for n in (1, 3)]
            for row in rows:
                print(json.dumps(row), flush=True)
            print(json.dumps(ratios("sim", rows, "makespan_sim_s")), flush=True)
        if "lab" in parts:
            print(json.dumps(ratios("lab", lab_rows(cluster, args), "wall_s")), flush=True)
    return 0


def lab_rows(cluster: PgCluster, args: argparse.Namespace) -> list[dict[str, Any]]:
    from farmhand.lab import LocalFarm

    work = Path(tempfile.mkdtemp(prefix="fh-team-"))
    started = time.monotonic()
    with LocalFarm(n=args.nodes, mode="netns") as lab:
        up = round(time.monotonic() - started, 1)
        print(json.dumps({"lab_nodes": args.nodes, "lab_up_s": up}), flush=True)
        rows = []
        for n in (1, 3):
            rows.append(lab_team(lab, cluster, n, args, work))
            print(json.dumps(rows[-1]), flush=True)
    return rows


def ratios(part: str, rows: Sequence[dict[str, Any]], key: str) -> dict[str, Any]:
    one, three = rows
    return {"part": part, "throughput_3_over_1": round(one[key] / three[key], 3),
            "worst_split_deviation_pct": {"1": one["worst_deviation_pct"], "3": three["worst_deviation_pct"]},
            "round_trips_per_frame": {"1": one["round_trips_per_frame"], "3": three["round_trips_per_frame"]}}


if __name__ == "__main__":
    sys.exit(main())
