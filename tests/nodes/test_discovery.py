"""Discovery: target parsing (unit) and classification against the real lab (every state)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from farmhand.errors import UsageError
from farmhand.lab import GHOST, LocalFarm
from farmhand.nodes import discovery
from farmhand.nodes.discovery import ProbeState


def addrs(*targets: str) -> list[str]:
    return discovery.expand(discovery.parse_targets(list(targets)))


def test_parse_targets() -> None:
    assert addrs("10.0.0.0/30") == ["10.0.0.1", "10.0.0.2"]
    assert addrs("10.0.0.5") == ["10.0.0.5"]
    assert addrs("10.0.0.5/32") == ["10.0.0.5"]
    assert addrs("10.0.0.254-10.0.1.1") == ["10.0.0.254", "10.0.0.255", "10.0.1.0", "10.0.1.1"]
    assert addrs("10.0.0.10-12") == ["10.0.0.10", "10.0.0.11", "10.0.0.12"]
    # Each address once per run, even when targets overlap.
    assert addrs("10.0.0.1-3", "10.0.0.2", "10.0.0.0/30") == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert addrs("localhost") == ["127.0.0.1"]
    assert discovery.count(discovery.parse_targets(["10.0.0.0/8"])) == 2**24 - 2


@pytest.mark.parametrize("bad, message", [
    ("10.0.0.0/33", "invalid scan target"), ("10.0.0.300", "invalid scan target"),
    ("10.0.0.9-3", "backwards"), ("10.0.0.1-300", "not an address octet"), ("fe80::/64", "only IPv4"),
    ("", "empty"), ("10.0.0.1-", "invalid scan target"),
])
def test_bad_targets(bad: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        discovery.parse_targets([bad])


@pytest.mark.lab
def test_unresolvable_target(lab: LocalFarm) -> None:
    # Resolved inside the lab (no route out), so no DNS query leaves the machine.
    with lab.inside(), pytest.raises(UsageError, match=r"cannot resolve scan target 'no-such-host\.invalid'"):
        discovery.parse_targets(["no-such-host.invalid"])


@pytest.mark.lab
def test_scan_classifies_every_state(make_lab) -> None:  # type: ignore[no-untyped-def]
    farm: LocalFarm = make_lab(n=3)
    farm.drop("render03")
    farm.add_silent("10.77.0.50")
    farm.add_fake_service("10.77.0.60")
    farm.add_unreachable("10.77.0.70")
    seen: list[str] = []
    t0 = time.monotonic()
    targets = addrs("10.77.0.0/24")
    results = farm.call_in_lab(lambda: discovery.scan(targets, on_result=lambda r: seen.append(r.address)))
    elapsed = time.monotonic() - t0
    by = {r.address: r for r in results}
    assert len(results) == 254 and sorted(seen) == sorted(by)
    assert by["10.77.0.11"].state is ProbeState.SSH and by["10.77.0.11"].banner.startswith("SSH-2.0-OpenSSH")
    assert by["10.77.0.12"].state is ProbeState.SSH
    assert by["10.77.0.13"].state is ProbeState.SILENT  # DROP
    assert by["10.77.0.50"].state is ProbeState.SILENT
    assert by["10.77.0.60"].state is ProbeState.OPEN and by["10.77.0.60"].banner == "220 fake FTP ready"
    assert by["10.77.0.70"].state is ProbeState.UNREACHABLE
    assert by[GHOST].state is ProbeState.REFUSED and by["10.77.0.1"].state is ProbeState.REFUSED
    # Absent addresses: no ARP answer before the deadline.
    assert by["10.77.0.99"].state in (ProbeState.SILENT, ProbeState.UNREACHABLE)
    assert elapsed < 5


@pytest.mark.lab
def test_stop_mid_scan_of_a_silent_range(make_lab) -> None:  # type: ignore[no-untyped-def]
    farm: LocalFarm = make_lab(n=2)
    farm.add_silent_range("10.78.0.0/16")
    spans = discovery.parse_targets(["10.77.0.11-12", "10.78.0.0/16"])
    stop = threading.Event()
    stopped_at: list[float] = []

    def run() -> list[discovery.ProbeResult]:
        seen = []
        # Fixed 1 s deadline, 256 at a time: the whole range would take over four minutes.
        for r in discovery.scan_iter(discovery.iter_addresses(spans), timeout=1.0, adaptive=False,
                                     concurrency=256, should_stop=stop.is_set):
            seen.append(r)
            if len(seen) >= 300 and not stop.is_set():
                stop.set()
                stopped_at.append(time.monotonic())
        return seen

    seen = farm.call_in_lab(run, timeout=60)
    after_stop = time.monotonic() - stopped_at[0]
    addresses = [r.address for r in seen]
    assert len(set(addresses)) == len(addresses)
    # What was found before the stop is kept; what was in flight finished; nothing more was started.
    assert {r.address for r in seen if r.state is ProbeState.SSH} == {"10.77.0.11", "10.77.0.12"}
    assert {r.state for r in seen} == {ProbeState.SSH, ProbeState.SILENT}
    assert 300 <= len(seen) <= 300 + 256
    assert after_stop < 1.0 + 2.0  # one probe deadline, with room for a loaded machine
    # A stop before the first round probes nothing (inside the lab all the same: if it did, no packet
    # could leave it).
    never = farm.call_in_lab(lambda: discovery.scan(["10.78.0.1", "10.78.0.2"], should_stop=lambda: True))
    assert never == []


@pytest.mark.lab
def test_emfile_is_never_counted_as_a_result(make_lab) -> None:  # type: ignore[no-untyped-def]
    farm: LocalFarm = make_lab(n=2)
    code = (
        "import json, resource; from farmhand.nodes import discovery as d\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))\n"
        "r = d.scan(d.expand(d.parse_targets(['10.77.0.0/25'])), concurrency=500)\n"
        "print(json.dumps([x.to_json() for x in r]))\n"
    )
    proc = farm.run_in_lab([sys.executable, "-c", code], timeout=60)
    assert proc.returncode == 0, proc.stderr
    results = {r["address"]: r["state"] for r in json.loads(proc.stdout)}
    assert len(results) == 126
    assert results["10.77.0.11"] == "ssh" and results["10.77.0.12"] == "ssh"
    assert results["10.77.0.1"] == "refused"
    assert set(results.values()) <= {"ssh", "refused", "silent"}


def test_default_concurrency_from_rlimit() -> None:
    code = ("import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (300, 300));"
            "from farmhand.nodes import discovery; print(discovery.default_concurrency())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert 100 < int(out) < 300
