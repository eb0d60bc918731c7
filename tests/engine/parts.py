"""The dispatcher's parts one at a time: an :class:`EngineState` over a real store and the fake executor.

A unit test of one part builds the state with :func:`engine_state`, adds jobs with :func:`add_job` and
constructs only the part it tests (and what that part's constructor asks for).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from farmhand.client import Client
from farmhand.engine.dispatcher import inline_submit
from farmhand.engine.jobrun import JobRun
from farmhand.engine.scheduler import Policy
from farmhand.engine.state import EngineState, FarmNode
from farmhand.engine.store import Store
from farmhand.jobs import JobSpec, Retry

from .fake_farm import FakeExecutor, NodeBehaviour

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Bench:
    """A state, the client that submits to its store, its fake nodes and its clock."""

    state: EngineState
    client: Client
    fake: FakeExecutor
    clock: Clock
    out: Path

    def add_job(self, frames: str = "1-6", **kw: Any) -> JobRun:
        """Submit a demo job (outputs under ``out``) and put it in the working set."""
        spec = JobSpec(
            preset=str(kw.pop("preset", "demo")),
            frames=frames,
            output=str(kw.pop("output", str(self.out / "f.$F4.png"))),
            **kw,
        )
        job_id = self.client.submit(spec)
        job = JobRun.load(self.state.store, job_id)
        self.state.jobs[job_id] = job
        return job

    def advance(self, seconds: float) -> float:
        self.clock.now += seconds
        self.fake.advance(self.clock.now)
        return self.clock.now


def engine_state(
    home: Path,
    nodes: dict[str, NodeBehaviour],
    *,
    retry: Retry = Retry(stall_floor=5.0, licence_backoff=2.0, unreachable_backoff=2.0),
    policy: Policy = Policy(target_chunk_seconds=5.0),
) -> Bench:
    store = Store()
    fake = FakeExecutor(nodes)
    clock = Clock()
    fake.now = clock.now
    state = EngineState(
        store=store,
        executor=fake,
        submit=inline_submit,
        clock=clock,
        retry=retry,
        policy=policy,
        node_package=str(REPO / "python" / "farmhand"),
        farm={n: FarmNode(n, 4) for n in nodes},
    )
    return Bench(state, Client(store, autostart=False), fake, clock, home / "out")
