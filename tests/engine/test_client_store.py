"""The job store and client API without a dispatcher: validation, commands, snapshots, change counter."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from farmhand.client import Client
from farmhand.engine import process as dispatcher_process
from farmhand.engine.store import Store, append_log
from farmhand.errors import ConfigError, NotFound, UsageError
from farmhand.jobs import CommandOp, FrameState, JobSpec, JobState

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def client(farmhand_home: Path) -> Client:
    return Client(Store(), autostart=False)


def test_submit_validates_at_the_edge(client: Client) -> None:
    with pytest.raises(UsageError, match="backwards"):
        client.submit(JobSpec(preset="demo", frames="10-1", output="/tmp/x.$F4.png"))
    with pytest.raises(NotFound, match=r"available: .*hrender"):
        client.submit(JobSpec(preset="no-such-preset", frames="1-10"))
    with pytest.raises(UsageError, match="--command"):
        client.submit(JobSpec(preset="command", frames="1-10"))
    with pytest.raises(UsageError, match="chunk"):
        client.submit(JobSpec(preset="demo", frames="1-10", output="/tmp/x.$F4.png", chunk=0))
    assert client.jobs() == []


def test_snapshot_has_every_frame_with_expected_output(client: Client) -> None:
    job = client.submit(JobSpec(preset="demo", frames="-2-2x2,7", output="/share/o/img.$F4.png"))
    snap = client.job(job)
    assert snap.state is JobState.QUEUED
    assert [(f.frame, f.state, f.output) for f in snap.frames] == [
        (-2, FrameState.WAITING, "/share/o/img.-002.png"),
        (0, FrameState.WAITING, "/share/o/img.0000.png"),
        (2, FrameState.WAITING, "/share/o/img.0002.png"),
        (7, FrameState.WAITING, "/share/o/img.0007.png"),
    ]
    data = snap.to_dict()
    assert data["summary"]["id"] == job and data["frames"][0]["state"] == "waiting"
    # every --json form names the job by "id" at the top, as submit --json does
    assert data["id"] == job and data["state"] == "queued"


def test_commands_queue_for_the_dispatcher_and_version_moves(client: Client) -> None:
    job = client.submit(JobSpec(preset="demo", frames="1-3", output="/share/o/x.$F4.png"))
    before = client.version()
    client.cancel(job)
    client.set_priority(job, 80)
    client.requeue_frame(job, 2)
    assert client.version() > before
    ops = [(op, arg) for _, _, op, arg in client.store.pending_commands()]
    assert ops == [
        (CommandOp.CANCEL, {}),
        (CommandOp.PRIORITY, {"priority": 80}),
        (CommandOp.REQUEUE_FRAME, {"frame": 2}),
    ]
    with pytest.raises(NotFound):
        client.requeue_frame(job, 99)
    with pytest.raises(NotFound):
        client.cancel("404")


def test_watch_returns_as_soon_as_the_store_changes(client: Client) -> None:
    job = client.submit(JobSpec(preset="demo", frames="1-3", output="/share/o/x.$F4.png"))
    version = client.version()
    snap = client.watch(job, version, timeout=0.2)
    assert snap.version == version  # nothing changed: timed out
    other = Store()
    other.update_frames(job, [0], state=FrameState.DONE)
    snap = client.watch(job, version, timeout=5)
    assert snap.version > version and snap.frames[0].state is FrameState.DONE


def test_logs_filter_by_node_and_frame(client: Client) -> None:
    job = client.submit(JobSpec(preset="demo", frames="1-3", output="/share/o/x.$F4.png"))
    append_log(job, "render01", [(1.0, 1, "out", "Fra:1"), (2.0, 2, "out", "Fra:2\twith tab")])
    append_log(job, "render02", [(1.5, 3, "err", "boom")])
    assert [line.text for line in client.logs(job)] == ["Fra:1", "boom", "Fra:2 with tab"]
    assert [line.text for line in client.logs(job, node="render02")] == ["boom"]
    assert [line.text for line in client.logs(job, frame=2)] == ["Fra:2 with tab"]
    # the CLI says why nothing was printed (a mistyped node looks like a silent renderer otherwise)
    for extra, why in ((["--node", "render9"], "on node 'render9'"), (["--frame", "7"], "on frame 7")):
        result = subprocess.run([sys.executable, "-m", "farmhand", "logs", job, *extra],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and result.stdout == ""
        assert f"no renderer output for job {job} {why}" in result.stderr


def test_cli_bad_frame_spec_is_one_line(farmhand_home: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "farmhand",
            "submit",
            "--preset",
            "demo",
            "--frames",
            "10-1",
            "--output",
            "/tmp/x.$F4.png",
        ],
        capture_output=True,
        text=True,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(REPO / "python"),
            "FARMHAND_HOME": str(farmhand_home),
        },
    )
    assert result.returncode == 2
    assert (
        result.stderr.count("\n") == 1 and "backwards" in result.stderr and "Traceback" not in result.stderr
    )


def test_one_dispatcher_per_home_started_on_demand_and_stopped(farmhand_home: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO / "python"),
        "FARMHAND_HOME": str(farmhand_home),
        "HOME": str(farmhand_home),
    }

    def farmhand(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "farmhand", *args], capture_output=True, text=True, env=env, timeout=60
        )

    submitted = farmhand("submit", "--preset", "demo", "--frames", "1-3", "--output", "/tmp/fh-x/f.$F4.png")
    assert submitted.returncode == 0, submitted.stderr
    assert "no trusted, enabled nodes" in submitted.stderr  # warned, and the job waits for nodes
    client = Client(Store(), autostart=False)
    info = client.dispatcher()
    assert info.running and info.pid
    second = farmhand("dispatcher")
    assert second.returncode == 1 and "already running" in second.stderr
    assert client.dispatcher().pid == info.pid
    assert farmhand("dispatcher", "--stop").returncode == 0
    assert not client.dispatcher().running
    assert client.jobs()[0].state is JobState.QUEUED


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "hrender", "--file", "/s/a.hip", "--frames", "1-4"],
         "preset hrender needs a target such as a ROP path (--rop)"),
        (["--preset", "blender", "--file", "/s/a.blend", "--frames=-2-3"],
         "preset blender cannot render negative frames"),
        (["--preset", "demo", "--frames", "1-4", "--output", "/s/o.$F4.png", "--param", "speed=2"],
         "preset demo has no parameter 'speed'"),
    ],
)
def test_cli_submit_refuses_what_a_node_would_fail_on_in_one_line(
    farmhand_home: Path, args: list[str], message: str
) -> None:
    env = {"PYTHONPATH": str(REPO / "python"), "FARMHAND_HOME": str(farmhand_home), "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "farmhand", "submit", *args], capture_output=True,
                            text=True, env=env, timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr, result.stderr
    assert Client(Store(), autostart=False).jobs() == []  # nothing queued, no dispatcher needed


def test_client_submit_makes_scene_and_output_paths_absolute(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    job = client.submit(JobSpec(preset="demo", frames="1-2", file="scenes/a.hip", output="out/f.$F4.png"))
    snap = client.job(job)
    assert snap.spec.file == str(tmp_path / "scenes" / "a.hip")
    assert snap.spec.output == str(tmp_path / "out" / "f.$F4.png")
    assert [f.output for f in snap.frames] == [str(tmp_path / "out" / f"f.{n:04d}.png") for n in (1, 2)]
    windows = "P:\\shot\\a.hip"
    kept = client.job(client.submit(JobSpec(preset="demo", frames="1", file=windows, output="$J/f.$F4.png")))
    assert kept.spec.file == windows and kept.spec.output == "$J/f.$F4.png"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"retry": {"max_atempts": 3}}', "retry.max_atempts is not a setting; use one of max_attempts"),
        ('{"retry": {"max_attempts": "x"}}', 'retry.max_attempts must be a whole number from 1 to 1e+09, '
         'not "x"'),
        ('{"retry": {"max_attempts": 2.5}}', "retry.max_attempts must be a whole number from 1 to 1e+09, "
         "not 2.5"),
        ('{"policy": {"target_chunk_seconds": -5}}', "policy.target_chunk_seconds must be a number from 0"),
        ('{"policy": {"smoothing": true}}', "policy.smoothing must be a number from 0 to 1e+09, not true"),
        ('{"retry": [1]}', "'retry' must be an object of max_attempts"),
        ("[1]", "write an object with the keys 'retry', 'policy', 'verify', 'store'"),
        ('{"retyr": {}}', "write an object with the keys 'retry', 'policy', 'verify', 'store'"),
        ("{bad json", "not valid JSON"),
        # Numbers JSON itself refuses, and numbers no setting can take, are one line too.
        ('{"retry": {"stall_floor": NaN}}', "NaN is not a number JSON allows"),
        ('{"retry": {"stall_floor": Infinity}}', "Infinity is not a number JSON allows"),
        ('{"retry": {"stall_floor": 1e999}}', "retry.stall_floor must be a number from 0 to 1e+09, "
         "not Infinity"),
        ('{"retry": {"max_attempts": 10000000000000000000000}}', "retry.max_attempts must be a whole number"),
        ('{"verify": {"grace_seconds": -1}}', "verify.grace_seconds must be a number from 0"),
        ('{"store": {"keep_days": "forever"}}', "store.keep_days must be a number from 0"),
    ],
)
def test_bad_dispatcher_settings_are_one_line(farmhand_home: Path, text: str, fragment: str) -> None:
    farmhand_home.mkdir(parents=True, exist_ok=True)
    (farmhand_home / "dispatcher.json").write_text(text)
    with pytest.raises(ConfigError) as info:
        dispatcher_process.load_settings()
    assert fragment in str(info.value) and "\n" not in str(info.value)
    # starting the dispatcher (submit, status -f, ...) says it too, not only the detached process's log
    with pytest.raises(ConfigError, match=r"dispatcher\.json"):
        dispatcher_process.ensure_running()
    assert not dispatcher_process.running()


def test_dispatcher_settings_are_read(farmhand_home: Path) -> None:
    farmhand_home.mkdir(parents=True, exist_ok=True)
    (farmhand_home / "dispatcher.json").write_text('{"retry": {"max_attempts": 7, "stall_floor": 30.5}, '
                                                   '"policy": {"target_chunk_seconds": 60}}')
    found = dispatcher_process.load_settings()
    retry, policy = found.retry, found.policy
    assert (retry.max_attempts, retry.stall_floor, policy.target_chunk_seconds) == (7, 30.5, 60)
    assert found.verify.grace_seconds > 60 and found.store.keep_days > 0  # defaults



def test_dispatcher_stops_when_its_home_is_deleted(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "python"), "FARMHAND_HOME": str(home),
           "HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "farmhand", "dispatcher"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not _serving(home) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert proc.poll() is None, "the dispatcher did not start"
        shutil.rmtree(home)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _serving(home: Path) -> bool:
    """The dispatcher has opened its store and recovered (not only taken its lock)."""
    db = home / "jobs.sqlite"
    if not db.exists():
        return False
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'dispatcher_started'").fetchone()
    except sqlite3.Error:
        return False
    return row is not None
