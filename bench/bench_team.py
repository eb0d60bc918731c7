"""Several dispatchers on one PostgreSQL farm database against one alone (issue 14's team benchmark).

    .venv/bin/python bench/bench_team.py --parts single,sim            # no lab (a few minutes)
    sudo flock /tmp/fh-lab.lock .venv/bin/python bench/bench_team.py   # and 60 real lab nodes

Every part runs on a throwaway PostgreSQL server (:class:`farmhand.lab.pgcluster.PgCluster`) and prints
JSON rows; every ratio is between runs of the same invocation. This module holds what the parts share;
the simulated parts are in :mod:`bench_team_sim`, the lab part in :mod:`bench_team_lab`.

* ``single`` — ONE dispatcher without a team on a simulated farm (the unit tests' rig), with the SQLite
  store and with the PostgreSQL store: wall seconds, their ratio, round trips per frame.
* ``sim`` — a fresh farm database per run; three artist logins (``farmhand_artist``) each submit one job,
  equal priority, all held behind a one-frame gate job so they become ready in the same step; user i's
  frames cost ``--costs`` [i] (equal work, chunks of unequal length). Run ``1``: ONE dispatcher; ``3``:
  THREE (a ``farmhand_dispatcher`` login, own connection and :class:`PgTeam` each) that all see the same
  60 simulated nodes; ``3split``: three that each see a third of them (one fake executor, simulated clock,
  each dispatcher going first in turn). Makespan in simulated seconds from the gate's end.
* ``idle`` — one dispatcher with no node on a farm with 900, 3600, 14 400 queued frames: what a step costs
  a dispatcher that has nothing to do (every dispatcher re-reads the farm each step).
* ``lab`` — the same as ``sim`` with ``farmhand dispatcher`` processes on real OpenSSH nodes
  (:mod:`bench_team_lab`, as root): wall seconds from the gate's end until a client sees every job done.

Per team run: ``throughput_over_1`` = makespan of run ``1`` / makespan of the run; the node-time split = each
user's node-seconds (chunks ``started``..``ended`` joined to ``jobs.owner``) while all three users had
waiting frames (from the first chunk to the earliest of the users' last first-try chunk starts) over an
even third, and its worst deviation; round trips = statements the dispatchers' psycopg cursors sent (one
exchange each, ``COMMIT`` included) per rendered frame and per dispatcher step; the share of step time in
``Team.refresh`` (re-reading every loaded job and its frames); chunks rendered by each dispatcher.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
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
#: Chunks of about 12 s, at most 6 frames: the users' chunks differ in length (9-12 s in the lab).
POLICY = {"target_chunk_seconds": 12.0, "max_chunk_frames": 6}


class Probe:
    """What this process's dispatchers cost: statements sent (each one round trip: psycopg sends a
    statement with its parameters in one exchange, and ``Connection.execute`` goes through
    ``Cursor.execute``) and the seconds spent in them, of which in the statement that opens a write
    transaction by taking the farm's write lock (``write_lock_s``), and the seconds the lock was then
    held until ``COMMIT``/``ROLLBACK`` (``write_held_s``: the lock is exclusive, so summed over every
    dispatcher it is the share of time the farm had a writer); dispatcher steps and their seconds, of
    which in ``Team.refresh``."""

    def __init__(self) -> None:
        self.on = 1
        self.figures = dict.fromkeys(("statements", "statement_s", "write_lock_s", "write_held_s", "steps",
                                      "step_s", "refresh_s"), 0.0)
        self.locked_at: dict[int, float] = {}  # connection id -> when it got the write lock

    def install(self) -> None:
        from farmhand.engine.dispatcher import Dispatcher
        from farmhand.engine.team import Team

        figures = self.figures

        def timed(fn: Callable[..., Any], key: str, count: str = "") -> Callable[..., Any]:
            def wrapper(this: Any, *args: Any, **kwargs: Any) -> Any:
                if not self.on:
                    return fn(this, *args, **kwargs)
                began = time.perf_counter()
                try:
                    return fn(this, *args, **kwargs)
                finally:
                    took = time.perf_counter() - began
                    figures[key] += took
                    if count:
                        figures[count] += 1
                    if count == "statements":
                        self.held(this, args[0] if args else "", took)
            return wrapper

        psycopg.Cursor.execute = timed(psycopg.Cursor.execute, "statement_s", "statements")  # type: ignore[method-assign]
        psycopg.Cursor.executemany = timed(psycopg.Cursor.executemany, "statement_s", "statements")  # type: ignore[method-assign]
        Dispatcher.step = timed(Dispatcher.step, "step_s", "steps")  # type: ignore[method-assign]
        Team.refresh = timed(Team.refresh, "refresh_s")  # type: ignore[method-assign]

    def held(self, cursor: Any, statement: Any, took: float) -> None:
        from farmhand.engine.pg.sqlite_dialect import LOCK_STATEMENT

        conn, now = id(cursor.connection), time.perf_counter()
        if statement == LOCK_STATEMENT:
            self.figures["write_lock_s"] += took
            self.locked_at[conn] = now
        elif statement in ("COMMIT", "ROLLBACK") and conn in self.locked_at:
            self.figures["write_held_s"] += now - self.locked_at.pop(conn)

    @contextmanager
    def off(self) -> Iterator[None]:
        """The bench's own polls (a client's) are left out of the dispatchers' round trips."""
        self.on = 0
        try:
            yield
        finally:
            self.on = 1

    def snapshot(self) -> dict[str, float]:
        return dict(self.figures)


PROBE = Probe()


