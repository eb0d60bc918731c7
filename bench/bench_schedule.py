"""Scheduling with start costs: makespan over the ideal, new policy vs previous policy vs a static split.

    .venv/bin/python bench/bench_schedule.py sim                 # the full grid in the simulator (~1 s)
    sudo flock /tmp/fh-lab.lock .venv/bin/python bench/bench_schedule.py lab   # real sshd nodes (~25 min)
    sudo ... bench_schedule.py lab --quick                       # the lab cells with the new policy only

Every cell is one job of 240 frames on four nodes of speeds 1:2:4:4 and prints its makespan over the
ideal ``Σwork / Σspeed + one start`` (goal ≤ 1.10×). The grid:

* start cost per chunk 0.3 s or 3 s (connect + renderer start + scene load, the same on every node);
* frames of 0.1–0.4 s (0.4 s at speed 1), 0.5–2 s (2 s at speed 1), and — simulator only — frames of
  0.1–2 s whose cost varies at random frame to frame, or as a ramp along the range (a heavy middle);
* what the scheduler knows before the job measures anything: ``equal`` (every node reports the same
  cores: a farm with no history), ``cores`` (inventory cores 1:2:4:4, matching the speeds), ``warm``
  (an earlier job on the farm measured the speeds; in the simulator 10 % off, on the lab a 40-frame job
  just before);
* ``new`` is this tree's policy, ``previous`` the policy before start costs counted (commit
  :data:`PREVIOUS`: scheduler and assigner — on the lab its whole tree runs, dispatcher and client),
  ``static`` one fixed chunk of 60 frames per node and no tail.

Simulator cells are one seeded run with ±10 % noise on every frame; lab cells are one real run each: the
stand-in renderer on real OpenSSH nodes in network namespaces (``--speed-map`` for the speeds, a user
preset that sleeps for the start cost before the renderer starts), the dispatcher as its own process.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
TREE = Path(os.environ.get("FH_BENCH_TREE", REPO))  # the tree whose farmhand runs (lab cells: previous)
sys.path.insert(0, str(TREE / "python"))

#: The last commit with the previous policy (chunk sizes and tail that ignore start costs).
PREVIOUS = "5cb0a65c9a153d5d62408a9349b41f4fbd843f6c"
SPEEDS = {"render01": 1.0, "render02": 2.0, "render03": 4.0, "render04": 4.0}
FRAMES = 240
STATIC_CHUNK = FRAMES // len(SPEEDS)
GOAL = 1.10


def profile(name: str, n: int = FRAMES) -> list[float]:
    """Seconds per frame at speed 1 for each frame."""
    if name == "short":
        return [0.4] * n
    if name == "long":
        return [2.0] * n
    if name == "random":
        rng = random.Random(7)
        return [rng.uniform(0.4, 2.0) for _ in range(n)]
    return [0.4 + 1.6 * (0.5 - 0.5 * math.cos(2 * math.pi * i / n)) for i in range(n)]  # ramp


def ideal(costs: list[float], start: float) -> float:
    return sum(costs) / sum(SPEEDS.values()) + start


# --- the simulator --------------------------------------------------------------------------------------


def previous_scheduler() -> ModuleType:
    """The previous scheduler module, read from git (it only needs the standard library)."""
    text = subprocess.run(["git", "-C", str(REPO), "show", f"{PREVIOUS}:python/farmhand/engine/scheduler.py"],
                          capture_output=True, text=True, check=True).stdout
    spec = importlib.util.spec_from_loader("previous_scheduler", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    exec(compile(text, f"{PREVIOUS[:7]}:scheduler.py", "exec"), module.__dict__)
    return module


def previous_rules() -> Any:
    """The previous assigner's use of the previous scheduler, as simulator rules."""
    from farmhand.engine import simulate
    from farmhand.engine.scheduler import Decision, DecisionKind

    old = previous_scheduler()

    def next_work(me: Any, team: Any, waiting: int, running: Any, policy: Any, fixed: Any) -> Any:
        knobs = {k: getattr(policy, k) for k in old.Policy.__dataclass_fields__ if hasattr(policy, k)}
        op = old.Policy(**knobs)
        speeds = [old.NodeSpeed(n.node, n.cores, n.seconds_per_frame, n.startup_seconds or 0.0) for n in team]
        mine = old.NodeSpeed(me.node, me.cores, me.seconds_per_frame, me.startup_seconds or 0.0)
        if waiting:
            return Decision(DecisionKind.TAKE, old.chunk_size(mine, speeds, waiting, op, fixed))
        works = [old.RunningWork(w.chunk_id, w.node, w.pending, w.current_left, w.seconds_per_frame,
                                 w.in_progress, w.backed_up) for w in running if not w.persistent]
        action = old.tail_action(me.seconds_per_frame, me.startup_seconds or 0.0, works, op)
        return None if action is None else Decision(DecisionKind(action.kind.value), action.frames,
                                                    action.chunk_id)

    def holding(me: Any, team: Any, waiting: int, mine: Any, running: Any, policy: Any) -> int:
        workers = 1 + sum(1 for w in running if w.persistent)
        slow = me.seconds_per_frame is not None and me.seconds_per_frame >= 2.0
        return 1 if slow or waiting <= workers else 2

    return simulate.Rules(next_work, holding, None)


