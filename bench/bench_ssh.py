"""SSH-layer benchmarks against a lab sshd (root). Prints ratios measured in this one run.

S6  connect + auth: farmhand vs raw paramiko + TCP_NODELAY (goal <= 1.2x) and paramiko's default socket.
S7  warm command latency (`true` on an open connection): farmhand vs raw paramiko + TCP_NODELAY
    (goal <= 1.2x), p50/p99, and the default-socket figure that shows the Nagle stall.
S8  cold (new connection per command) / warm ratio (goal >= 10x: reuse is in effect).
S9  cold inventory of 16 nodes (connect + login + one exec each), fanned out vs one after another;
    0 failures expected.
S10 burst of 60 connections to ONE node from 60 executors: failures with the per-host handshake cap
    vs 60 naive concurrent paramiko connects (sshd MaxStartups 10:30:100).

    .venv/bin/python bench/bench_ssh.py [-n 200]
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import tempfile
import threading
import time
from typing import Callable

import paramiko

from farmhand.lab import LocalFarm
from farmhand.ssh import SSHExecutor


def raw_connect(addr: str, key: paramiko.PKey, user: str, nodelay: bool) -> paramiko.Transport:
    sock = socket.create_connection((addr, 22), timeout=5)
    if nodelay:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    t = paramiko.Transport(sock)
    t.start_client(timeout=10)
    t.auth_publickey(user, key)
    return t


def raw_true(t: paramiko.Transport) -> None:
    chan = t.open_session()
    chan.exec_command("true")
    while chan.recv(65536):
        pass
    chan.recv_exit_status()
    chan.close()


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def ms(xs: list[float], q: float = 0.5) -> float:
    xs = sorted(xs)
    return 1000 * xs[min(len(xs) - 1, int(q * len(xs)))]


class Bench:
    """One lab node, the executor under test and the raw paramiko baselines, measured in one run."""

    def __init__(self, farm: LocalFarm, n: int) -> None:
        self.farm = farm
        self.n = n
        self.node = farm.nodes[0]
        self.key = paramiko.PKey.from_path(str(farm.identity_file))
        self.ident = str(farm.identity_file)
        self.n_conn = max(20, n // 5)

    def executor(self) -> SSHExecutor:
        return SSHExecutor(identity=self.ident, user=self.farm.user)

    def raw(self, nodelay: bool) -> paramiko.Transport:
        return raw_connect(self.node.address, self.key, self.farm.user, nodelay)

    def ours_connect(self) -> None:
        with self.executor() as ex:
            ex.connection(self.node.address)

    def s6_connect(self) -> None:
        lib_c: list[float] = []
        raw_c: list[float] = []
        dflt_c: list[float] = []
        for _ in range(self.n_conn):  # interleaved, so load from other processes hits all three alike
            lib_c += timed(self.ours_connect, 1)
            raw_c += timed(lambda: self.raw(True).close(), 1)
            dflt_c += timed(lambda: self.raw(False).close(), 1)
        print(f"S6 connect+auth p50: farmhand {ms(lib_c):.1f} ms, raw paramiko+NODELAY {ms(raw_c):.1f} ms "
              f"-> ratio {ms(lib_c) / ms(raw_c):.2f}x (goal <= 1.2x); "
              f"paramiko default socket {ms(dflt_c):.1f} ms")

    def s7_s8_s11(self, ex: SSHExecutor) -> None:
        address = self.node.address
        ex.run(address, ["true"])
        raw, dflt = self.raw(True), self.raw(False)
        raw_true(raw)
        lib_w = timed(lambda: ex.run(address, ["true"]), self.n)
        raw_w = timed(lambda: raw_true(raw), self.n)
        dflt_w = timed(lambda: raw_true(dflt), max(20, self.n // 10))
        print(f"S7 warm `true`: farmhand p50 {ms(lib_w):.2f} ms p99 {ms(lib_w, .99):.2f} ms; raw+NODELAY p50 "
              f"{ms(raw_w):.2f} ms p99 {ms(raw_w, .99):.2f} ms -> ratio {ms(lib_w) / ms(raw_w):.2f}x "
              f"(goal <= 1.2x); default socket p50 {ms(dflt_w):.1f} ms")
        over40 = sum(1 for x in lib_w if x > 0.040)
        print(f"   farmhand warm samples over 40 ms: {over40}/{len(lib_w)} (no Nagle mode)")

        def cold() -> None:
            with self.executor() as e:
                e.run(address, ["true"])

        cold_t = timed(cold, self.n_conn)
        print(f"S8 cold/warm: {ms(cold_t):.1f} ms / {ms(lib_w):.2f} ms = {ms(cold_t) / ms(lib_w):.0f}x "
              "(goal >= 10x)")
        self.s11_stream(ex)
        raw.close()
        dflt.close()

    def s11_stream(self, ex: SSHExecutor) -> None:
        big = "head -c 50000000 /dev/zero | tr '\\0' a; head -c 50000000 /dev/zero | tr '\\0' b >&2"
        t0 = time.monotonic()
        res = ex.run(self.node.address, ["sh", "-c", big], timeout=120)
        lib_s = time.monotonic() - t0
        assert len(res.stdout) + len(res.stderr) == 100_000_000
        t0 = time.monotonic()
        ssh = ["ssh", "-q", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
               "-o", "UserKnownHostsFile=/dev/null", "-i", self.ident,
               f"{self.farm.user}@{self.node.address}", big]
        subprocess.run(self.farm.lab_argv(ssh), capture_output=True, check=True)
        cli_s = time.monotonic() - t0
        print(f"S11 50 MB stdout + 50 MB stderr: farmhand {100 / lib_s:.0f} MB/s, ssh CLI (incl. connect) "
              f"{100 / cli_s:.0f} MB/s -> {cli_s / lib_s:.2f}x of CLI throughput (goal >= 0.5x)")

    def s12_drop(self, ex: SSHExecutor) -> None:
        proc = ex.start(self.node.address, ["sleep", "60"], on_line=lambda s, x: None, watchdog=False)
        time.sleep(0.3)
        self.farm.drop(self.node.name)
        t0 = time.monotonic()
        proc.wait(30)
        detect = time.monotonic() - t0
        configured = ex.timeouts.dead_peer + ex.timeouts.keepalive
        print(f"S12 silent drop detected after {detect:.1f}s (TCP_USER_TIMEOUT {ex.timeouts.dead_peer:g}s + "
              f"keepalive {ex.timeouts.keepalive:g}s = {configured:g}s configured -> "
              f"{detect / configured:.2f}x, goal <= 1.3x)")
        self.farm.undrop(self.node.name)

    def s10_burst(self) -> None:
        naive_fail, naive_wall = burst(lambda: self.raw(True).close())
        time.sleep(1)
        capped_fail, capped_wall = burst(self.ours_connect)
        print(f"S10 60 simultaneous connects to one sshd: naive paramiko {naive_fail}/60 failed "
              f"({naive_wall:.2f}s); farmhand (cap 8/host) {capped_fail}/60 failed ({capped_wall:.2f}s)")


def burst(fn: Callable[[], object], n: int = 60) -> tuple[int, float]:
    """``n`` threads call ``fn`` at the same moment; (failures, wall seconds)."""
    failures: list[Exception] = []
    barrier = threading.Barrier(n)

    def one() -> None:
        barrier.wait()
        try:
            fn()
        except Exception as exc:
            failures.append(exc)

    t0 = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for why in sorted({str(f)[:100] for f in failures}):
        print("   failure:", why)
    return len(failures), time.monotonic() - t0


def s9_inventory() -> None:
    from farmhand.nodes.inventory import probe, probe_many

    # A new lab reuses the addresses with new host keys: a fresh FARMHAND_HOME, or Farmhand (rightly) refuses.
    os.environ["FARMHAND_HOME"] = tempfile.mkdtemp(prefix="fh-bench-")
    with LocalFarm(n=16) as farm16, farm16.inside():
        farm16.trust()
        hosts = [n.address for n in farm16.nodes]
        ident16 = str(farm16.identity_file)
        with SSHExecutor(identity=ident16, user=farm16.user) as ex16:
            t0 = time.monotonic()
            for h in hosts:
                probe(ex16, h)
            seq = time.monotonic() - t0
        with SSHExecutor(identity=ident16, user=farm16.user) as ex16:
            t0 = time.monotonic()
            res = probe_many(ex16, hosts)
            par = time.monotonic() - t0
        print(f"S9 cold inventory of 16 nodes: sequential {seq:.2f}s, fanned out {par:.2f}s "
              f"({seq / par:.1f}x faster on 2 vCPU shared with the 16 sshds); failures {len(res.failed)}/16")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=200)
    args = ap.parse_args()
    # The naive S10 baseline is expected to fail; paramiko would print each failure's traceback.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)
    os.environ["FARMHAND_HOME"] = tempfile.mkdtemp(prefix="fh-bench-")
    with LocalFarm(n=1) as farm, farm.inside():
        farm.trust()
        bench = Bench(farm, args.n)
        bench.s6_connect()
        with bench.executor() as ex:
            bench.s7_s8_s11(ex)
            bench.s12_drop(ex)
        bench.s10_burst()
    s9_inventory()


if __name__ == "__main__":
    main()
