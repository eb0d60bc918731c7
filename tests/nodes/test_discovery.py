"""Discovery: target parsing (unit) and classification against the real lab (every state)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from farmhand.errors import UsageError
from farmhand.lab import GHOST, LocalFarm, netns
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


@pytest.mark.parametrize(("bad", "message"), [
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
    farm.add_silent_service("10.77.0.80")
    seen: list[str] = []
    targets = addrs("10.77.0.0/24")
    # A long banner limit: only the adaptive banner wait keeps the silent service from holding the scan.
    results = farm.call_in_lab(lambda: discovery.scan(targets, banner_timeout=20,
                                                      on_result=lambda r: seen.append(r.address)), timeout=60)
    by = {r.address: r for r in results}
    assert len(results) == 254 and sorted(seen) == sorted(by)
    assert by["10.77.0.11"].state is ProbeState.SSH and by["10.77.0.11"].banner.startswith("SSH-2.0-OpenSSH")
    assert by["10.77.0.12"].state is ProbeState.SSH
    assert by["10.77.0.13"].state is ProbeState.SILENT  # DROP
    assert by["10.77.0.50"].state is ProbeState.SILENT
    assert by["10.77.0.60"].state is ProbeState.OPEN and by["10.77.0.60"].banner == "220 fake FTP ready"
    # Accepts and says nothing: not SSH (nmap would call it "ssh" by its port), and not waited for long.
    assert by["10.77.0.80"].state is ProbeState.OPEN and by["10.77.0.80"].banner is None
    assert by["10.77.0.80"].seconds < 10
    assert by["10.77.0.70"].state is ProbeState.UNREACHABLE
    assert by[GHOST].state is ProbeState.REFUSED and by["10.77.0.1"].state is ProbeState.REFUSED
    # Absent addresses: no ARP answer before the deadline.
    assert by["10.77.0.99"].state in (ProbeState.SILENT, ProbeState.UNREACHABLE)


@pytest.mark.lab
def test_stop_mid_scan_of_a_silent_range(make_lab) -> None:  # type: ignore[no-untyped-def]
    farm: LocalFarm = make_lab(n=2)
    farm.add_silent_range("10.78.0.0/16")
    spans = discovery.parse_targets(["10.77.0.11-12", "10.78.0.0/16"])
    stop = threading.Event()

    def run() -> list[discovery.ProbeResult]:
        seen = []
        # Fixed 1 s deadline, 256 at a time: the whole range would take over four minutes.
        for r in discovery.scan_iter(discovery.iter_addresses(spans), timeout=1.0, adaptive=False,
                                     concurrency=256, should_stop=stop.is_set):
            seen.append(r)
            if len(seen) >= 300 and not stop.is_set():
                stop.set()
        return seen

    seen = farm.call_in_lab(run, timeout=60)
    addresses = [r.address for r in seen]
    assert len(set(addresses)) == len(addresses)
    # What was found before the stop is kept; what was in flight finished; nothing more was started.
    assert {r.address for r in seen if r.state is ProbeState.SSH} == {"10.77.0.11", "10.77.0.12"}
    assert {r.state for r in seen} == {ProbeState.SSH, ProbeState.SILENT}
    assert 300 <= len(seen) <= 300 + 256  # only the probes in flight at the stop came after it
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


@pytest.mark.lab
@pytest.mark.parametrize("removal", [["link", "del", "br0"], ["addr", "flush", "dev", "br0"]])
def test_scan_ends_when_the_interface_goes_away_mid_scan(make_lab, removal: list[str]) -> None:  # type: ignore[no-untyped-def]
    farm: LocalFarm = make_lab(n=2)
    farm.add_silent_range("10.78.0.0/21")
    spans = discovery.parse_targets(["10.77.0.0/24", "10.78.0.0/21"])
    wanted = discovery.count(spans)

    def run() -> list[discovery.ProbeResult]:
        seen = []
        for r in discovery.scan_iter(discovery.iter_addresses(spans), timeout=1.0, adaptive=False,
                                     concurrency=256):
            seen.append(r)
            if len(seen) == 300:
                netns.ip("-n", farm.lab_ns, *removal)
        return seen

    seen = farm.call_in_lab(run, timeout=120)  # a hang fails here
    addresses = [r.address for r in seen]
    assert len(addresses) == len(set(addresses)) == wanted  # every address once, none lost or repeated
    assert {r.address for r in seen if r.state is ProbeState.SSH} == {"10.77.0.11", "10.77.0.12"}
    # Only probes started before the interface went (300 done + at most 256 in flight) waited for the
    # deadline; every later one failed at once (no route, no local address).
    from collections import Counter

    states = Counter(r.state for r in seen)
    assert states[ProbeState.SILENT] <= 300 + 256, states
    assert states[ProbeState.UNREACHABLE] >= wanted - 300 - 256, states


def test_deadlines_adapt_to_the_answers_seen() -> None:
    d = discovery.Deadlines(timeout=1.0, min_timeout=0.25, banner_timeout=2.0, min_banner=0.25)
    assert (d.connect(), d.banner()) == (1.0, 2.0)  # nothing seen yet: the full limits
    d.answered(0.002)
    d.banner_seen(0.004)
    assert (d.connect(), d.banner()) == (0.25, 0.25)  # LAN answers in ms: the floors
    d.banner_seen(0.05)
    assert d.banner() == pytest.approx(1.0)  # 20x the slowest banner
    d.banner_seen(5.0)
    assert d.banner() == 2.0  # never beyond the limit
    fixed = discovery.Deadlines(adaptive=False)
    fixed.answered(0.001)
    assert fixed.connect() == 1.0


@pytest.mark.parametrize(("data", "eof", "verdict"), [
    (b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n", False, (ProbeState.SSH, "SSH-2.0-OpenSSH_9.2p1 Debian")),
    (b"SSH-2.0-Open", False, None),  # half a banner: wait for the rest
    (b"welcome\r\nSSH-2.0-x\r\n", False, (ProbeState.SSH, "SSH-2.0-x")),  # lines before the banner
    (b"Exceeded MaxStartups\r\n", False, (ProbeState.SSH, "Exceeded MaxStartups")),
    (b"220 FTP ready\r\n", False, (ProbeState.OPEN, "220 FTP ready")),
    (b"", True, (ProbeState.OPEN, None)),  # accepted, then closed without a word
    (b"SSH-2.0-cut", True, (ProbeState.SSH, "SSH-2.0-cut")),
    (b"\x00" * 2000, False, (ProbeState.OPEN, "\x00" * 255)),  # no line end: the first 255 bytes
])
def test_banner_verdicts(data: bytes, eof: bool, verdict: object) -> None:
    from farmhand.nodes.prober import read_banner

    assert read_banner(data, eof) == verdict


class _FailingSocket:
    """A socket whose connect fails with one errno, as after an interface lost its address (EADDRNOTAVAIL)
    or when the process is out of descriptors (EMFILE)."""

    code = 0

    def __init__(self, *args: object) -> None:
        pass

    def setblocking(self, flag: bool) -> None:
        pass

    def connect_ex(self, address: object) -> int:
        return self.code

    def close(self) -> None:
        pass


def _scan_with_failing_sockets(monkeypatch: pytest.MonkeyPatch, code: int, n: int) -> object:
    import errno
    import types

    from farmhand.nodes import prober

    fake = type("Failing", (_FailingSocket,), {"code": getattr(errno, code)})  # type: ignore[call-overload]
    monkeypatch.setattr(prober, "socket", types.SimpleNamespace(socket=fake, AF_INET=2, SOCK_STREAM=1))
    box: list[object] = []

    def run() -> None:
        try:
            box.append(discovery.scan([f"10.99.0.{i}" for i in range(1, n + 1)]))
        except Exception as exc:
            box.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(30)
    assert box, "the scan never ended"
    return box[0]


def test_no_local_address_settles_addresses_not_retried_forever(monkeypatch: pytest.MonkeyPatch) -> None:
    results = _scan_with_failing_sockets(monkeypatch, "EADDRNOTAVAIL", 200)
    assert isinstance(results, list) and len(results) == 200
    assert {r.state for r in results} == {ProbeState.UNREACHABLE}


def test_out_of_descriptors_with_nothing_in_flight_is_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from farmhand.errors import FarmhandError

    err = _scan_with_failing_sockets(monkeypatch, "EMFILE", 3)
    assert isinstance(err, FarmhandError)
    assert err.message.startswith("scan stopped: this machine is out of file descriptors (ulimit -n) "
                                  "(EMFILE)")
