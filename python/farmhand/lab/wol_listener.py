"""A stand-in for a sleeping machine's network card: starts the node's sshd on a valid magic packet.

Run in a lab node's network namespace (:func:`start_in_node`), it listens on UDP port 9 (every address,
so subnet and limited broadcasts arrive) and, when a datagram carries a Wake-on-LAN magic packet for
*its* MAC (six ``0xFF`` bytes, then the MAC sixteen times), starts the command it was given (the node's
sshd) unless that is already running. Packets for other MACs, short or garbled ones are logged and
ignored. A node whose sshd was stopped is then "asleep" to Farmhand: new SSH connections are refused
until a packet wakes it, as a suspended machine would behave.

    python -m farmhand.lab.wol_listener --mac 3c:ec:ef:12:34:56 [--port 9] [--log FILE] -- ARGV...
"""

from __future__ import annotations

import argparse
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from farmhand.nodes.wol import WOL_PORT, magic_packet

if TYPE_CHECKING:
    from farmhand.lab.farm import LocalFarm

log = logging.getLogger(__name__)


def is_magic(payload: bytes, mac: str) -> bool:
    """``payload`` holds a magic packet for ``mac`` (anywhere in it, as network cards look for it)."""
    return magic_packet(mac) in payload


class Listener:
    """Starts ``argv`` when a magic packet for ``mac`` arrives on ``sock`` (a bound UDP socket)."""

    def __init__(self, sock: socket.socket, mac: str, argv: Sequence[str],
                 log_path: Optional[Path] = None) -> None:
        magic_packet(mac)  # a bad MAC fails here, not at the first packet
        self.sock, self.mac, self.argv, self.log_path = sock, mac, list(argv), log_path
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.wakes = 0

    def note(self, text: str) -> None:
        log.info("%s", text)
        if self.log_path is not None:
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(f"{time.time():.3f} {text}\n")

    def handle(self, payload: bytes, sender: str) -> bool:
        """One datagram; True when it started the command."""
        if not is_magic(payload, self.mac):
            self.note(f"ignored {len(payload)} bytes from {sender}: not a magic packet for {self.mac}")
            return False
        if self.proc is not None and self.proc.poll() is None:
            self.note(f"magic packet from {sender}: already awake")
            return False
        where = self.log_path.with_suffix(".out") if self.log_path else Path("/dev/null")
        with open(where, "ab") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        self.wakes += 1
        self.note(f"magic packet from {sender}: woke (started pid {self.proc.pid})")
        return True

    def serve(self, stop: threading.Event) -> None:
        self.sock.settimeout(0.2)
        while not stop.is_set():
            try:
                payload, (sender, _port) = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.handle(payload, sender)


def udp_socket(port: int = WOL_PORT, address: str = "0.0.0.0") -> socket.socket:  # noqa: S104 - every address: broadcasts
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    return sock


def start_in_node(lab: LocalFarm, name: str) -> Path:
    """Run a listener in node ``name``'s namespace that starts its sshd on a magic packet for its MAC.
    The process goes with the lab; returns its log file (one line per packet)."""
    node = lab._nodes[name]  # the lab's own record of the node: its sshd command
    if not node.info.netns:
        raise RuntimeError("a Wake-on-LAN listener needs the netns lab (each node its own address and MAC)")
    log_path = node.dir / "wol.log"
    repo_python = str(Path(__file__).resolve().parents[2])
    argv = ["ip", "netns", "exec", node.info.netns, "env", f"PYTHONPATH={repo_python}", sys.executable,
            "-m", "farmhand.lab.wol_listener", "--mac", lab.mac(name), "--log", str(log_path), "--",
            *node.server.argv]
    errors = node.dir / "wol.err"
    with open(errors, "ab") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
    node.extra.append(proc)
    deadline = time.monotonic() + 10
    while not (log_path.exists() and "listening" in log_path.read_text()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the wake listener of {name} did not start: {errors.read_text()}")
        time.sleep(0.02)
    return log_path


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="farmhand.lab.wol_listener", description=__doc__.split("\n")[0])
    parser.add_argument("--mac", required=True, help="this node's MAC address")
    parser.add_argument("--port", type=int, default=WOL_PORT, help="UDP port (default %(default)s)")
    parser.add_argument("--log", type=Path, help="append one line per packet here")
    parser.add_argument("command", nargs="+", help="what to start on a magic packet (after --)")
    args = parser.parse_args(argv)
    listener = Listener(udp_socket(args.port), args.mac, args.command, args.log)
    listener.note(f"listening on udp/{args.port} for {args.mac}")
    listener.serve(threading.Event())
    return 0


if __name__ == "__main__":
    sys.exit(main())