def static_rules() -> Any:
    from farmhand.engine import simulate
    from farmhand.engine.scheduler import Decision, DecisionKind

    def take(me: Any, team: Any, waiting: int, running: Any, policy: Any, fixed: Any) -> Any:
        return Decision(DecisionKind.TAKE, min(STATIC_CHUNK, waiting)) if waiting else None

    return simulate.Rules(take, simulate.Rules().worker_holding, None)


def sim_nodes(start: float, prior: str) -> list[Any]:
    from farmhand.engine.simulate import SimNode

    nodes = []
    for i, (name, speed) in enumerate(SPEEDS.items()):
        weight = speed * (1.1 if i % 2 else 0.92) if prior == "warm" else None  # remembered, 10 % off
        nodes.append(SimNode(name, speed, start, int(speed) if prior == "cores" else 1, weight))
    return nodes


def bench_sim(seed: int) -> list[dict[str, Any]]:
    from farmhand.engine.simulate import simulate

    policies = {"new": None, "previous": previous_rules(), "static": static_rules()}
    rows = []
    for prior in ("equal", "cores", "warm"):
        for start in (0.3, 3.0):
            for frames in ("short", "long", "random", "ramp"):
                costs = profile(frames)
                best = ideal(costs, start)
                row: dict[str, Any] = {"where": "sim", "prior": prior, "start_s": start, "frames": frames,
                                       "ideal_s": round(best, 2)}
                for name, rules in policies.items():
                    result = simulate(sim_nodes(start, prior), costs, rules=rules, jitter=0.1, seed=seed)
                    row[name] = round(result.makespan / best, 3)
                    row[f"{name}_chunks"] = result.chunks
                rows.append(row)
    return rows


# --- the lab --------------------------------------------------------------------------------------------


def start_preset(tree: Path) -> str:
    """The demo preset of ``tree`` behind ``sh -c 'sleep START && exec renderer…'``: the start cost."""
    text = (tree / "python" / "farmhand" / "presets" / "builtin" / "demo.toml").read_text()
    wrapper = """argv = ["sh", "-c", 'sleep "$0" && exec "$@"', "{start_delay}","""
    text = text.replace("argv = [", wrapper, 1)
    return text.replace("[params]\n", "[params]\nstart_delay = \"0\"\n", 1)


