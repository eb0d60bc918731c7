"""The chunk wrapper run for real with ``sh`` on this machine: its nonce, its node lock, its orphan check.

``HOME`` is a fresh folder per test (so is the lock's folder), ``XDG_RUNTIME_DIR`` is unset unless a
test sets it, and ``SSH_CONNECTION`` names a non-loopback address as sshd would.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Optional

import pytest

from farmhand import paths
from farmhand.engine import nodescripts
from farmhand.engine.noderun import Task
from farmhand.frames import Frame
from farmhand.presets import load_preset
from farmhand.presets.progress import LineParser

NONCE = "0123456789abcdef0123456789abcdef"


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "XDG_RUNTIME_DIR"}
    env.update(HOME=str(home), SSH_CONNECTION="10.9.9.9 50000 10.0.0.5 22", **extra)
    return env


def _wrap(
    home: Path, render: list[str], stdin: str, require: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    argv = nodescripts.chunk_argv("7", 3, render, require)
    environ = _env(home, **env)
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=environ, timeout=30)


def _key() -> str:
    """The lock name's key as the wrapper computes it on this machine (not a loopback connection)."""
    ns = re.sub(r"\D", "", os.readlink("/proc/self/ns/net"))
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"{socket.gethostname()}-{ns or 0}-lock")


def test_without_its_nonce_the_wrapper_runs_nothing(tmp_path: Path) -> None:
    proof = tmp_path / "ran"
    done = _wrap(tmp_path, ["touch", str(proof)], "")
    assert done.returncode == nodescripts.NO_NONCE_EXIT and not proof.exists()
    assert "no chunk nonce" in done.stderr
    done = _wrap(tmp_path, ["touch", str(proof)], "not-hex; rm -rf /\n")
    assert done.returncode == nodescripts.NO_NONCE_EXIT


def test_its_lines_carry_the_nonce_and_the_render_gets_the_rest_of_stdin(tmp_path: Path) -> None:
    """Worker mode streams frames on stdin after the nonce: the render must read them intact."""
    frames = '{"cmd": "render", "frame": 1}\n{"cmd": "quit"}\n'
    done = _wrap(tmp_path, ["cat"], NONCE + "\n" + frames)
    assert done.returncode == 0, done.stderr
    first, rest = done.stdout.split("\n", 1)
    control = nodescripts.parse_control(first, NONCE)
    assert control is not None and control.word == nodescripts.PGID_WORD and control.arg.isdigit()
    assert rest == frames
    assert nodescripts.parse_control(first, "f" * 32) is None


def test_a_missing_folder_is_said_with_the_nonce(tmp_path: Path) -> None:
    done = _wrap(tmp_path, ["true"], NONCE + "\n", require=str(tmp_path / "nowhere"))
    assert done.returncode == nodescripts.MISSING_EXIT
    assert nodescripts.parse_control(done.stdout.strip(), NONCE) == nodescripts.Control(
        nodescripts.MISSING_WORD, str(tmp_path / "nowhere"))


def test_the_lock_lives_in_a_private_folder(tmp_path: Path) -> None:
    assert _wrap(tmp_path, ["true"], NONCE + "\n").returncode == 0
    folder = tmp_path / ".cache" / "farmhand"
    lock = folder / f"farmhand-node-{_key()}.lock"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert lock.is_file() and stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_a_symlink_planted_in_tmp_is_never_followed(tmp_path: Path) -> None:
    """The old lock name was predictable in /tmp: a local user could plant a link there and have the
    render account create a world-writable file of their choosing. Nothing is created in /tmp now."""
    victim = tmp_path / "victim"
    planted = Path("/tmp") / f"farmhand-node-{_key()}.lock"
    if planted.exists() or planted.is_symlink():
        pytest.skip(f"{planted} exists already (another run of the old wrapper?)")
    planted.symlink_to(victim)
    try:
        assert _wrap(tmp_path, ["true"], NONCE + "\n").returncode == 0
    finally:
        planted.unlink()
    assert not victim.exists()


def test_a_symlink_in_the_lock_folder_is_refused_and_not_followed(tmp_path: Path) -> None:
    folder = tmp_path / ".cache" / "farmhand"
    folder.mkdir(parents=True, mode=0o700)
    victim = tmp_path / "victim"
    (folder / f"farmhand-node-{_key()}.lock").symlink_to(victim)
    done = _wrap(tmp_path, ["true"], NONCE + "\n")
    assert done.returncode == 0 and "is not a plain file of this account; rendering unlocked" in done.stderr
    assert not victim.exists()


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o707])
def test_a_folder_others_can_write_is_not_used(tmp_path: Path, mode: int) -> None:
    folder = tmp_path / ".cache" / "farmhand"
    folder.mkdir(parents=True)
    folder.chmod(mode)
    done = _wrap(tmp_path, ["true"], NONCE + "\n")
    assert done.returncode == 0 and "no private folder for the node lock" in done.stderr
    assert list(folder.iterdir()) == []


