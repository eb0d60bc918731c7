"""The SSH layer against real OpenSSH sshd nodes in the lab."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from farmhand.errors import AuthFailed, HostKeyChanged, HostKeyUnknown, NodeError, NodeUnreachable
from farmhand.lab import LocalFarm
from farmhand.ssh import SSHExecutor, Timeouts, fan_out
from farmhand.ssh.channel import WATCHDOG

pytestmark = pytest.mark.lab

HOSTILE = [
    "it's", 'say "hi"', "two  spaces", "$(touch /tmp/pwned-farmhand)", "a;b", "line\nbreak", "tab\there",
    "`id`", "ünïcødé ✓", "*", "", "-n", "back\\slash", "'$HOME'", "trailing\\",
]


@pytest.fixture
def ex(trusted_lab: LocalFarm) -> SSHExecutor:
    with trusted_lab.inside():
        executor = SSHExecutor()
    yield executor
    executor.close()


def test_run_streams_and_returns_result(ex: SSHExecutor, trusted_lab: LocalFarm) -> None:
    lines: list[tuple[str, str]] = []
    with trusted_lab.inside():
        res = ex.run("render01", ["sh", "-c", "echo out1; echo err1 >&2; printf 'a\\rb\\r\\nc'; exit 3"],
                     on_line=lambda s, line: lines.append((s, line)))
    assert res.exit_code == 3 and not res.ok
    assert res.host == "render01"
    assert ("out", "out1") in lines and ("err", "err1") in lines
    assert [x for s, x in lines if s == "out"] == ["out1", "a", "b", "c"]
    assert res.stdout == "out1\na\rb\r\nc"
    assert res.duration > 0


def test_death_by_signal_has_no_exit_code(ex: SSHExecutor, trusted_lab: LocalFarm) -> None:
    with trusted_lab.inside():
        res = ex.run("render01", ["sh", "-c", "echo before; kill -KILL $$"])
        assert ex.run("render01", ["true"]).ok  # the connection is still fine
    assert res.exit_code is None and res.signal is not None and res.stdout == "before\n"


def test_hostile_argv_round_trips(ex: SSHExecutor, trusted_lab: LocalFarm) -> None:
    with trusted_lab.inside():
        res = ex.run("render02", ["printf", "%s\\0", *HOSTILE])
    assert res.exit_code == 0
    assert res.stdout.split("\0")[:-1] == HOSTILE
    assert not Path("/tmp/pwned-farmhand").exists()


def test_connection_is_reused_and_thread_safe(ex: SSHExecutor, trusted_lab: LocalFarm) -> None:
    with trusted_lab.inside():
        first = ex.connection("render01")
        results = fan_out(["render01"] * 1 + [f"render0{i}" for i in range(1, 5)],
                          lambda h: ex.run(h, ["hostname"]).stdout.strip())
        outs: list[object] = []

        def one() -> None:
            try:
                outs.append(ex.run("render01", ["echo", "x"]).stdout)
            except Exception as exc:
                outs.append(exc)

        threads = [threading.Thread(target=one) for _ in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert ex.connection("render01") is first
    assert results.succeeded == {f"render0{i}": f"render0{i}" for i in range(1, 5)}
    assert outs == ["x\n"] * 12


def test_large_output_both_streams_no_deadlock(ex: SSHExecutor, trusted_lab: LocalFarm) -> None:
    script = "head -c 10000000 /dev/zero | tr '\\0' a; head -c 10000000 /dev/zero | tr '\\0' b >&2"
    with trusted_lab.inside():
        res = ex.run("render03", ["sh", "-c", script], timeout=60)
    assert res.exit_code == 0
    assert len(res.stdout) == 10_000_000 and len(res.stderr) == 10_000_000


def test_stdin_and_timeout(ex: SSHExecutor, trusted_lab: LocalFarm) -> None:
    with trusted_lab.inside():
        assert ex.run("render01", ["cat"], stdin="hello\n").stdout == "hello\n"
        big = "x" * 8_000_000 + "\n"  # far beyond the 2 MiB channel window, echoed back while being sent
        assert ex.run("render01", ["cat"], stdin=big, timeout=60).stdout == big
        with pytest.raises(NodeError, match="did not finish within"):
            ex.run("render01", ["sleep", "5"], timeout=0.5)


def _pgroup_alive(farm: LocalFarm, node: str, pgid: int) -> bool:
    # Zombies count as gone: in this container orphans may be reparented to a PID 1 that never reaps.
    ps = farm.run_on_node(node, ["ps", "-A", "-o", "pgid=,stat="]).stdout.split("\n")
    return any(f.split()[0] == str(pgid) and not f.split()[1].startswith("Z") for f in ps if f.strip())


def test_start_watchdog_exit_code_and_stdin(ex: SSHExecutor, trusted_lab: LocalFarm) -> None:
    lines: list[str] = []
    with trusted_lab.inside():
        proc = ex.start("render01", ["sh", "-c", "read x; echo got:$x; exit 7"],
                        on_line=lambda s, line: lines.append(line))
        proc.write("frame12\n")
        res = proc.wait(10)
    assert res is not None and res.exit_code == 7
    assert lines == ["got:frame12"]
    assert proc.pgid is not None


def test_closing_channel_kills_remote_tree(
    ex: SSHExecutor, trusted_lab: LocalFarm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="farmhand.ssh")
    with trusted_lab.inside():
        proc = ex.start("render02", ["sh", "-c", "sleep 300 & sleep 301 & wait"], on_line=lambda s, x: None)
        pgid = proc.wait_pgid()
        assert pgid is not None
        time.sleep(0.3)
        assert _pgroup_alive(trusted_lab, "render02", pgid)
        proc.close()
        assert proc.wait(5) is not None
    deadline = time.monotonic() + 5
    while _pgroup_alive(trusted_lab, "render02", pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _pgroup_alive(trusted_lab, "render02", pgid)
    # Closing is how a kill ends a task: it must not read as a failure in the dispatcher's log.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_kill_group_term_then_kill(ex: SSHExecutor, trusted_lab: LocalFarm) -> None:
    with trusted_lab.inside():
        proc = ex.start("render03", ["sh", "-c", "trap '' TERM; sleep 300 & wait"], on_line=lambda s, x: None)
        pgid = proc.wait_pgid()
        assert pgid is not None
        time.sleep(0.3)
        assert ex.kill_group("render03", pgid, grace=0.5)
        res = proc.wait(5)
    assert res is not None
    assert not _pgroup_alive(trusted_lab, "render03", pgid)


def test_watchdog_script_is_posix_sh() -> None:
    import subprocess

    assert subprocess.run(["sh", "-n", "-c", WATCHDOG]).returncode == 0
    # Runs locally too: exit code passes through and stdin reaches the command.
    # Stdin stays open (EOF would mean "stop"), as the SSH client keeps it open.
    proc = subprocess.Popen(["sh", "-c", WATCHDOG, "sh", "sh", "-c", "read a; echo $a; exit 5"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write("x\n")
    proc.stdin.flush()
    assert proc.wait(10) == 5
    assert proc.stdout.read() == "x\n"
    proc.stdin.close()


# ---------------------------------------------------------------- errors, faults and host keys
def _executor(farm: LocalFarm, **kw: object) -> SSHExecutor:
    with farm.inside():
        return SSHExecutor(timeouts=Timeouts(connect=1.0, banner=2.0, dead_peer=2.0), **kw)  # type: ignore[arg-type]


def test_unknown_host_key_refused_then_trusted(make_lab, farmhand_home: Path) -> None:  # type: ignore[no-untyped-def]
    from conftest import write_ssh_config

    farm = make_lab(n=1)
    write_ssh_config(farm)
    ex = _executor(farm)
    with farm.inside():
        with pytest.raises(HostKeyUnknown) as info:
            ex.run("render01", ["true"])
        msg = info.value.message
        assert "SHA256:" in msg and "farmhand nodes trust render01" in msg
        key = ex.fetch_host_key("render01")
        assert key.fingerprint == info.value.fingerprint
        ex.trust(key)
        assert ex.run("render01", ["true"]).ok
    assert (farmhand_home / "known_hosts").stat().st_mode & 0o777 == 0o600


def test_accept_new_and_changed_key_refused(make_lab, farmhand_home: Path) -> None:  # type: ignore[no-untyped-def]
    from conftest import write_ssh_config

    farm = make_lab(n=1)
    write_ssh_config(farm)
    ex = _executor(farm, accept_new=True)
    with farm.inside():
        assert ex.run("render01", ["true"]).ok
        saved = (farmhand_home / "known_hosts").read_text()
        farm.change_host_key("render01")
        ex.close()
        with pytest.raises(HostKeyChanged, match="HOST KEY CHANGED"):
            ex.run("render01", ["true"])
        with pytest.raises(HostKeyChanged):
            ex.trust(ex.fetch_host_key("render01"))
    assert (farmhand_home / "known_hosts").read_text() == saved


def test_auth_failure(make_lab, farmhand_home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    farm = make_lab(n=1)
    farm.trust()
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    node = farm.nodes[0]
    ex = _executor(farm, identity=str(other), user=farm.user)
    with farm.inside(), pytest.raises(AuthFailed, match="authentication failed for user"):
        ex.run(node.address, ["true"])
    ex2 = _executor(farm, identity=str(tmp_path / "missing"))
    with farm.inside(), pytest.raises(AuthFailed, match="does not exist"):
        ex2.run(node.address, ["true"])


def test_unreachable_drop_refused_not_ssh(make_lab, farmhand_home: Path) -> None:  # type: ignore[no-untyped-def]
    from conftest import write_ssh_config

    farm = make_lab(n=3)
    farm.trust()
    write_ssh_config(farm)
    farm.drop("render01")
    farm.stop_sshd("render02")
    farm.serve_not_ssh("render03")
    ex = _executor(farm)
    with farm.inside():
        t0 = time.monotonic()
        with pytest.raises(NodeUnreachable, match="no answer"):
            ex.run("render01", ["true"])
        assert time.monotonic() - t0 < 3
        with pytest.raises(NodeUnreachable, match="refused"):
            ex.run("render02", ["true"])
        with pytest.raises(NodeError, match="not with SSH"):
            ex.run("render03", ["true"])
        with pytest.raises(NodeUnreachable, match="cannot resolve"):
            ex.run("no-such-node.invalid", ["true"])


def test_dead_peer_detected_in_seconds(make_lab, farmhand_home: Path) -> None:  # type: ignore[no-untyped-def]
    from conftest import write_ssh_config

    farm = make_lab(n=1)
    farm.trust()
    write_ssh_config(farm)
    ex = _executor(farm)
    with farm.inside():
        assert ex.run("render01", ["true"]).ok
        proc = ex.start("render01", ["sleep", "60"], on_line=lambda s, x: None)
        time.sleep(0.3)
        farm.drop("render01")
        t0 = time.monotonic()
        res = proc.wait(15)
        elapsed = time.monotonic() - t0
    assert res is not None and res.exit_code is None
    assert elapsed < 10


def test_sshd_turning_us_away_is_retried_then_reported(make_lab, farmhand_home: Path) -> None:  # type: ignore[no-untyped-def]
    from farmhand.nodes import discovery
    from farmhand.ssh.connect import HandshakeDropped

    farm = make_lab(n=1)
    farm.add_fake_service("10.77.0.70", b"Exceeded MaxStartups\r\n")
    ex = _executor(farm, identity=str(farm.identity_file))
    with farm.inside():
        t0 = time.monotonic()
        with pytest.raises(HandshakeDropped, match="turned us away"):
            ex.run("10.77.0.70", ["true"])
        assert time.monotonic() - t0 > 0.1  # retried with back-off before giving up
        (res,) = discovery.scan(["10.77.0.70"])
    assert res.state is discovery.ProbeState.SSH and res.banner == "Exceeded MaxStartups"


@pytest.mark.parametrize("with_setsid", [True, False])
def test_watchdog_makes_a_process_group_with_or_without_setsid(tmp_path: Path, with_setsid: bool) -> None:
    """Locally: the command leads its own group ($c == its pgid); macOS lacks setsid(1) → perl fallback."""
    import shutil
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tools = ["sh", "cat", "mktemp", "mkfifo", "rm", "perl", "ps", "sleep"]
    tools += ["setsid"] if with_setsid else []
    for tool in tools:
        (bin_dir / tool).symlink_to(shutil.which(tool) or tool)
    proc = subprocess.Popen(
        ["sh", "-c", WATCHDOG, "sh", "sh", "-c", 'echo "$$ $(ps -o pgid= -p $$)"; exit 4'],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PATH": str(bin_dir)},
    )
    assert proc.wait(10) == 4
    assert proc.stdout is not None and proc.stderr is not None
    pid, pgid = proc.stdout.read().split()
    mark = proc.stderr.read().splitlines()[0]
    assert pid == pgid and mark == f"FARMHAND_PGID={pid}"
    assert proc.stdin is not None
    proc.stdin.close()


def test_reconnects_after_the_node_restarted(make_lab, farmhand_home: Path) -> None:  # type: ignore[no-untyped-def]
    farm = make_lab(n=1)
    farm.trust()
    ex = _executor(farm, identity=str(farm.identity_file))
    address = farm.nodes[0].address
    with farm.inside():
        first = ex.connection(address)
        assert ex.run(address, ["true"]).ok
        farm.kill_node("render01")  # sshd and our session's server side die: like a reboot
        farm.start_sshd("render01")
        assert ex.run(address, ["echo", "back"]).stdout == "back\n"
        assert ex.connection(address) is not first
