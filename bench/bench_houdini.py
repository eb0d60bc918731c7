"""Houdini main-thread cost of a submit, with the typed fake hou (Houdini cannot run here).

    .venv/bin/python bench/bench_houdini.py

Shelf "Render on Farm" must not freeze Houdini. It reads the scene and runs the preflight on the main
thread (that part must touch ``hou``), then queues the jobs and starts the dispatcher in a background
thread. This prints, measured in one run on a cold dispatcher each time:

- main-thread time of Farmhand's submit (plan + preflight; queueing and the dispatcher start are off it),
- main-thread time of a naive submit that calls ``Client.submit`` (which waits for a dispatcher to start)
  on the main thread,
- their ratio, and the plan time for a scene with many ROPs and file references.

No render nodes are needed: the jobs are queued and the dispatcher is stopped after each round.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "fakes" / "hou" / "pythonpath"), str(ROOT / "tests" / "fakes" / "hou")]

import fake_hou  # noqa: E402
import hdefereval  # noqa: E402

from farmhand.client import Client, dispatcher_running  # noqa: E402
from farmhand.houdini import entry, farm, interactive, submit  # noqa: E402
from farmhand.houdini.pathmap import PathMap  # noqa: E402
from farmhand.houdini.preflight import NodeFacts  # noqa: E402

ROUNDS = 5


def scene(share: Path, rops: int, refs: int) -> None:
    nodes: list[dict[str, Any]] = [
        {"path": f"/obj/geo{i}/file1", "type": "file", "parms": {"file": f"$HIP/geo/asset{i}.bgeo.sc"}}
        for i in range(refs)
    ]
    nodes += [{"path": f"/out/m{i}", "type": "ifd", "parms": {"trange": 1, "f1": 1, "f2": 240}}
              for i in range(rops)]
    nodes.append({"path": "/out/beauty", "type": "ifd", "parms": {"trange": 1, "f1": 1, "f2": 240}})
    fake_hou.load_scene(share / "bench.hip", nodes)
    fake_hou.select("/out/beauty")


def stop_dispatcher() -> None:
    Client(autostart=False).stop_dispatcher(timeout=10)


def farmhand_submit() -> float:
    started = time.perf_counter()
    sent = entry.render_on_farm({})
    blocked = time.perf_counter() - started
    assert sent is not None and sent.thread is not None
    sent.thread.join(30)
    hdefereval.process_events(timeout=5)
    deadline = time.monotonic() + 20
    while not dispatcher_running() and time.monotonic() < deadline:
        time.sleep(0.05)
    return blocked


def naive_submit() -> float:
    started = time.perf_counter()
    plan = interactive.make_plan("/out/beauty", submit.SubmitOptions())
    Client().submit(plan.specs[0])  # waits for the dispatcher to come up, on the main thread
    return time.perf_counter() - started


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="fh-bench-houdini-") as tmp:
        os.environ["FARMHAND_HOME"] = str(Path(tmp) / "home")
        share = Path(tmp) / "share"
        fake_hou.reset()
        fake_hou.SESSION.main_thread = threading.current_thread()
        farm.nodes_provider = lambda: [NodeFacts("n1", houdini=("21.0.512",))]
        farm.pathmap_loader = lambda: PathMap(shares=(str(share),))
        scene(share, rops=200, refs=2000)

        plan_times = []
        for _ in range(ROUNDS):
            started = time.perf_counter()
            interactive.make_plan("/out/beauty", submit.SubmitOptions())
            plan_times.append(time.perf_counter() - started)

        ours, naive = [], []
        try:
            for _ in range(ROUNDS):
                stop_dispatcher()
                ours.append(farmhand_submit())
                stop_dispatcher()
                naive.append(naive_submit())
        finally:
            stop_dispatcher()
        ours_median, naive_median = statistics.median(ours), statistics.median(naive)
        print(f"plan + preflight, 200 ROPs, 2000 file refs:   {statistics.median(plan_times) * 1000:7.1f} ms "
              "(main thread)")
        print(f"Farmhand submit, main thread blocked:         {ours_median * 1000:7.1f} ms (median)")
        print(f"naive Client.submit on the main thread:       {naive_median * 1000:7.1f} ms (median)")
        print(f"ratio naive / Farmhand:                       {naive_median / ours_median:7.1f}x")


if __name__ == "__main__":
    main()
