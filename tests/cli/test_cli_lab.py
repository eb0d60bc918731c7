"""`farmhand scan` and `farmhand nodes ...` end to end against the lab, including bad input and faults."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import write_ssh_config
from farmhand import cli, paths
from farmhand.lab import LocalFarm, netns

pytestmark = pytest.mark.lab


def fh(farm: LocalFarm, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with farm.inside():
        code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("farmhand: ") and "Traceback" not in err
    return lines[0]


def registry_snapshot() -> list[tuple[Any, ...]]:
    from farmhand.nodes.registry import Registry

    Registry()  # creates the schema if no command has yet
    db = sqlite3.connect(paths.registry_db())
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        query = "SELECT name, address, state, enabled, inventory FROM nodes ORDER BY name"
        return db.execute(query).fetchall()
    finally:
        db.close()


@pytest.fixture
def farm(make_lab, farmhand_home: Path) -> LocalFarm:  # type: ignore[no-untyped-def]
    f: LocalFarm = make_lab(n=3)
    for version in ("20.5.332", "21.0.440"):
        (f.root / "sidefx" / f"hfs{version}" / "bin").mkdir(parents=True)
    write_ssh_config(f, f"\nHost 10.77.0.*\n  User {f.user}\n  IdentityFile {f.identity_file}\n")
    return f


def test_scan_trust_probe_list_wake(farm: LocalFarm, capsys: pytest.CaptureFixture[str]) -> None:
    farm.add_fake_service("10.77.0.60")
    code, out, _ = fh(farm, capsys, "scan", "10.77.0.0/24", "--json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 254 and {r["state"] for r in rows} >= {"ssh", "open", "refused", "silent"}
    assert [r["address"] for r in rows if r["state"] == "ssh"] == ["10.77.0.11", "10.77.0.12", "10.77.0.13"]

    code, out, _ = fh(farm, capsys, "nodes", "list", "--json")
    assert [(n["name"], n["state"]) for n in json.loads(out)] == [
        (f"10.77.0.1{i}", "discovered") for i in (1, 2, 3)]

    code, _, err = fh(farm, capsys, "nodes", "probe")
    assert code == 2 and "no trusted, enabled nodes" in one_error_line(err)

    for i in (1, 2, 3):
        code, out, _ = fh(farm, capsys, "nodes", "trust", f"10.77.0.1{i}", "--yes", "--json")
        assert code == 0 and json.loads(out)["fingerprint"].startswith("SHA256:")
    code, out, _ = fh(farm, capsys, "nodes", "disable", "10.77.0.13")
    assert code == 0

    code, out, err = fh(farm, capsys, "nodes", "probe", "--json", "--share", str(farm.share_dir),
                        "--houdini-root", str(farm.root / "sidefx"))
    assert code == 0, err
    probed = json.loads(out)
    assert sorted(probed) == ["10.77.0.11", "10.77.0.12"]  # the disabled node is skipped
    inv = probed["10.77.0.12"]
    assert inv["hostname"] == "render02"
    assert [h["version"] for h in inv["houdini"]] == ["20.5.332", "21.0.440"]
    assert inv["interfaces"][0]["mac"] == farm.mac("render02")
    assert inv["interfaces"][0]["ipv4"] == ["10.77.0.12/24"]
    assert inv["share_free_mb"] > 0 and inv["cpus_logical"] >= 1 and inv["mem_total_mb"] > 0

    code, out, _ = fh(farm, capsys, "nodes", "list", "--json")
    listed = {n["name"]: n for n in json.loads(out)}
    assert listed["10.77.0.12"]["inventory"]["hostname"] == "render02"
    assert listed["10.77.0.13"]["enabled"] is False and listed["10.77.0.13"]["inventory"] is None

    _wake_reaches_render02(farm, capsys)

    assert "10.77.0.11 " in paths.known_hosts().read_text()
    code, out, _ = fh(farm, capsys, "nodes", "rm", "10.77.0.11")
    assert code == 0
    kept = paths.known_hosts().read_text()
    assert "10.77.0.11 " not in kept and "10.77.0.12 " in kept  # only that node's key is forgotten
    code, out, _ = fh(farm, capsys, "nodes", "list", "--json")
    assert "10.77.0.11" not in [n["name"] for n in json.loads(out)]


def _wake_reaches_render02(farm: LocalFarm, capsys: pytest.CaptureFixture[str]) -> None:
    """Wake-on-LAN: the broadcast is captured inside render02's namespace."""
    got: list[bytes] = []
    ready = threading.Event()

    def listen() -> None:
        netns.setns(farm.node("render02").netns or "")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("0.0.0.0", 9))
            s.settimeout(5)
            ready.set()
            got.append(s.recv(1024))

    t = threading.Thread(target=listen, daemon=True)
    t.start()
    ready.wait(5)
    code, out, err = fh(farm, capsys, "nodes", "wake", "10.77.0.12", "--json")
    t.join(6)
    assert code == 0, err
    mac = bytes.fromhex(farm.mac("render02").replace(":", ""))
    assert got == [b"\xff" * 6 + mac * 16]
    assert "10.77.0.255" in json.loads(out)["sent_to"]


