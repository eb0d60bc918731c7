"""A dispatcher driven by hand for unit tests: simulated clock, fake executor, real store and files."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from farmhand.client import Client
from farmhand.engine.dispatcher import Dispatcher, inline_submit
from farmhand.engine.scheduler import Policy
from farmhand.engine.settings import Verification
from farmhand.engine.state import FarmNode
from farmhand.engine.store import Store
from farmhand.jobs import FrameState, JobSnapshot, JobSpec, JobState, Retry

from .fake_farm import FakeExecutor, NodeBehaviour

REPO = Path(__file__).resolve().parents[2]

FAKE_WORKER_PRESET = (
    'description = "test worker"\nmode = "worker"\n'
    'argv = ["fakeworker", "--worker", "--output", "{output}"]\n'
)


class Rig:
    def __init__(
        self,
        home: Path,
        nodes: dict[str, NodeBehaviour],
        cores: Optional[dict[str, int]] = None,
        retry: Retry = Retry(stall_floor=5.0, licence_backoff=2.0, unreachable_backoff=2.0),
        policy: Policy = Policy(target_chunk_seconds=5.0),
        verify: Optional[Verification] = None,
    ) -> None:
        self.home = home
        self.verify = verify
        self.out = home / "out"
        self.store = Store()
        self.client = Client(self.store, autostart=False)
        self.fake = FakeExecutor(nodes)
        self.farm = [FarmNode(n, (cores or {}).get(n, 4)) for n in nodes]
        self.now = 1000.0
        self.retry, self.policy = retry, policy
        self.dispatcher = self.make()

    def make(self) -> Dispatcher:
        d = Dispatcher(
            self.store,
            self.fake,
            lambda: self.farm,
            clock=lambda: self.now,
            submit=inline_submit,
            retry=self.retry,
            policy=self.policy,
            verify=self.verify,
            node_package=str(REPO / "python" / "farmhand"),
        )
        return d

    def submit(self, frames: str = "1-20", **kw: object) -> str:
        spec = JobSpec(
            preset=str(kw.pop("preset", "demo")),
            frames=frames,
            output=str(kw.pop("output", str(self.out / "f.$F4.png"))),
            **kw,
        )  # type: ignore[arg-type]
        return self.client.submit(spec)

    def drive(self, until: Callable[[], bool], dt: float = 0.1, limit: float = 600.0) -> float:
        start = self.now
        while True:
            self.now += dt
            self.fake.advance(self.now)
            self.dispatcher.step(self.now)
            if until():
                break
            assert self.now - start < limit, "simulation did not finish"
        return self.now - start

    def finished(self, job_id: str) -> Callable[[], bool]:
        return lambda: self.client.job(job_id).state.finished

    def snap(self, job_id: str) -> JobSnapshot:
        return self.client.job(job_id, events=500)


def assert_all_done(rig: Rig, job_id: str) -> JobSnapshot:
    snap = rig.snap(job_id)
    assert snap.state is JobState.DONE, (snap.summary, [e.message for e in snap.events][-10:])
    for row in snap.frames:
        assert row.state is FrameState.DONE
        assert row.output and Path(row.output).stat().st_size > 0
    return snap
