"""Fan-out: every host at once (no fixed worker cap), results or exceptions per host, bounded by limits."""

from __future__ import annotations

import subprocess
import sys
import threading

from farmhand.ssh import fan_out, pool_size


def test_every_host_runs_at_once_beyond_the_old_cap_of_32() -> None:
    hosts = [f"render{i:03d}" for i in range(100)]
    together = threading.Barrier(len(hosts), timeout=20)  # broken unless all 100 calls run at once

    def call(host: str) -> str:
        together.wait()
        if host == "render007":
            raise RuntimeError("node said no")
        return host.upper()

    results = fan_out(hosts, call)
    assert list(results) == hosts
    assert len(results.succeeded) == 99 and results["render042"] == "RENDER042"
    assert [str(e) for e in results.failed.values()] == ["node said no"]


def test_pool_size_follows_the_farm_and_the_open_file_limit() -> None:
    assert pool_size(5) == 5 and pool_size(0) == 1
    assert pool_size(200) == min(200, pool_size())
    code = ("import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256)); "
            "from farmhand.ssh import pool_size; print(pool_size(), pool_size(200))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["64", "64"]  # a quarter of the descriptors: room for sockets and channel pipes
