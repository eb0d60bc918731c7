"""The lab itself: real sshd nodes with distinct addresses, hostnames, MACs and host keys; faults work."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from farmhand.lab import GHOST, LocalFarm, guard, netns

pytestmark = pytest.mark.lab


def _ssh(farm: LocalFarm, name: str, command: str) -> subprocess.CompletedProcess[str]:
    node = farm.node(name)
    return farm.run_in_lab([
        "ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=3", "-i", str(farm.identity_file), "-p", str(node.port),
        f"{farm.user}@{node.address}", command,
    ])


def _connect(address: str, port: int = 22) -> str:
    try:
        with socket.create_connection((address, port), timeout=0.5) as s:
            return s.recv(16).decode("latin-1")
    except ConnectionRefusedError:
        return "refused"
    except (TimeoutError, socket.timeout):
        return "silent"


def test_nodes_are_distinct_real_sshd(lab: LocalFarm) -> None:
    seen = set()
    for node in lab.nodes:
        proc = _ssh(lab, node.name, "hostname; cat /sys/class/net/eth0/address")
        assert proc.returncode == 0, proc.stderr
        hostname, mac = proc.stdout.split()
        assert hostname == node.hostname
        seen.add(mac)
    assert len(seen) == len(lab.nodes)
    assert len({line.split()[2] for line in lab.known_hosts_lines()}) == len(lab.nodes)


def test_lab_has_no_route_out(lab: LocalFarm) -> None:
    routes = netns.run_in(lab.lab_ns, ["ip", "route"]).stdout
    assert "default" not in routes
    with pytest.raises(OSError, match=r"Network is unreachable|No route to host"):
        lab.call_in_lab(lambda: socket.create_connection(("192.0.2.1", 22), timeout=0.5))


def test_faults(make_lab) -> None:  # type: ignore[no-untyped-def]
    farm = make_lab(n=2)
    a, b = (n.name for n in farm.nodes)
    addr_a, addr_b = farm.node(a).address, farm.node(b).address
    assert farm.call_in_lab(lambda: _connect(addr_a)).startswith("SSH-2.0-OpenSSH")
    assert farm.call_in_lab(lambda: _connect(GHOST)) == "refused"

    farm.drop(a)
    assert farm.call_in_lab(lambda: _connect(addr_a)) == "silent"
    farm.undrop(a)
    assert farm.call_in_lab(lambda: _connect(addr_a)).startswith("SSH-")

    farm.stop_sshd(b)
    assert farm.call_in_lab(lambda: _connect(addr_b)) == "refused"
    farm.start_sshd(b)
    farm.serve_not_ssh(b)
    assert farm.call_in_lab(lambda: _connect(addr_b)).startswith("HTTP/1.0")
    farm.restore_ssh(b)

    before = farm.known_hosts_lines()[0]
    farm.change_host_key(a)
    assert farm.known_hosts_lines()[0] != before
    assert _ssh(farm, a, "true").returncode == 0

    farm.kill_node(a)
    assert not netns.pids(farm.node(a).netns or "")
    farm.add_silent("10.77.0.50")
    farm.add_fake_service("10.77.0.60")
    assert farm.call_in_lab(lambda: _connect("10.77.0.50")) == "silent"
    assert farm.call_in_lab(lambda: _connect("10.77.0.60")).startswith("220 ")


def test_teardown_removes_everything() -> None:
    farm = LocalFarm(n=2)
    with farm:
        names = [farm.lab_ns, *(n.netns for n in farm.nodes)]
        assert all(netns.exists(str(n)) for n in names)
        root = farm.root
    assert not any(netns.exists(str(n)) for n in names)
    assert not root.exists()


def test_teardown_after_failure() -> None:
    farm = LocalFarm(n=1)
    name = farm.lab_ns

    def fail_inside() -> None:
        with farm:
            assert netns.exists(name)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fail_inside()
    assert not netns.exists(name)


def test_inside_is_per_thread(lab: LocalFarm) -> None:
    routes = subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    assert "unreachable 10.77.0.0/24" in routes
    addr = lab.nodes[0].address
    with lab.inside():
        assert _connect(addr).startswith("SSH-")
    # Outside the lab the guard route makes the address unreachable at once (nothing leaves the machine).
    with pytest.raises(OSError, match=r"No route to host|Network is unreachable"):
        socket.create_connection((addr, 22), timeout=0.3)


def test_loopback_mode() -> None:
    with LocalFarm(n=2, mode="loopback") as farm:
        for node in farm.nodes:
            assert node.address.startswith("127.")
            assert _connect(node.address, node.port).startswith("SSH-")
            assert _ssh(farm, node.name, "echo ok").stdout.strip() == "ok"


def _guard_routes(proto: str, outside: bool = True) -> str:
    def show() -> str:
        return subprocess.run(["ip", "route", "show", "proto", proto], capture_output=True, text=True,
                              check=True).stdout

    assert guard._outer_fd is not None
    return netns.call_in_fd(guard._outer_fd, show) if outside else show()


def test_guard_routes_leave_with_the_last_holder(tmp_path, in_lab: LocalFarm) -> None:  # type: ignore[no-untyped-def]
    # A private holder directory and route protocol: the machine's real guard (other labs) is untouched.
    # Installed from a thread inside a lab, the route still goes to the namespace the process started in.
    net, proto = ipaddress.IPv4Network("10.79.251.0/24"), "178"
    (tmp_path / "999999999-dead-holder").write_text("")  # a holder whose process is gone does not count
    guard.install(net, "a", tmp_path, proto)
    guard.install(net, "b", tmp_path, proto)
    try:
        assert "unreachable 10.79.251.0/24" in _guard_routes(proto)
        assert _guard_routes(proto, outside=False) == ""  # nothing added inside the lab this thread is in
        assert guard.release("a", tmp_path, proto) is False
        assert "10.79.251.0/24" in _guard_routes(proto)
        assert guard.release("b", tmp_path, proto) is True
        assert _guard_routes(proto) == ""
    finally:
        assert guard._outer_fd is not None
        netns.call_in_fd(guard._outer_fd, lambda: netns.ip("route", "flush", "proto", proto, check=False))


def test_guard_refuses_a_range_this_machine_routes() -> None:
    routes = [
        {"dst": "default", "gateway": "192.0.2.1", "dev": "eth0"},
        {"type": "unreachable", "dst": "10.77.0.0/24", "protocol": "177"},
        {"dst": "10.64.0.0/10", "dev": "tun0", "protocol": "static"},
        {"type": "local", "dst": "10.77.0.5", "dev": "eth1", "table": "local"},
        {"dst": "192.0.2.0/24", "dev": "eth0"},
    ]
    assert guard.conflicts(ipaddress.IPv4Network("10.77.0.0/24"), routes) == [
        "unicast 10.64.0.0/10 dev tun0", "local 10.77.0.5 dev eth1"]
    assert guard.conflicts(ipaddress.IPv4Network("10.200.0.0/16"), routes) == []


def test_lab_script_tears_down_on_sigterm() -> None:
    # `python -m farmhand.lab` killed (kill, closed terminal, CI timeout) leaves no namespace, sshd or
    # FARMHAND_HOME behind.
    proc = subprocess.Popen([sys.executable, "-m", "farmhand.lab", "-n", "1"], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("Ctrl-C"):
            break
    text = "".join(lines)
    lab_ns = text.split("ip netns exec ")[1].split()[0]
    home = Path(text.split("FARMHAND_HOME=")[1].split()[0])
    prefix = lab_ns.removesuffix("-lab")
    assert netns.exists(lab_ns) and home.is_dir()
    proc.terminate()
    assert proc.wait(20) == 0
    assert not [n for n in netns.list_names() if n.startswith(prefix)]
    assert not home.exists()