def lab_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """One job on a fresh lab and a fresh dispatcher of this process's tree; runs in a child process."""
    from farmhand.client import Client, dispatcher_running
    from farmhand.jobs import JobSpec, JobState
    from farmhand.lab import LocalFarm
    from farmhand.nodes.registry import Registry

    work = Path(tempfile.mkdtemp(prefix="fh-bench-sched-"))
    home = work / "home"
    (home / "presets").mkdir(parents=True)
    (home / "presets" / "demo-start.toml").write_text(start_preset(TREE))
    if cell["policy"] == "static":
        (home / "dispatcher.json").write_text(json.dumps({"policy": {"steal_min_gain": 1e9,
                                                                     "backup_factor": 1e9}}))
    os.environ["FARMHAND_HOME"] = str(home)
    os.environ["FARMHAND_NODE_PACKAGE"] = str(TREE / "python" / "farmhand")
    speed_map = ",".join(f"{h}={s:g}" for h, s in SPEEDS.items())
    with LocalFarm(n=len(SPEEDS), mode="netns") as lab, open(work / "dispatcher.log", "ab") as log:
        lab.trust()
        registry = Registry()
        for node in lab.nodes:
            registry.add(node.name, node.address, port=node.port, user=lab.user,
                         identity=str(lab.identity_file))
            cores = int(SPEEDS[node.name] * 4) if cell["prior"] == "cores" else 8
            registry.record_inventory(node.name, {"hostname": node.hostname, "os": "linux",
                                                  "cpus_logical": cores})
        env = dict(os.environ, PYTHONPATH=str(TREE / "python"))
        proc = lab.popen_in_lab([sys.executable, "-m", "farmhand", "dispatcher"], env=env, stdout=log,
                                stderr=log, stdin=subprocess.DEVNULL)
        while not dispatcher_running():
            time.sleep(0.02)
        client = Client(autostart=False)

        def run(frames: str, tag: str) -> str:
            params = {"seconds_per_frame": str(cell["spf"]), "speed_map": speed_map,
                      "start_delay": str(cell["start_s"])}
            spec = JobSpec(preset="demo-start", frames=frames, output=str(lab.share_dir / tag / "f.$F4.png"),
                           params=tuple(sorted(params.items())), name=f"bench {tag}",
                           **({"chunk": STATIC_CHUNK} if cell["policy"] == "static" else {}))
            job = client.submit(spec)
            while not client.job(job).state.finished:
                time.sleep(0.05)
            if client.job(job).state is not JobState.DONE:
                raise SystemExit(f"job {job}: {client.job(job).summary.error}")
            return job

        try:
            if cell["prior"] == "warm":
                run("1001-1040", "warmup")
            job = run(f"1-{FRAMES}", "cell")
            db = client.store.db
            created = db.execute("SELECT created FROM jobs WHERE num = ?", (int(job),)).fetchone()[0]
            ended, chunks = db.execute("SELECT MAX(ended), COUNT(*) FROM chunks WHERE job = ?",
                                       (int(job),)).fetchone()
        finally:
            client.stop_dispatcher()
            proc.wait(timeout=30)
    makespan = float(ended) - float(created)
    best = ideal([cell["spf"]] * FRAMES, cell["start_s"])
    return {**cell, "ideal_s": round(best, 2), "makespan_s": round(makespan, 2),
            "ratio": round(makespan / best, 3), "chunks": chunks}


def previous_tree() -> Path:
    """The previous commit's python/ tree, extracted once (read-only use of the repository)."""
    target = Path(tempfile.gettempdir()) / f"fh-previous-{PREVIOUS[:10]}"
    if not (target / "python" / "farmhand").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", PREVIOUS, "python"], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def lab_cells(quick: bool) -> list[dict[str, Any]]:
    cells = []
    for prior in ("equal", "cores", "warm"):
        for start in (0.3, 3.0):
            for spf in (0.4, 2.0):
                policies = ["new"] if quick or prior == "warm" else ["new", "previous"]
                if prior == "equal" and not quick:
                    policies.append("static")
                cells += [{"prior": prior, "start_s": start, "spf": spf, "policy": p} for p in policies]
    return cells


def bench_lab(quick: bool) -> list[dict[str, Any]]:
    rows = []
    for cell in lab_cells(quick):
        tree = previous_tree() if cell["policy"] == "previous" else REPO
        env = dict(os.environ, FH_BENCH_TREE=str(tree))
        proc = subprocess.run([sys.executable, __file__, "_cell", json.dumps(cell)], env=env,
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            rows.append({**cell, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]})
        else:
            rows.append({"where": "lab", **json.loads(proc.stdout.strip().splitlines()[-1])})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["sim", "lab", "_cell"])
    parser.add_argument("cell", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="lab: the new policy only")
    parser.add_argument("--seed", type=int, default=1, help="sim: the noise seed")
    args = parser.parse_args(argv)
    if args.what == "_cell":
        print(json.dumps(lab_cell(json.loads(args.cell))))
        return 0
    if args.what == "sim":
        rows = bench_sim(args.seed)
        for row in rows:
            print(json.dumps(row))
        worst = max(r["new"] for r in rows if r["frames"] in ("short", "long"))
        print(json.dumps({"where": "sim", "worst_new_constant_frames": worst, "goal": GOAL}))
        return 0
    bench_lab(args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
