"""A TCP door to the lab's PostgreSQL inside the lab's network namespace, so the network can be cut.

The lab's throwaway PostgreSQL (:mod:`farmhand.lab.pgcluster`) is reached over its Unix socket, which no
packet filter sees. A dispatcher that should lose the database by the network instead connects to
``127.0.0.1:PORT`` inside the lab namespace, where this relay passes every byte to and from the socket;
the fault suite then drops that port's packets with ``iptables`` (:func:`cut`), as a pulled cable or a
firewall would: the connection is not closed, it just goes silent.

Run inside the lab namespace: ``python -m farmhand.lab.pgrelay PORT SOCKET``; prints ``ready`` once it
listens and relays until killed.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from collections.abc import Sequence

from farmhand.lab import netns


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _serve(client: socket.socket, path: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(path)
    except OSError:
        client.close()
        upstream.close()
        return
    threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
    threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()


def relay(port: int, path: str) -> None:
    """Accept on ``127.0.0.1:port`` and pass each connection to the Unix socket ``path``; never returns."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(64)
    print("ready", flush=True)
    while True:
        client, _ = server.accept()
        _serve(client, path)


def _rules(port: int) -> list[list[str]]:
    return [["INPUT", "-i", "lo", "-p", "tcp", "--dport", str(port), "-j", "DROP"],
            ["OUTPUT", "-o", "lo", "-p", "tcp", "--sport", str(port), "-j", "DROP"]]


def cut(namespace: str, port: int) -> None:
    """Drop every packet to and from the relay's port inside ``namespace`` (its connections go silent)."""
    for rule in _rules(port):
        _iptables(namespace, ["-I", *rule])


def mend(namespace: str, port: int) -> None:
    """Undo :func:`cut`."""
    for rule in _rules(port):
        _iptables(namespace, ["-D", *rule])


def _iptables(namespace: str, args: Sequence[str]) -> None:
    proc = subprocess.run(netns.exec_argv(namespace, ["iptables", "-w", *args]), capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"iptables {' '.join(args)} in {namespace}: {proc.stderr.strip()}")


if __name__ == "__main__":
    relay(int(sys.argv[1]), sys.argv[2])