def costs_of(before: dict[str, float], after: dict[str, float], frames: int) -> dict[str, Any]:
    """Round trips per frame and per step; the share of step time in statements, in taking the write
    lock, in re-reading the farm."""
    d = {k: after[k] - before[k] for k in before}
    return {"round_trips_per_frame": round(d["statements"] / frames, 1),
            "round_trips_per_step": round(d["statements"] / max(d["steps"], 1), 1),
            "steps": int(d["steps"]), "step_s": round(d["step_s"], 2),
            **{f"{k}_pct_of_step": round(100 * d[f"{k}_s"] / max(d["step_s"], 1e-9), 1)
               for k in ("statement", "write_lock", "write_held", "refresh")}}


# --- the farm database and the three users' work ----------------------------------------------------

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
    tag = f"{tag}_{secrets.token_hex(2)}"
    name = cluster.create_database(f"bench_{tag}")
    logins: list[tuple[str, str]] = []
    with psycopg.connect(cluster.url(database=name), autocommit=True) as conn:
        schema.migrate(conn)
        for stem, role in [("dispatch", FarmRole.DISPATCHER)] + [(u, FarmRole.ARTIST) for u in USERS]:
            logins.append((f"{stem}_{tag}", secrets.token_urlsafe(12)))
            roles.add_user(conn, logins[-1][0], role, logins[-1][1])
    return FarmDb(cluster, name, logins[0], tuple(cluster.url(u, p, name) for u, p in logins[1:]))


def submit_work(clients: Sequence[Any], frames: int, spf: float, costs: Sequence[float], out: Path,
                params: dict[str, str]) -> tuple[str, list[str], int]:
    """A one-frame gate job, then one job per user waiting for it, so all three become ready in the same
    step: user i has ``frames / costs[i]`` frames of ``spf * costs[i]`` seconds (the lab's renderer reads
    it from ``params``). Returns the gate, the jobs and their frame count."""
    from farmhand.jobs import JobSpec

    def spec(name: str, count: int, cost: float, **kw: Any) -> JobSpec:
        given = {**params, "seconds_per_frame": f"{spf * cost:g}"} if params else {}
        return JobSpec(preset="demo", frames=f"1-{count}", output=str(out / name / "f.$F4.png"),
                       params=tuple(sorted(given.items())), name=name, **kw)

    gate = clients[0].submit(spec("gate", 1, 1.0))
    counts = [round(frames / cost) for cost in costs]
    jobs = [c.submit(spec(user, n, cost, after=(gate,)))
            for c, user, n, cost in zip(clients, USERS, counts, costs)]
    return gate, jobs, sum(counts)


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


#: The team runs: one dispatcher; three that each see every node; three that each see a third of them
#: (each artist's registry holds only their own nodes), so that all three dispatch at once.
RUNS = {"1": 1, "3": 3, "3split": 3}


def seen(nodes: Sequence[Any], run: str, i: int) -> list[Any]:
    """The nodes dispatcher ``i`` of ``run`` has in its registry."""
    return list(nodes[i::3] if run == "3split" else nodes)


# --- the run ----------------------------------------------------------------------------------------

def ratios(part: str, rows: Sequence[dict[str, Any]], key: str) -> dict[str, Any]:
    one = rows[0]

    def each(field: str) -> dict[str, Any]:
        return {row["run"]: row[field] for row in rows}

    return {"part": part, "throughput_over_1": {r["run"]: round(one[key] / r[key], 3) for r in rows[1:]},
            "worst_split_deviation_pct": each("worst_deviation_pct"),
            "round_trips_per_frame": each("round_trips_per_frame"), "chunks_by_dispatcher": each(
                "chunks_by_dispatcher")}


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parts", default="single,sim,idle,lab", help="any of single,sim,idle,lab")
    parser.add_argument("--single-nodes", type=int, default=8)
    parser.add_argument("--single-frames", type=int, default=400)
    parser.add_argument("--nodes", type=int, default=60, help="nodes of the team parts (sim and lab)")
    parser.add_argument("--frames", type=int, default=320, help="lab: frames per user at cost 1")
    parser.add_argument("--sim-frames", type=int, default=1200, help="sim: frames per user at cost 1")
    parser.add_argument("--spf", type=float, default=3.0, help="lab: seconds per frame at cost 1")
    parser.add_argument("--costs", type=lambda t: [float(c) for c in t.split(",")], default=[1.0, 2.0, 0.5],
                        help="the three users' frame costs (default 1,2,0.5)")
    args = parser.parse_args(argv)
    args.parts = set(args.parts.split(","))
    unknown = args.parts - {"single", "sim", "idle", "lab"}
    if unknown:
        parser.error(f"--parts: unknown {', '.join(sorted(unknown))}")
    if len(args.costs) != 3 or min(args.costs) <= 0:
        parser.error("--costs: three positive numbers, one per user")
    return args


def main() -> int:
    args = arguments()
    PROBE.install()
    with PgCluster() as cluster:
        from bench_team_sim import idle, sim_team, single

        if "single" in args.parts:
            print(json.dumps(single(cluster, args.single_nodes, args.single_frames)), flush=True)
        if "sim" in args.parts:
            rows = [sim_team(cluster, run, args) for run in RUNS]
            for row in rows:
                print(json.dumps(row), flush=True)
            print(json.dumps(ratios("sim", rows, "makespan_sim_s")), flush=True)
        if "idle" in args.parts:
            for per_user in (300, 1200, 4800):
                print(json.dumps(idle(cluster, per_user)), flush=True)
        if "lab" in args.parts:
            from bench_team_lab import lab_rows

            print(json.dumps(ratios("lab", lab_rows(cluster, args), "wall_s")), flush=True)
    return 0


if __name__ == "__main__":
    sys.modules.setdefault("bench_team", sys.modules["__main__"])  # one copy for bench_team_lab
    sys.exit(main())
