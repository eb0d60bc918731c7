"""Durations run on the monotonic clock: a wall clock that jumps (an NTP step, a VM resumed after days)
must not kill a healthy chunk as stalled, fire a backoff early or late, or lose a frame; timestamps
people read still follow the wall clock."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import pytest

from farmhand.client import Client
from farmhand.engine.dispatcher import Dispatcher, inline_submit
from farmhand.engine.state import FarmNode
from farmhand.engine.store import Store
from farmhand.jobs import JobSpec, JobState, Retry

from .fake_farm import FakeExecutor, NodeBehaviour
from .rig import REPO


class Clocks:
    """A monotonic clock and a wall clock that the test moves separately."""

    def __init__(self) -> None:
        self.mono = 500.0
        self.wall = 1.7e9

    def tick(self, seconds: float, wall_jump: float = 0.0) -> None:
        self.mono += seconds
        self.wall += seconds + wall_jump


@pytest.mark.parametrize("jump", [3600.0, -3600.0, 86400.0 * 3])
def test_a_wall_clock_jump_kills_nothing(
    farmhand_home: Path, monkeypatch: pytest.MonkeyPatch, jump: float
) -> None:
    clocks = Clocks()
    # The dispatcher's own defaults are what is tested: no clock is passed in.
    monkeypatch.setattr(time, "monotonic", lambda: clocks.mono)
    monkeypatch.setattr(time, "time", lambda: clocks.wall)
    store = Store()
    fake = FakeExecutor({"a": NodeBehaviour(spf=4.0)})
    fake.now = clocks.mono
    retry = Retry(stall_floor=5.0, stall_factor=2.0)
    d = Dispatcher(store, fake, lambda: [FarmNode("a", 4)], submit=inline_submit, retry=retry,
                   node_package=str(REPO / "python" / "farmhand"))
    client = Client(store, autostart=False)
    job = client.submit(JobSpec(preset="demo", frames="1-4", output=str(farmhand_home / "out" / "f.$F4.png")))
    submitted = clocks.wall
    for i in range(400):
        clocks.tick(0.1, wall_jump=jump if i == 30 else 0.0)
        fake.advance(clocks.mono)
        d.step()
        if client.job(job).state.finished:
            break
    snap = client.job(job, events=500)
    assert snap.state is JobState.DONE, [e.message for e in snap.events]
    assert not any(e.kind in ("stalled", "chunk_failed") for e in snap.events)
    assert all(r.attempts == 0 for r in snap.frames)
    # Timestamps follow the wall clock, jump included: the last event is after the jump.
    last = snap.events[-1].time
    assert abs(last - (submitted + jump + (clocks.mono - 500.0))) < 5.0


def test_a_stall_is_still_found_on_the_monotonic_clock(rig_for: Callable[..., object]) -> None:
    from .rig import Rig

    rig = rig_for({"a": NodeBehaviour(spf=1.0, hang_at=2), "b": NodeBehaviour(spf=1.0)})
    assert isinstance(rig, Rig)
    job = rig.submit("1-3", chunk=3)
    rig.drive(rig.finished(job))
    assert any(e.kind == "stalled" for e in rig.snap(job).events)
