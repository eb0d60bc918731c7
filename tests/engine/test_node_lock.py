"""The chunk wrapper's node lock, run for real with ``sh`` and ``flock`` on this machine.

Each case runs in its own network and UTS namespace (``unshare``, root) so its lock file name cannot meet
another test's or the lab's. ``SSH_CONNECTION`` is set as sshd would set it for the address a client
connected to.
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

import pytest

from farmhand.engine import nodescripts

pytestmark = pytest.mark.lab


def _env(server_address: str, port: int) -> dict[str, str]:
    return dict(os.environ, SSH_CONNECTION=f"10.9.9.9 50000 {server_address} {port}")


@pytest.fixture
def node_shell() -> list[str]:
    """A prefix that runs a command in a fresh network + UTS namespace named like a render node."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.fail("needs root and unshare(1) (run the lab tests with sudo)")
    return ["unshare", "--net", "--uts", "sh", "-c", 'hostname render77 && exec "$@"', "unshare-node"]


def _second_start(
    node_shell: list[str], tmp: Path, first: tuple[str, int], second: tuple[str, int]
) -> int:
    """Start a long chunk connected through ``first``, then a short one through ``second`` on the same
    machine (same namespaces); return the second's exit status (the first is then killed)."""
    # The first chunk holds the lock until the script creates $STOP (after the second ended).
    hold = ["sh", "-c", 'while [ ! -e "$STOP" ]; do sleep 0.05; done']
    # Each wrapper reads its chunk's nonce from stdin first, as the dispatcher writes it.
    script = (
        'echo "$NONCE" | sh -c "$WRAPPER" ' + shlex.join(nodescripts.chunk_argv("1", 1, hold)[3:])
        + " & sleep 0.5; "
        'echo "$NONCE" | SSH_CONNECTION="10.9.9.9 50001 $B_ADDR $B_PORT" "$@"; rc=$?; : >"$STOP"; wait; '
        "exit $rc"
    )
    env = _env(*first) | {
        "B_ADDR": second[0],
        "B_PORT": str(second[1]),
        "WRAPPER": nodescripts.CHUNK_WRAPPER,
        "STOP": str(tmp / "stop"),
        "NONCE": "0123456789abcdef0123456789abcdef",
        "HOME": str(tmp / "home"),
    }
    argv = [*node_shell, "sh", "-c", script, "pair", *nodescripts.chunk_argv("1", 2, ["true"])]
    started = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert time.monotonic() - started < 15, proc.stderr
    return proc.returncode


def test_one_node_reached_by_two_addresses_is_one_lock(node_shell: list[str], tmp_path: Path) -> None:
    """Two artists who registered a multi-homed node under different addresses (two NICs, IPv4 and
    IPv6) must still exclude each other: the second finds the node busy."""
    rc = _second_start(node_shell, tmp_path, ("192.168.10.5", 22), ("10.0.0.5", 22))
    assert rc == nodescripts.BUSY_EXIT


def test_same_address_is_busy(node_shell: list[str], tmp_path: Path) -> None:
    rc = _second_start(node_shell, tmp_path, ("192.168.10.5", 22), ("192.168.10.5", 22))
    assert rc == nodescripts.BUSY_EXIT


def test_loopback_nodes_on_one_machine_are_separate(node_shell: list[str], tmp_path: Path) -> None:
    """The loopback lab (``farmhand demo`` without root) runs several nodes as sshds on one machine,
    told apart only by address and port: they must not lock each other out."""
    assert _second_start(node_shell, tmp_path, ("127.0.0.2", 2201), ("127.0.0.3", 2202)) == 0


NONCE = "0123456789abcdef0123456789abcdef"


def _as(user: Optional[str], home: Path, render: list[str], stop: Path) -> subprocess.Popen[str]:
    """Start a chunk wrapper as ``user`` (None: root, the render account here) with its own HOME."""
    argv = nodescripts.chunk_argv("1", 1, render)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(home),
           "SSH_CONNECTION": "10.9.9.9 50000 192.168.10.5 22", "STOP": str(stop)}
    prefix = ["runuser", "-u", user, "--"] if user else []
    proc = subprocess.Popen([*prefix, "env", *[f"{k}={v}" for k, v in env.items()], *argv],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    proc.stdin.write(NONCE + "\n")
    proc.stdin.flush()
    return proc


def test_another_user_on_the_node_can_neither_hold_nor_starve_the_lock() -> None:
    """A second, unprivileged account on the node: it can read the render account's home (0755, as
    usual) but not its lock folder (0700); its own wrapper locks in its own home; a link it plants at
    the old /tmp lock name leads nowhere. The render account's chunks still lock each other out."""
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.fail("needs root and runuser(1) (run the lab tests with sudo)")
    base = Path(tempfile.mkdtemp(prefix="fh-lock-users-"))
    procs: list[subprocess.Popen[str]] = []
    try:
        base.chmod(0o755)
        render_home, other_home = base / "render", base / "other"
        render_home.mkdir(mode=0o755)
        other_home.mkdir(mode=0o755)
        shutil.chown(other_home, "nobody")
        stop = base / "stop"
        hold = ["sh", "-c", 'while [ ! -e "$STOP" ]; do sleep 0.05; done']
        # The other user goes first and holds its own lock for the whole test.
        theirs = _as("nobody", other_home, hold, stop)
        procs.append(theirs)
        assert theirs.stdout is not None and NONCE in theirs.stdout.readline()
        folder = render_home / ".cache" / "farmhand"
        ours = _as(None, render_home, hold, stop)
        procs.append(ours)
        assert ours.stdout is not None and NONCE in ours.stdout.readline()  # not starved: it has the lock
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        (lock,) = folder.iterdir()
        probe = subprocess.run(["runuser", "-u", "nobody", "--", "sh", "-c", 'exec 9<"$1" && flock -n 9', "p",
                                str(lock)], capture_output=True, text=True)
        assert probe.returncode != 0 and "Permission denied" in probe.stderr
        # A second chunk of the render account is still locked out by the first.
        second = _as(None, render_home, ["true"], stop)
        out, _ = second.communicate(timeout=15)
        assert second.returncode == nodescripts.BUSY_EXIT and NONCE in out
    finally:
        (base / "stop").touch()
        for proc in procs:
            proc.communicate(timeout=15)
        shutil.rmtree(base, ignore_errors=True)
