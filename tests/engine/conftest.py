"""Fixtures for end-to-end job tests on the real sshd lab: a private farm, its registry, the CLI.

``engine_farm(n=3, settings=...)`` gives a :class:`EngineFarm`: a private :class:`farmhand.lab.LocalFarm`
(so faults can be injected), a fresh ``FARMHAND_HOME`` whose registry holds the lab's nodes (trusted,
with an inventory naming the fake Houdini installs under ``tests/fakes/hfs``), dispatcher thresholds
small enough for tests, and helpers that run ``farmhand`` commands inside the lab namespace. The
dispatcher the CLI starts is stopped at teardown, and the test fails if any render process of this
home is still alive on a node.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, Optional

import pytest

from farmhand.client import Client
from farmhand.engine import nodescripts
from farmhand.engine import process as dispatcher_process
from farmhand.jobs import JobSnapshot
from farmhand.lab import LocalFarm
from farmhand.nodes.registry import Registry

from .fake_farm import NodeBehaviour
from .rig import Rig

REPO = Path(__file__).resolve().parents[2]
FAKE_HFS = REPO / "tests" / "fakes" / "hfs"

FAST_SETTINGS: dict[str, Any] = {
    "retry": {
        "stall_floor": 3.0,
        "stall_factor": 3.0,
        "licence_backoff": 1.0,
        "unreachable_backoff": 2.0,
        "cancel_grace": 0.5,
    },
    "policy": {"target_chunk_seconds": 3.0},
    # The lab's share is one local folder: no NFS caching to wait for.
    "verify": {"quiet_seconds": 0.5, "grace_seconds": 3.0, "recheck_seconds": 0.5},
}


class EngineFarm:
    def __init__(self, lab: LocalFarm, home: Path) -> None:
        self.lab = lab
        self.home = home
        self.share = lab.share_dir
        package = str(REPO / "python" / "farmhand")
        self.env = dict(os.environ, PYTHONPATH=str(REPO / "python"), FARMHAND_NODE_PACKAGE=package)
        self.client = Client(autostart=False)

    def register(self, cores: Optional[dict[str, int]] = None) -> None:
        registry = Registry()
        houdini = [
            {"path": str(FAKE_HFS / "hfs20.5.487"), "version": "20.5.487"},
            {"path": str(FAKE_HFS / "hfs21.0.512"), "version": "21.0.512"},
        ]
        for node in self.lab.nodes:
            registry.add(node.name)
            registry.record_inventory(
                node.name,
                {
                    "hostname": node.hostname,
                    "os": "linux",
                    "cpus_logical": (cores or {}).get(node.name, 2),
                    "houdini": houdini,
                },
            )

    def farmhand(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = self.lab.run_in_lab([sys.executable, "-m", "farmhand", *args], env=self.env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"farmhand {' '.join(args)} exited {result.returncode}:\n{result.stderr[-3000:]}"
            )
        return result

    def submit(self, *args: str) -> str:
        out = self.farmhand("submit", "--json", *args).stdout
        return str(json.loads(out)["id"])

    def wait(self, job_id: str, timeout: float = 90.0) -> JobSnapshot:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snap = self.client.job(job_id, events=1000)
            if snap.state.finished:
                return snap
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not finish in {timeout}s: {self.describe(job_id)}")

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    def describe(self, job_id: str) -> str:
        snap = self.client.job(job_id, events=60)
        events = "\n".join(f"  {e.kind} {e.node or ''} {e.message}" for e in snap.events)
        log = self.home / "logs" / "dispatcher.log"
        tail = log.read_text()[-2000:] if log.exists() else ""
        return f"{snap.summary}\n{events}\ndispatcher.log:\n{tail}"

    def render_processes(self) -> list[str]:
        """Processes of this home's chunks (their wrapper carries the home's marker) or using its share."""
        tag = f"farmhand-chunk-{nodescripts.home_tag()}"
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                args = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if tag in args or str(self.share) in args:
                found.append(f"{entry.name} {args[:200]}")
        return found

    def assert_no_orphans(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.render_processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert self.render_processes() == []

    def dispatcher_pid(self) -> Optional[int]:
        return dispatcher_process.pid()

    def stop_dispatcher(self) -> None:
        pid = self.dispatcher_pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while dispatcher_process.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        if dispatcher_process.running():
            os.kill(pid, signal.SIGKILL)


def assert_complete(farm: EngineFarm, snap: JobSnapshot) -> None:
    """Every frame done with a non-empty output file: nothing lost."""
    assert snap.state.value == "done", farm.describe(snap.id)
    for row in snap.frames:
        assert row.state.value == "done", (row, farm.describe(snap.id))
        assert row.output and Path(row.output).stat().st_size > 0, row


@pytest.fixture
def engine_farm(
    make_lab: Callable[..., LocalFarm], farmhand_home: Path
) -> Iterator[Callable[..., EngineFarm]]:
    farms: list[EngineFarm] = []

    def make(
        n: int = 3,
        settings: Optional[dict[str, Any]] = None,
        cores: Optional[dict[str, int]] = None,
        **lab_kwargs: Any,
    ) -> EngineFarm:
        lab = make_lab(n=n, **lab_kwargs)
        lab.trust()
        ssh = Path(os.path.expanduser("~/.ssh/config"))
        ssh.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        ssh.write_text(lab.ssh_config_text())
        farmhand_home.mkdir(parents=True, exist_ok=True)
        (farmhand_home / "dispatcher.json").write_text(json.dumps(settings or FAST_SETTINGS))
        farm = EngineFarm(lab, farmhand_home)
        farm.register(cores)
        farms.append(farm)
        return farm

    yield make
    for farm in farms:
        farm.stop_dispatcher()
    for farm in farms:
        farm.assert_no_orphans()


@pytest.fixture
def rig_for(farmhand_home: Path) -> Callable[..., Rig]:
    def make(nodes: dict[str, NodeBehaviour], **kw: object) -> Rig:
        return Rig(farmhand_home, nodes, **kw)  # type: ignore[arg-type]

    return make