def test_a_private_runtime_dir_is_preferred(tmp_path: Path) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    assert _wrap(tmp_path, ["true"], NONCE + "\n", XDG_RUNTIME_DIR=str(runtime)).returncode == 0
    assert (runtime / f"farmhand-node-{_key()}.lock").is_file()
    assert not (tmp_path / ".cache").exists()


def test_a_second_chunk_finds_the_node_busy_with_its_own_nonce(tmp_path: Path) -> None:
    release = tmp_path / "release"
    hold = ["sh", "-c", 'while [ ! -e "$0" ]; do sleep 0.05; done', str(release)]
    argv = nodescripts.chunk_argv("7", 1, hold)
    pipe = subprocess.PIPE
    first = subprocess.Popen(argv, stdin=pipe, stdout=pipe, text=True, env=_env(tmp_path))
    try:
        assert first.stdin is not None and first.stdout is not None
        first.stdin.write(NONCE + "\n")
        first.stdin.flush()
        said = first.stdout.readline().strip()
        assert nodescripts.parse_control(said, NONCE) is not None  # it holds the lock
        other = "fedcba9876543210fedcba9876543210"
        done = _wrap(tmp_path, ["true"], other + "\n")
        assert done.returncode == nodescripts.BUSY_EXIT
        assert nodescripts.parse_control(done.stdout.strip(), other) == nodescripts.Control(
            nodescripts.BUSY_WORD, "node is rendering for another dispatcher")
    finally:
        release.touch()
        first.communicate(timeout=10)


def _task() -> Task:
    preset = load_preset("demo")
    frames: list[tuple[int, Frame]] = [(0, 1), (1, 2)]
    return Task(1, "1", "a", frames, 0.0, LineParser(preset, [1, 2]))


def test_only_nonced_lines_before_the_render_are_control() -> None:
    task = _task()
    lines = [
        ("out", "FARMHAND_BUSY node is rendering for another dispatcher"),  # the old marker: data now
        ("out", nodescripts.control_line("f" * 32, "BUSY")),  # a guessed nonce
        ("err", nodescripts.control_line(task.nonce, "BUSY")),  # stderr is the render's
        ("out", nodescripts.control_line(task.nonce, "PGID", "4242")),  # the real one: the render starts
        ("out", nodescripts.control_line(task.nonce, "BUSY")),  # after the start: data
    ]
    for stream, line in lines:
        task.on_line(stream, line)
    task.read()
    controls = [p.control for p in task.parsed]
    assert controls == [None, None, None, nodescripts.Control("PGID", "4242"), None]


def _leader(marker: str) -> subprocess.Popen[bytes]:
    """A process group led by ``sh -c ... MARKER`` (like a chunk wrapper whose $0 is its marker)."""
    return subprocess.Popen(["sh", "-c", "sleep 30; :", marker], start_new_session=True)


def _orphan_check(pgid: int, marker: str) -> str:
    argv = nodescripts.orphan_argv(pgid, marker, 0.5)
    return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()


def test_the_orphan_check_matches_the_whole_marker() -> None:
    """Chunk 1's marker is a prefix of chunk 12's: the check must not kill chunk 12 for chunk 1."""
    proc = _leader("farmhand-chunk-abcdef012345-1-12")
    try:
        pgid = _pgid_of(proc.pid)
        assert _orphan_check(pgid, "farmhand-chunk-abcdef012345-1-1") == "foreign"
        assert proc.poll() is None
        # (the group ends at once; "killed" when its leader, our child here, is reaped later than 0.5 s)
        assert _orphan_check(pgid, "farmhand-chunk-abcdef012345-1-12") in ("terminated", "killed")
        assert proc.wait(timeout=10) in (-signal.SIGTERM, -signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()


def _group_gone(pgid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _pgid_of(pid: int) -> int:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if os.getpgid(pid) == pid:
                return pid
        except ProcessLookupError:
            pass
        time.sleep(0.01)
    raise AssertionError("the process did not lead its own group")


def test_markers_differ_between_homes_and_stay_for_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tags: list[Optional[str]] = []
    for name in ("a", "b", "a"):
        monkeypatch.setenv("FARMHAND_HOME", str(tmp_path / name))
        tags.append(nodescripts.home_tag())
    assert tags[0] == tags[2] != tags[1] and all(t and len(t) == 12 for t in tags)
    (tmp_path / "a" / "instance-id").write_text("garbage\n")
    monkeypatch.setenv("FARMHAND_HOME", str(tmp_path / "a"))
    assert re.fullmatch(r"[0-9a-f]{12}", paths.instance_id())


def test_the_kill_script_ends_the_whole_group_under_dash() -> None:
    """``kill -TERM -- -PGID`` is refused by dash (Debian's /bin/sh): the scripts name signals with -s."""
    proc = subprocess.Popen(["sh", "-c", "sleep 30 & sleep 30; :"], start_new_session=True)
    try:
        pgid = _pgid_of(proc.pid)
        done = subprocess.run(nodescripts.kill_argv(pgid, 0.5), capture_output=True, text=True, timeout=30)
        assert done.stdout.strip() in ("terminated", "killed"), done.stderr
        proc.wait(timeout=10)
        assert _group_gone(pgid)
    finally:
        if proc.poll() is None:
            proc.kill()
