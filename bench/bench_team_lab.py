"""The lab part of ``bench/bench_team.py``: one, then three ``farmhand dispatcher`` processes on real
OpenSSH lab nodes sharing one farm database (run it through bench_team.py, as root, under the lab lock).

Each dispatcher has its own FARMHAND_HOME registering every lab node (as an artist's registry would) and
``FARMHAND_STORE`` on the farm database with a ``farmhand_dispatcher`` login, over the cluster's Unix
socket (the lab's namespace has its own loopback). It runs as ``bench_team_lab.py --count-to FILE``:
``farmhand dispatcher`` in that process, writing what it cost (:class:`bench_team.Probe`) to FILE every
0.2 s. The three artists submit from here over TCP; the demo preset renders 16x9 PNGs on the nodes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_scale import machine_busy, proc_cpu
from bench_team import POLICY, PROBE, REPO, RUNS, FarmDb, costs_of, new_farm, seen, split, submit_work
from farmhand.lab.pgcluster import PgCluster

SETTINGS = {
    "retry": {"stall_floor": 10.0, "licence_backoff": 1.0, "unreachable_backoff": 2.0, "cancel_grace": 0.5},
    "policy": POLICY,
    "verify": {"quiet_seconds": 0.5, "grace_seconds": 3.0, "recheck_seconds": 0.5},
}


def lab_rows(cluster: PgCluster, args: argparse.Namespace) -> list[dict[str, Any]]:
    """A row per team run (:data:`bench_team.RUNS`) on one lab of ``args.nodes`` nodes."""
    from farmhand.lab import LocalFarm

    work = Path(tempfile.mkdtemp(prefix="fh-team-"))
    started = time.monotonic()
    with LocalFarm(n=args.nodes, mode="netns") as lab:
        up = round(time.monotonic() - started, 1)
        print(json.dumps({"lab_nodes": args.nodes, "lab_up_s": up}), flush=True)
        rows = []
        for run in RUNS:
            rows.append(lab_team(lab, cluster, run, args, work / f"run{run}"))
            print(json.dumps(rows[-1]), flush=True)
    shutil.rmtree(work)  # the dispatchers' homes and logs, kept only when a run failed
    return rows


def lab_team(
    lab: Any, cluster: PgCluster, run: str, args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    from farmhand.client import Client
    from farmhand.engine.pg.store import PgStore

    farm = new_farm(cluster, f"lab{run}")
    count = RUNS[run]
    procs, probes = start_dispatchers(lab, farm, run, work)
    clients = [Client(PgStore(url), autostart=False) for url in farm.artists]
    try:
        wait(lambda: registered(farm) >= count, 60, "the dispatchers to register")
        gate, jobs, total = submit_work(clients, args.frames, args.spf, args.costs,
                                        lab.share_dir / work.name, {"size": "16x9"})
        wait(lambda: clients[0].job(gate, events=1).state.finished, 120, "the gate job")
        t0, p0, busy0, cpu0 = time.monotonic(), read(probes), machine_busy(), [proc_cpu(p.pid) for p in procs]
        wait(lambda: all(clients[0].job(j, events=1).state.finished for j in jobs), 900, "the three jobs")
        t1, p1, busy1, cpu1 = time.monotonic(), read(probes), machine_busy(), [proc_cpu(p.pid) for p in procs]
        states = sorted({clients[0].job(j, events=1).state.value for j in jobs})
    finally:
        for c in clients:
            c.close()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(60)
    took = t1 - t0
    result = {"part": "lab", "run": run, "nodes": len(lab.nodes), "frames": total,
              "job_states": states, "wall_s": round(took, 2),
              "ideal_s": round(3 * args.frames * args.spf / len(lab.nodes), 1),
              **costs_of(p0, p1, total), "steps_per_s": round((p1["steps"] - p0["steps"]) / took, 1),
              "write_lock_held_pct_of_wall": round(100 * (p1["write_held_s"] - p0["write_held_s"]) / took, 1),
              "dispatcher_cpu_pct_of_one_core": [round(100 * (b - a) / took, 1) for a, b in zip(cpu0, cpu1)],
              "machine_cpu_pct": round(100 * (busy1[0] - busy0[0]) / (busy1[1] - busy0[1]), 1),
              **split(farm, jobs)}
    cluster.drop_database(farm.name)
    return result


def start_dispatchers(lab: Any, farm: FarmDb, run: str, work: Path) -> tuple[list[Any], list[Path]]:
    """The dispatcher processes of ``run``, each with its own FARMHAND_HOME registering the nodes it sees."""
    from farmhand.nodes.registry import Registry

    procs, probes = [], []
    for i in range(RUNS[run]):
        home = work / f"home{i}"
        home.mkdir(parents=True)
        os.environ["FARMHAND_HOME"] = str(home)
        registry = Registry()
        for node in seen(lab.nodes, run, i):
            registry.add(node.name, node.address, port=node.port, user=lab.user,
                         identity=str(lab.identity_file))
            registry.record_inventory(node.name, {"hostname": node.hostname, "os": "linux",
                                                  "cpus_logical": 8})
        lab.trust()
        (home / "dispatcher.json").write_text(json.dumps(SETTINGS))
        probes.append(work / f"probe{i}.json")
        env = dict(os.environ, PYTHONPATH=str(REPO / "python"), FARMHAND_STORE=farm.dispatch_url(socket=True),
                   FARMHAND_NODE_PACKAGE=str(REPO / "python" / "farmhand"))
        argv = [sys.executable, str(Path(__file__).resolve()), "--count-to", str(probes[-1])]
        with open(work / f"dispatcher{i}.log", "ab") as log:
            procs.append(lab.popen_in_lab(argv, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL))
    return procs, probes


def registered(farm: FarmDb) -> int:
    import psycopg

    with psycopg.connect(farm.admin_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM dispatchers").fetchone()
    return int(row[0]) if row else 0


def read(files: Sequence[Path]) -> dict[str, float]:
    """The dispatchers' probes summed."""
    total = {k: 0.0 for k in PROBE.figures}
    for f in files:
        for k, v in json.loads(f.read_text()).items():
            total[k] += v
    return total


def wait(predicate: Callable[[], bool], limit: float, what: str) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {limit:.0f} s waiting for {what}")
        time.sleep(0.1)


def counting_dispatcher(path: Path) -> int:
    """``farmhand dispatcher`` in this process, writing its probe to ``path`` every 0.2 s."""
    PROBE.install()

    def publish() -> None:
        while True:
            path.with_suffix(".tmp").write_text(json.dumps(PROBE.snapshot()))
            path.with_suffix(".tmp").replace(path)
            time.sleep(0.2)

    publish_thread = threading.Thread(target=publish, daemon=True)
    publish_thread.start()
    from farmhand.cli import main as cli

    return cli(["dispatcher"])


if __name__ == "__main__":
    if sys.argv[1:2] != ["--count-to"] or len(sys.argv) != 3:
        sys.exit("run bench/bench_team.py (this is its lab part)")
    sys.exit(counting_dispatcher(Path(sys.argv[2])))
