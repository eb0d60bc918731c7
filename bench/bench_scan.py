"""Discovery benchmarks in the isolated lab (root). Prints ratios measured in this one run.

S1  lab /24 (4 SSH nodes, 3 DROP hosts, a non-SSH :22, a host that accepts on :22 and never says a
    word, a refusing host, the rest absent): farmhand scan vs `nmap -n -sT -Pn -p22` on the same range.
    Goal: <= 0.5x nmap, 0 misclassified (the silent service is "open", never "ssh").
S2  silent /16 routed inside the lab (SYNs dropped) + the live nodes, fixed 0.5 s deadline:
    wall vs the ideal ceil(N/C) x timeout. Goal: <= 1.15x, every live node found.
S3  the same kind of scan (a silent /22 + live nodes) in a process limited to 256 open files:
    concurrency derived from the limit, nothing misreported, wall vs ceil(N/C_eff) x timeout (goal <= 1.2x).

    .venv/bin/python bench/bench_scan.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

from farmhand.lab import GHOST, LocalFarm
from farmhand.nodes import discovery
from farmhand.nodes.discovery import ProbeState


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with LocalFarm(n=4) as farm:
        drops = ["10.77.0.50", "10.77.0.51", "10.77.0.52"]
        for a in drops:
            farm.add_silent(a)
        farm.add_fake_service("10.77.0.60")
        farm.add_silent_service("10.77.0.61")
        truth = {n.address: {ProbeState.SSH} for n in farm.nodes}
        truth.update({a: {ProbeState.SILENT} for a in drops})
        truth["10.77.0.60"] = {ProbeState.OPEN}
        truth["10.77.0.61"] = {ProbeState.OPEN}
        truth[GHOST] = {ProbeState.REFUSED}
        truth["10.77.0.1"] = {ProbeState.REFUSED}  # the lab's own address: nothing on :22
        addresses = discovery.expand(discovery.parse_targets(["10.77.0.0/24"]))

        ours, theirs, wrong, silent_wait = [], [], 0, []
        for _ in range(args.repeat):
            t0 = time.monotonic()
            res = farm.call_in_lab(lambda: discovery.scan(addresses))
            ours.append(time.monotonic() - t0)
            for r in res:
                # Absent addresses: no ARP answer within the deadline (silent) or ARP failure (unreachable).
                if r.state not in truth.get(r.address, {ProbeState.SILENT, ProbeState.UNREACHABLE}):
                    wrong += 1
                    print(f"   misclassified {r.address}: {r.state.value} {r.banner!r}")
                if r.address == "10.77.0.61":
                    silent_wait.append(r.seconds)
            t0 = time.monotonic()
            proc = farm.run_in_lab(["nmap", "-n", "-sT", "-Pn", "-p22", "10.77.0.0/24"])
            theirs.append(time.monotonic() - t0)
            assert proc.returncode == 0, proc.stderr
        o, t = statistics.median(ours), statistics.median(theirs)
        print(f"S1 /24 scan: farmhand {o:.3f}s, nmap -sT {t:.3f}s, ratio {o / t:.2f}x (goal <= 0.5x); "
              f"misclassified {wrong} over {args.repeat} runs (goal 0); the silent service held for "
              f"{statistics.median(silent_wait):.3f}s (banner limit 2s)")

        farm.add_silent_range("10.78.0.0/16")
        live = [n.address for n in farm.nodes]
        addresses = discovery.expand(discovery.parse_targets(["10.78.0.0/16", *live]))
        conc = discovery.default_concurrency()
        timeout = 0.5
        t0 = time.monotonic()
        cpu0 = time.process_time()
        res = farm.call_in_lab(lambda: discovery.scan(addresses, timeout=timeout, adaptive=False,
                                                      concurrency=conc))
        wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
        found = sum(1 for r in res if r.state is ProbeState.SSH)
        ideal = math.ceil(len(addresses) / conc) * timeout
        print(f"S2 silent /16: {len(addresses)} addresses, C={conc}, timeout {timeout}s: wall {wall:.2f}s, "
              f"ideal {ideal:.2f}s, ratio {wall / ideal:.2f}x (goal <= 1.15x); CPU {cpu:.2f}s; "
              f"live found {found}/{len(live)}")

        code = (
            "import json, resource, sys, time\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))\n"
            "from farmhand.nodes import discovery as d\n"
            "c = d.default_concurrency()\n"
            "a = d.expand(d.parse_targets(sys.argv[1:]))\n"
            "t = time.monotonic(); r = d.scan(a, timeout=0.5, adaptive=False, concurrency=c)\n"
            "print(json.dumps({'c': c, 'wall': time.monotonic() - t, 'n': len(a),\n"
            "                  'states': [x.state.value for x in r]}))\n"
        )
        proc = farm.run_in_lab([sys.executable, "-c", code, "10.78.0.0/22", *live])
        data = json.loads(proc.stdout)
        ideal = math.ceil(data["n"] / data["c"]) * timeout
        bad = sum(1 for st in data["states"] if st not in ("silent", "ssh"))
        print(f"S3 ulimit -n 256: {data['n']} addresses, C_eff={data['c']}: wall {data['wall']:.2f}s, ideal "
              f"{ideal:.2f}s, ratio {data['wall'] / ideal:.2f}x (goal <= 1.2x); ssh found "
              f"{data['states'].count('ssh')}/{len(live)}; misreported {bad}")


if __name__ == "__main__":
    main()