def test_add_alias_from_ssh_config(farm: LocalFarm, capsys: pytest.CaptureFixture[str]) -> None:
    farm.trust()
    code, out, err = fh(farm, capsys, "nodes", "add", "render01", "--json")
    assert code == 0, err
    node = json.loads(out)
    assert (node["address"], node["state"]) == ("10.77.0.11", "trusted")
    code, out, err = fh(farm, capsys, "nodes", "probe", "--json")
    assert code == 0 and json.loads(out)["render01"]["hostname"] == "render01"


def _expect_error(farm: LocalFarm, capsys: pytest.CaptureFixture[str], argv: list[str], text: str,
                  code: int = 1) -> None:
    before = registry_snapshot()
    got, _, err = fh(farm, capsys, *argv)
    line = one_error_line(err)
    assert got == code, line
    assert text in line, line
    assert registry_snapshot() == before


def test_bad_input_and_faults(farm: LocalFarm, capsys: pytest.CaptureFixture[str]) -> None:
    _expect_error(farm, capsys, ["scan", "10.0.0.0/33"], "invalid scan target", 2)
    _expect_error(farm, capsys, ["scan", "10.0.0.20-10.0.0.10"], "backwards", 2)
    _expect_error(farm, capsys, ["scan", "10.0.0.0/8"], "add --yes", 2)
    _expect_error(farm, capsys, ["nodes", "rm", "nope"], "no node named 'nope'")
    _expect_error(farm, capsys, ["nodes", "wake", "nope"], "no node named 'nope'")
    _expect_error(farm, capsys, ["nodes", "probe", "render01", "--timeout", "-1"], "invalid --timeout -1", 2)

    # Unknown host key: refused with the fingerprint and the trust command.
    _expect_error(farm, capsys, ["nodes", "probe", "render01"], "farmhand nodes trust render01")
    for i in (1, 2, 3):
        assert fh(farm, capsys, "nodes", "trust", f"render0{i}", "--yes")[0] == 0
    assert fh(farm, capsys, "nodes", "probe")[0] == 0

    # Changed host key: refused, never replaced — neither by probe nor by trust.
    farm.change_host_key("render01")
    _expect_error(farm, capsys, ["nodes", "probe", "render01"], "HOST KEY CHANGED")
    _expect_error(farm, capsys, ["nodes", "trust", "render01", "--yes"], "HOST KEY CHANGED")

    # Auth failure with a key the node does not know.
    import subprocess

    other = farm.root / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    _expect_error(farm, capsys, ["nodes", "probe", "render02", "--identity", str(other)],
                  "authentication failed")

    # DROP host, and something that is not SSH on :22.
    farm.drop("render02")
    t0 = time.monotonic()
    _expect_error(farm, capsys, ["nodes", "probe", "render02"], "no answer from 10.77.0.12:22")
    assert time.monotonic() - t0 < 10
    farm.undrop("render02")
    farm.serve_not_ssh("render03")
    _expect_error(farm, capsys, ["nodes", "probe", "render03"], "answers but not with SSH")


