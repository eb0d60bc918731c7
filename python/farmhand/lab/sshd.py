"""One real OpenSSH ``sshd`` per lab node: keys, config and the server process."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Callable, Optional

log = logging.getLogger(__name__)

SSHD = "/usr/sbin/sshd"


#: Host key types a lab node can have (``ssh-keygen -t``); ed25519 is fast to generate.
HOST_KEY_TYPES = ("ed25519", "rsa", "ecdsa")


def keygen(path: Path, comment: str, key_type: str = "ed25519") -> str:
    """Create a key pair of ``key_type`` at ``path`` (replacing one) and return the public key line."""
    if key_type not in HOST_KEY_TYPES:
        raise ValueError(f"unknown key type {key_type!r}: one of {', '.join(HOST_KEY_TYPES)}")
    for p in (path, path.with_suffix(".pub")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    size = ["-b", "2048"] if key_type == "rsa" else []  # the smallest size OpenSSH accepts: quick
    subprocess.run(
        ["ssh-keygen", "-q", "-t", key_type, *size, "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return Path(f"{path}.pub").read_text().strip()


def host_key_path(directory: Path, key_type: str) -> Path:
    return directory / f"ssh_host_{key_type}_key"


def key_type(path: Path) -> str:
    """The type of a host key file named by :func:`host_key_path`."""
    return path.name[len("ssh_host_"):-len("_key")]


def write_config(
    directory: Path,
    listen: str,
    port: int,
    authorized_keys: Path,
    *,
    host_keys: Sequence[Path],
    client_alive: bool,
    as_root: bool,
) -> Path:
    """Write the node's sshd_config: key-only auth against the lab's test key, defaults kept otherwise
    (MaxStartups in particular, because real nodes have it)."""
    lines = [
        f"ListenAddress {listen}:{port}",
        *(f"HostKey {key}" for key in host_keys),
        "PidFile none",
        f"AuthorizedKeysFile {authorized_keys}",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        # Keys live in a temporary directory whose modes sshd would otherwise reject.
        "StrictModes no",
        "PermitRootLogin prohibit-password" if as_root else "PermitRootLogin no",
        "AllowAgentForwarding yes",
        "LogLevel ERROR",
        "Subsystem sftp internal-sftp",
    ]
    if client_alive:
        # Lets the node notice a vanished controller in ~6 s so orphaned sessions end.
        lines += ["ClientAliveInterval 2", "ClientAliveCountMax 2"]
    path = directory / "sshd_config"
    path.write_text("\n".join(lines) + "\n")
    return path


class SshdProcess:
    """An sshd running in the foreground (``-D``) so its PID is ours to stop."""

    def __init__(self, argv: list[str], log_path: Path) -> None:
        self.argv = argv
        self.log_path = log_path
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc is not None else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the listener. Sessions already open (sshd children) keep running, as on a real box."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def sshd_argv(config: Path) -> list[str]:
    return [SSHD, "-D", "-e", "-f", str(config)]


def node_wrapper(hostname: str, rcfile: Path, sshd: list[str]) -> list[str]:
    """Run ``sshd`` with its own hostname (UTS namespace) and a lab-owned shell rc file.

    The node's private mount namespace gets ``rcfile`` bind-mounted over the login user's ``~/.bashrc``,
    so a heavy rc file on the controller machine (pyenv init: ~100 ms) does not tax every command, and tests
    can write noise into it to check that parsers ignore rc-file output.
    """
    import pwd

    # The login user's home as sshd sees it (the passwd entry), not this process's $HOME.
    home = pwd.getpwuid(os.getuid()).pw_dir
    script = (
        'hostname "$1"; '
        'if [ -e "$3/.bashrc" ]; then mount --bind "$2" "$3/.bashrc"; fi; '
        'shift 3; exec "$@"'
    )
    return ["unshare", "--uts", "--mount", "sh", "-c", script, "sh", hostname, str(rcfile), home, *sshd]


def wait_listening(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not start listening within {timeout}s")


def python() -> str:
    """A Python for node-side helper processes (a fake non-SSH service)."""
    return sys.executable or shutil.which("python3") or "python3"


#: A TCP service: ``ADDR PORT [BANNER]``. With a banner it sends it and closes each connection; without
#: one it accepts and never sends a byte (connections are held open, as a hung service holds them).
NOT_SSH_SERVER = r"""
import socket, sys
addr, port = sys.argv[1], int(sys.argv[2])
banner = sys.argv[3].encode("latin-1") if len(sys.argv) > 3 else None
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, port)); s.listen(256)
held = []
while True:
    c, _ = s.accept()
    if banner is None:
        held.append(c)
        del held[:-900]
        continue
    try:
        c.sendall(banner)
    except OSError:
        pass
    c.close()
"""
