"""A farm of many nodes: submit → every node rendering, frames/second delivered, dispatcher CPU and memory.

    sudo flock /tmp/fh-lab.lock .venv/bin/python bench/bench_scale.py              # N = 25 50 100 200
    sudo flock /tmp/fh-lab.lock .venv/bin/python bench/bench_scale.py --sizes 25,50

One lab of max(N) real OpenSSH nodes (a network namespace and an sshd each, :mod:`farmhand.lab`) is brought
up once and its bring-up measured (seconds, memory per node). For each N, a fresh FARMHAND_HOME registers
the first N nodes and a dispatcher runs as its own process, with its default policy:

1. **cold** — a first job of three 1 s frames per node: submit → every node rendering (a node counts
   from its first frame on) with no SSH connection open yet (N handshakes).
2. **warm** — a job of ``--frames-per-node`` frames of ``--spf`` seconds per node: submit → every node
   rendering (connections open, goal ≤ 3 s), then, while all render and stream progress (with 2 s frames
   13 lines a frame: ALF_PROGRESS every 0.2 s), the frames per second delivered over the ideal N / spf, and
   the dispatcher's CPU (% of one core, from /proc/PID/stat) and memory (VmRSS), with the whole
   machine's CPU beside it: on a 2-core machine the nodes' sshd and renderers share the cores with the
   dispatcher, and when the machine is saturated that — not the dispatcher — is the limit.

Memory per node is the slope of the dispatcher's RSS over N (least squares). Frames are tiny PNGs
(16×9) so the stand-in renderer costs the nodes little CPU. ``renderer_starts_cpu_floor_s`` is N times
the CPU one renderer start costs here, over the machine's cores: on a small machine running every node,
starting N Python processes is itself a floor under "every node rendering" (sshd's session, the shell
and the chunk wrapper come on top). ``cpu_pct_by_thread`` splits the dispatcher's CPU by thread.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))

from farmhand.client import Client, dispatcher_running  # noqa: E402
from farmhand.jobs import JobSpec, JobState  # noqa: E402
from farmhand.lab import LocalFarm  # noqa: E402
from farmhand.nodes.registry import Registry  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of process ``pid`` and its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of ``pid``'s main thread (the step loop) and of all its other threads together (SSH
    transports and readers, the helper pool: CPython does not name OS threads, so they cannot be told
    apart here)."""
    groups = {"step_loop": 0.0, "other_threads": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        key = "step_loop" if task.name == str(pid) else "other_threads"
        groups[key] += (int(fields[11]) + int(fields[12])) / TICKS
    return groups


def proc_status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


def rss_of(names: Sequence[str]) -> tuple[int, int]:
    """(processes, total VmRSS in KiB) of the processes whose command name is one of ``names``."""
    count = total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() in names:
                count += 1
                total += proc_status(int(entry.name), "VmRSS")
        except OSError:
            continue
    return count, total


def rendering(db: sqlite3.Connection, job: str) -> int:
    """Nodes that render a frame of the job or have rendered one (a node's row is its progress)."""
    row = db.execute("SELECT COUNT(*) FROM progress WHERE job = ? AND (current_frame IS NOT NULL"
                     " OR frames_done > 0)", (int(job),)).fetchone()
    return int(row[0])


def done(db: sqlite3.Connection, job: str) -> int:
    row = db.execute("SELECT COUNT(*) FROM frames WHERE job = ? AND state = 'done'", (int(job),)).fetchone()
    return int(row[0])


def until_all_rendering(db: sqlite3.Connection, job: str, n: int, t0: float, limit: float = 120.0) -> float:
    while rendering(db, job) < n:
        if time.monotonic() - t0 > limit:
            raise SystemExit(f"job {job}: {rendering(db, job)} of {n} nodes rendering after {limit:.0f} s")
        time.sleep(0.01)
    return time.monotonic() - t0


def wait_done(client: Client, job: str, limit: float = 900.0) -> None:
    t0 = time.monotonic()
    while not client.job(job).state.finished:
        if time.monotonic() - t0 > limit:
            raise SystemExit(f"job {job} did not finish")
        time.sleep(0.2)
    if client.job(job).state is not JobState.DONE:
        raise SystemExit(f"job {job}: {client.job(job).summary.error}")


def spec(lab: LocalFarm, frames: str, tag: str, spf: float) -> JobSpec:
    params = {"seconds_per_frame": str(spf), "size": "16x9"}
    return JobSpec(preset="demo", frames=frames, output=str(lab.share_dir / tag / "f.$F4.png"),
                   params=tuple(sorted(params.items())), name=f"scale {tag}")


def one_size(
    lab: LocalFarm, n: int, spf: float, per_node: int, profile: Optional[str] = None
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"fh-scale-{n}-"))
    os.environ["FARMHAND_HOME"] = str(work / "home")
    os.environ["FARMHAND_NODE_PACKAGE"] = str(REPO / "python" / "farmhand")
    nodes = lab.nodes[:n]
    registry = Registry()
    for node in nodes:
        registry.add(node.name, node.address, port=node.port, user=lab.user, identity=str(lab.identity_file))
        registry.record_inventory(node.name, {"hostname": node.hostname, "os": "linux", "cpus_logical": 8})
    lab.trust()
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    with open(work / "dispatcher.log", "ab") as log:
        # --profile: the dispatcher's own thread (the step loop) under cProfile, written when it stops.
        prof = ["-m", "cProfile", "-o", f"{profile}.{n}"] if profile else []
        proc = lab.popen_in_lab([sys.executable, *prof, "-m", "farmhand", "dispatcher"], env=env, stdout=log,
                                stderr=log, stdin=subprocess.DEVNULL)
    while not dispatcher_running():
        time.sleep(0.02)
    client = Client(autostart=False)
    db = client.store.db
    try:
        time.sleep(1.0)
        idle_rss = proc_status(proc.pid, "VmRSS")
        t0 = time.monotonic()
        cold_job = client.submit(spec(lab, f"1-{3 * n}", "cold", 1.0))
        cold = until_all_rendering(db, cold_job, n, t0)
        wait_done(client, cold_job)
        floor = n * renderer_start_cpu() / (os.cpu_count() or 1)
        return {"nodes": n, "renderer_starts_cpu_floor_s": round(floor, 2),
                "cold_submit_to_all_rendering_s": round(cold, 2), "dispatcher_idle_rss_mib":
                round(idle_rss / 1024, 1), **warm_run(lab, client, db, proc.pid, n, spf, per_node)}
    finally:
        client.stop_dispatcher()
        proc.wait(timeout=60)


