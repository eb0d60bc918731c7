"""Soak: a simulated day of a farm with a node that fails every few seconds, to show that the job store,
the render logs and the dispatcher's memory stay bounded.

    .venv/bin/python bench/bench_soak.py                 # 24 simulated hours (~15 minutes)
    .venv/bin/python bench/bench_soak.py --hours 6 --dt 2

The real dispatcher, store and retention run on simulated clocks (monotonic and wall) with the test
suite's fake executor (``tests/engine/fake_farm.py``): two healthy nodes render a job of 2,000 frames
that lasts all day and, before it (higher priority), a small job submitted every ``--every`` minutes; a
third node fails every time it is tried, all day: another artist's dispatcher holds it, so each try ends
"busy" and it is tried again 3 s later (a fourth, unreachable node adds its own failures). Retention is
the default except ``keep_days`` (6 h here, so finished jobs' history expires within the day), ``log_mb``
(50 kB, so the long job's render logs reach their rotation within the day) and a prune every 10
simulated minutes. Each simulated hour prints the store's size
(file + WAL), its row counts, the render logs' size and the process's resident memory.

Bounded means: after the first hours, store size, rows and memory stop growing while the node failures
and finished jobs keep coming. The last line prints the ratio of the last hour's figures to the 6th.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python"))
sys.path.insert(0, str(REPO))

from tests.engine.fake_farm import FakeExecutor, NodeBehaviour  # noqa: E402

from farmhand.client import Client  # noqa: E402
from farmhand.engine.dispatcher import Dispatcher, inline_submit  # noqa: E402
from farmhand.engine.scheduler import Policy  # noqa: E402
from farmhand.engine.settings import Verification  # noqa: E402
from farmhand.engine.state import FarmNode  # noqa: E402
from farmhand.engine.store import Store  # noqa: E402
from farmhand.engine.store.retention import Retention  # noqa: E402
from farmhand.jobs import JobSpec, Retry  # noqa: E402

HOUR = 3600.0


def rss_mb() -> float:
    """The process's resident memory now (Linux), in MiB."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20 if path.exists() else 0.0


def rows(store: Store, table: str) -> int:
    return int(store.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def soak(hours: float, dt: float, every: float) -> list[tuple[float, ...]]:
    home = Path(os.environ["FARMHAND_HOME"])
    store = Store()
    fake = FakeExecutor({"good1": NodeBehaviour(spf=80.0), "good2": NodeBehaviour(spf=90.0),
                         "flaky": NodeBehaviour(busy=10**9), "gone": NodeBehaviour(dead=True)})
    clock = {"mono": 1000.0}
    wall0 = 1.7e9
    farm = [FarmNode(n, 4) for n in ("good1", "good2", "flaky", "gone")]
    dispatcher = Dispatcher(
        store, fake, lambda: farm, clock=lambda: clock["mono"], wall=lambda: wall0 + clock["mono"],
        submit=inline_submit, retry=Retry(unreachable_backoff=5.0, stall_floor=120.0),
        policy=Policy(target_chunk_seconds=120.0),
        verify=Verification(quiet_seconds=1.0, grace_seconds=5.0),
        retention=Retention(keep_days=0.25, log_mb=0.05, prune_minutes=10.0),
        node_package=str(REPO / "python" / "farmhand"),
    )
    client = Client(store, autostart=False)
    tries = {"flaky": 0, "gone": 0}
    start = fake.start

    def counted(host: str, *args: object, **kwargs: object) -> object:
        tries[host] = tries.get(host, 0) + 1
        return start(host, *args, **kwargs)  # type: ignore[arg-type]

    fake.start = counted  # type: ignore[method-assign, assignment]
    out = home / "out"
    figures: list[tuple[float, ...]] = []
    submitted = 0
    next_job, next_report = 0.0, 0.0
    elapsed = 0.0
    print(f"{'hour':>4} {'store MB':>9} {'jobs':>5} {'events':>7} {'chunks':>7} {'logs MB':>8} "
          f"{'RSS MB':>7} {'failures':>9}")
    client.submit(JobSpec(preset="demo", frames="1-2000", output=str(out / "long" / "f.$F4.png")))
    while elapsed <= hours * HOUR:
        if elapsed >= next_job:
            submitted += 1
            target = str(out / f"j{submitted}" / "f.$F4.png")
            spec = JobSpec(preset="demo", frames="1-4", priority=60, output=target)
            client.submit(spec)
            next_job += every * 60.0
        clock["mono"] += dt
        elapsed += dt
        fake.advance(clock["mono"])
        dispatcher.step()
        if elapsed >= next_report:
            next_report += HOUR
            # The fake executor keeps every process and call it saw; only the dispatcher is measured.
            fake.procs = [p for p in fake.procs if p.result is None]
            fake.runs.clear()
            gc.collect()
            db = size_mb(home / "jobs.sqlite") + size_mb(home / "jobs.sqlite-wal")
            failures = tries["flaky"] + tries["gone"]
            line = (elapsed / HOUR, db, rows(store, "jobs"), rows(store, "events"), rows(store, "chunks"),
                    size_mb(home / "logs"), rss_mb(), failures)
            figures.append(line)
            print(f"{line[0]:4.0f} {line[1]:9.2f} {line[2]:5d} {line[3]:7d} {line[4]:7d} {line[5]:8.2f} "
                  f"{line[6]:7.1f} {line[7]:9d}", flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--dt", type=float, default=2.0, help="simulated seconds per dispatcher step")
    parser.add_argument("--every", type=float, default=15.0, help="minutes between two submitted jobs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="farmhand-soak-") as home:
        os.environ["FARMHAND_HOME"] = home
        figures = soak(args.hours, args.dt, args.every)
    if len(figures) > 7:
        six, last = figures[6], figures[-1]
        print(f"last hour / hour 6: store {last[1] / six[1]:.2f}x, events {last[3] / max(six[3], 1):.2f}x, "
              f"chunks {last[4] / max(six[4], 1):.2f}x, logs {last[5] / max(six[5], 1e-9):.2f}x, "
              f"RSS {last[6] / six[6]:.2f}x; node failures {last[7] / max(six[7], 1):.2f}x, "
              f"jobs {last[2] / max(six[2], 1):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
