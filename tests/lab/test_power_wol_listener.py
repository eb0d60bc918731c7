"""The lab's Wake-on-LAN listener, on loopback: only a magic packet for its own MAC starts its command,
once while that runs, again after it stopped."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from farmhand.errors import UsageError
from farmhand.lab.wol_listener import Listener, is_magic, udp_socket
from farmhand.nodes.wol import magic_packet

MAC = "3c:ec:ef:12:34:56"


def test_is_magic_wants_the_whole_packet_for_this_mac() -> None:
    packet = magic_packet(MAC)
    assert is_magic(packet, MAC) and is_magic(b"prefix" + packet + b"suffix", "3C-EC-EF-12-34-56")
    assert not is_magic(packet[:-1], MAC)
    assert not is_magic(magic_packet("3c:ec:ef:12:34:57"), MAC)
    assert not is_magic(b"\xff" * 102, MAC)


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[Listener, int]]:
    sock = udp_socket(0, "127.0.0.1")
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    found = Listener(sock, MAC, sleeper, tmp_path / "wol.log")
    stop = threading.Event()
    thread = threading.Thread(target=found.serve, args=(stop,), daemon=True)
    thread.start()
    yield found, sock.getsockname()[1]
    stop.set()
    thread.join(2)
    sock.close()
    if found.proc is not None:
        found.proc.kill()
        found.proc.wait()


def send(port: int, payload: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
        out.sendto(payload, ("127.0.0.1", port))


def wait_lines(log: Path, count: int) -> list[str]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        lines = log.read_text().splitlines() if log.exists() else []
        if len(lines) >= count:
            return lines
        time.sleep(0.02)
    raise AssertionError(f"{log} has fewer than {count} lines")


def test_only_a_packet_for_its_mac_starts_the_command_once(listener: tuple[Listener, int]) -> None:
    found, port = listener
    assert found.log_path is not None
    send(port, magic_packet("3c:ec:ef:12:34:57"))
    send(port, b"hello")
    assert "not a magic packet" in wait_lines(found.log_path, 2)[1]
    assert found.proc is None
    send(port, magic_packet(MAC))
    assert "woke (started pid" in wait_lines(found.log_path, 3)[2]
    assert found.proc is not None and found.proc.poll() is None
    send(port, magic_packet(MAC))
    assert "already awake" in wait_lines(found.log_path, 4)[3]
    found.proc.kill()
    found.proc.wait()
    send(port, magic_packet(MAC))
    assert "woke" in wait_lines(found.log_path, 5)[4] and found.wakes == 2


def test_a_bad_mac_is_refused_before_listening(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, pytest.raises(UsageError):
        Listener(sock, "not-a-mac", ["true"])