def test_sshd_stops_mid_probe(farm: LocalFarm, capsys: pytest.CaptureFixture[str]) -> None:
    farm.trust()
    (farm.node_dir("render01") / "bashrc").write_text("sleep 3\n")
    killer = threading.Timer(1.0, farm.kill_node, args=("render01",))
    killer.start()
    t0 = time.monotonic()
    _expect_error(farm, capsys, ["nodes", "probe", "render01"], "render01: connection lost")
    assert time.monotonic() - t0 < 3


def test_scan_accept_new_trusts_new_keys_but_never_changed_ones(farm: LocalFarm,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = fh(farm, capsys, "scan", "10.77.0.11-12", "--accept-new", "--json")
    assert code == 0
    assert [r.get("note") for r in json.loads(out)] == ["trusted", "trusted"]
    code, out, _ = fh(farm, capsys, "nodes", "list", "--json")
    assert [n["state"] for n in json.loads(out)] == ["trusted", "trusted"]
    saved = (paths.known_hosts()).read_text()
    assert len(saved.splitlines()) == 2
    farm.change_host_key("render01")
    code, out, err = fh(farm, capsys, "scan", "10.77.0.11", "--accept-new", "--json")
    assert code == 0 and "HOST KEY CHANGED" in json.loads(out)[0]["note"] and "HOST KEY CHANGED" in err
    assert paths.known_hosts().read_text() == saved


def test_unknown_host_name(farm: LocalFarm, capsys: pytest.CaptureFixture[str]) -> None:
    # Resolved inside the lab, which has no route out: no DNS query leaves the machine.
    _expect_error(farm, capsys, ["nodes", "probe", "no-such-node.invalid"], "cannot resolve")
    _expect_error(farm, capsys, ["nodes", "trust", "no-such-node.invalid", "--yes"], "cannot resolve")


def test_scan_bigger_than_a_slash16_streams(farm: LocalFarm, capsys: pytest.CaptureFixture[str]) -> None:
    farm.add_silent_range("10.78.0.0/16")
    # 65 534 + 3 addresses: just over the /16 limit, so the streaming path runs.
    code, out, err = fh(farm, capsys, "scan", "10.78.0.0/16", "10.77.0.11-13", "10.77.0.12", "--yes",
                        "--json", "--timeout", "0.1", "--fixed-timeout", "--concurrency", "4000")
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 2**16 - 2 + 3
    assert len({r["address"] for r in rows}) == len(rows)  # each address exactly once
    assert sorted(r["address"] for r in rows if r["state"] == "ssh") == ["10.77.0.11", "10.77.0.12",
                                                                         "10.77.0.13"]
    assert {r["state"] for r in rows} == {"ssh", "silent"}


def _on_a_tty(farm: LocalFarm, argv: list[str], answer: str = "") -> tuple[int, str]:
    """Run `farmhand ARGV` in the lab on a pseudo-terminal (stdin/out/err); returns (code, screen)."""
    import os
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    proc = subprocess.Popen(farm.lab_argv([sys.executable, "-m", "farmhand", *argv]),
                            stdin=follower, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    if answer:
        os.write(leader, answer.encode())
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO once the child side is closed
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    return proc.wait(30), screen.decode(errors="replace")


def test_trust_asks_on_a_terminal(farm: LocalFarm) -> None:
    fingerprint = farm.known_hosts_lines()[1].split()[2]  # base64 key, to compare with the shown hash
    code, screen = _on_a_tty(farm, ["nodes", "trust", "render02"], answer="n\n")
    assert code == 2 and "Trust this key? [y/N]" in screen and "not trusted" in screen
    code, screen = _on_a_tty(farm, ["nodes", "trust", "render02"], answer="y\n")
    assert code == 0 and "trusted" in screen and "SHA256:" in screen
    import base64
    import hashlib

    shown = "SHA256:" + base64.b64encode(hashlib.sha256(base64.b64decode(fingerprint)).digest()).decode()
    assert shown.rstrip("=") in screen


def test_scan_shows_progress_on_a_terminal(farm: LocalFarm) -> None:
    code, screen = _on_a_tty(farm, ["scan", "10.77.0.0/24", "--no-record"])
    assert code == 0
    assert "scanning: 254/254 addresses, 3 ssh" in screen
    assert "scanned 254 addresses: 3 ssh" in screen


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_scan_stops_within_one_deadline_on_a_signal(farm: LocalFarm, sig: signal.Signals) -> None:
    import subprocess
    import sys

    farm.add_silent_range("10.78.0.0/17")
    # 32 769 addresses, 256 at a time, 1 s each: over two minutes if nothing stopped it.
    proc = farm.popen_in_lab([sys.executable, "-m", "farmhand", "scan", "10.77.0.11-13", "10.78.0.0/17",
                              "--json", "--timeout", "1", "--fixed-timeout", "--concurrency", "256"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while "10.78." not in farm.run_in_lab(["ss", "-Htn", "state", "syn-sent"]).stdout:
        assert time.monotonic() < deadline and proc.poll() is None, "the scan never started"
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)  # a scan that ignores the signal fails here
    assert proc.returncode == 128 + sig, err
    rows = json.loads(out)
    found = [r["address"] for r in rows if r["state"] == "ssh"]
    assert found == ["10.77.0.11", "10.77.0.12", "10.77.0.13"]
    assert 3 < len(rows) < 32769 and {r["state"] for r in rows} == {"ssh", "silent"}
    stopped = f"farmhand: scan stopped by {sig.name} after {len(rows)} of 32769 addresses"
    assert err.decode().strip() == stopped
    kept = [row[0] for row in registry_snapshot()]
    assert kept == ["10.77.0.11", "10.77.0.12", "10.77.0.13"]  # what was found is recorded


def test_remote_text_is_shown_escaped(farm: LocalFarm, capsys: pytest.CaptureFixture[str]) -> None:
    farm.add_fake_service("10.77.0.61", b"SSH-2.0-\x1b]0;owned\x07\x1b[2Jx\r\n")
    farm.add_fake_service("10.77.0.62", b"\x1b]52;c;ZXZpbA==\x07hello\r\n")
    code, out, _ = fh(farm, capsys, "scan", "10.77.0.61-62")
    assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert "SSH-2.0-\\x1b]0;owned\\x07\\x1b[2Jx" in out and "\\x1b]52;c;ZXZpbA==\\x07hello" in out
    code, out, _ = fh(farm, capsys, "scan", "10.77.0.61", "--json", "--no-record")
    assert "\x1b" not in out and json.loads(out)[0]["banner"] == "SSH-2.0-\x1b]0;owned\x07\x1b[2Jx"


def test_nodes_list_shows_what_nodes_reported_escaped(farm: LocalFarm,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from dataclasses import replace

    from farmhand.nodes.inventory import HoudiniInstall, parse
    from farmhand.nodes.registry import Registry

    reg = Registry()
    reg.add("render01", "10.77.0.11")
    capture = Path(__file__).parents[1] / "data" / "inventory_linux_lab_render01.txt"
    evil = HoudiniInstall("/opt/hfs", "21.0\x1b]0;owned\x07")
    hostile = replace(parse(capture.read_text()), houdini=(evil,))
    reg.record_inventory("render01", hostile.to_dict())
    reg.record_error("render01", "render01: node said: \x1b[2J\x1b]52;c;ZXZpbA==\x07")
    code, out, _ = fh(farm, capsys, "nodes", "list")
    assert code == 0 and "\x1b" not in out and "\x07" not in out
    assert "21.0\\x1b]0;owned\\x07" in out and "node said: \\x1b[2J\\x1b]52;c;ZXZpbA==\\x07" in out