def warm_run(lab: LocalFarm, client: Client, db: sqlite3.Connection, pid: int, n: int, spf: float,
             per_node: int) -> dict[str, Any]:
    total = n * per_node
    t0 = time.monotonic()
    job = client.submit(spec(lab, f"1-{total}", "warm", spf))
    latency = until_all_rendering(db, job, n, t0)
    # The steady window: everyone rendering, well before the tail.
    time.sleep(min(2.0, spf))
    window = 0.5 * per_node * spf
    th0, cpu0, busy0, done0 = thread_cpu(pid), proc_cpu(pid), machine_busy(), done(db, job)
    w0 = time.monotonic()
    time.sleep(window)
    th1, cpu1, busy1, done1 = thread_cpu(pid), proc_cpu(pid), machine_busy(), done(db, job)
    w1 = time.monotonic()
    rss, threads = proc_status(pid, "VmRSS"), proc_status(pid, "Threads")
    wait_done(client, job)
    elapsed = w1 - w0
    delivered = (done1 - done0) / elapsed
    ideal_rate = n / spf
    return {
        "warm_submit_to_all_rendering_s": round(latency, 2),
        "frames_per_s": round(delivered, 1),
        "ideal_frames_per_s": round(ideal_rate, 1),
        "delivered_over_ideal": round(delivered / ideal_rate, 3),
        "output_lines_per_s": round(n * (3 + min(10, int(spf / 0.05))) / spf),
        "dispatcher_cpu_pct_of_one_core": round(100 * (cpu1 - cpu0) / elapsed, 1),
        "machine_cpu_pct_of_all_cores": round(100 * (busy1[0] - busy0[0]) / (busy1[1] - busy0[1]), 1),
        "dispatcher_rss_mib": round(rss / 1024, 1),
        "dispatcher_threads": threads,
        "cpu_pct_by_thread": {k: round(100 * (v - th0[k]) / (w1 - w0), 1) for k, v in th1.items()},
    }


def renderer_start_cpu(samples: int = 10) -> float:
    """CPU seconds one stand-in renderer start costs here (python3 up to its first frame, no SSH)."""
    script = REPO / "python" / "farmhand" / "lab" / "demo_render.py"
    out = Path(tempfile.mkdtemp(prefix="fh-floor-"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for i in range(samples):
        subprocess.run(["python3", str(script), "--start", "1", "--end", "1", "--size", "16x9",
                        "--seconds-per-frame", "0.01", "--output", str(out / f"{i}.$F4.png")],
                       capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / samples


def slope(xs: Sequence[float], ys: Sequence[float]) -> Optional[float]:
    if len(xs) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else None


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="25,50,100,200", help="comma-separated node counts")
    parser.add_argument("--spf", type=float, default=2.0, help="seconds per frame (default 2)")
    parser.add_argument("--frames-per-node", type=int, default=15)
    parser.add_argument("--profile", metavar="PATH", help="write the dispatcher's cProfile to PATH.N")
    args = parser.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",")})
    t0 = time.monotonic()
    before = rss_of(["sshd"])
    with LocalFarm(n=max(sizes), mode="netns") as lab:
        up = time.monotonic() - t0
        count, kib = rss_of(["sshd"])
        per_sshd = (kib - before[1]) / 1024 / max(sizes)
        print(json.dumps({"lab_nodes": max(sizes), "lab_up_s": round(up, 1),
                          "sshd_processes": count - before[0], "sshd_rss_mib_per_node": round(per_sshd, 2)}),
              flush=True)
        rows = []
        for n in sizes:
            rows.append(one_size(lab, n, args.spf, args.frames_per_node, args.profile))
            print(json.dumps(rows[-1]), flush=True)
    per_node = slope([r["nodes"] for r in rows], [r["dispatcher_rss_mib"] for r in rows])
    print(json.dumps({"dispatcher_rss_mib_per_node": None if per_node is None else round(per_node, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
