"""Job dependencies (``JobSpec.after``) in the dispatcher: simulated clock, fake executor, real store."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from farmhand.errors import UsageError
from farmhand.jobs import FrameState, JobState

from .fake_farm import NodeBehaviour
from .rig import Rig, assert_all_done


@pytest.fixture
def rig_of(farmhand_home: Path) -> Callable[..., Rig]:
    def make(nodes: dict[str, NodeBehaviour]) -> Rig:
        return Rig(farmhand_home, nodes)

    return make


def _first(rig: Rig, job: str, kind: str) -> float:
    return min(e.time for e in rig.snap(job).events if e.kind == kind)


def test_dependent_job_waits_and_starts_only_after_the_first_is_done(rig_of: Callable[..., Rig]) -> None:
    rig = rig_of({"a": NodeBehaviour(spf=1.0), "b": NodeBehaviour(spf=1.0)})
    cache = rig.submit("1-8", output=str(rig.out / "cache.$F4.bgeo"))
    render = rig.submit("1-6", output=str(rig.out / "beauty.$F4.png"), after=(cache,))
    rig.drive(lambda: rig.snap(cache).state is JobState.RUNNING)
    snap = rig.snap(render)
    assert snap.state is JobState.WAITING and snap.summary.after == (cache,)
    assert any(e.kind == "waiting" and f"job {cache}" in e.message for e in snap.events)
    rig.drive(rig.finished(render))
    assert_all_done(rig, cache)
    assert_all_done(rig, render)
    # Nothing of the render was handed out before the cache was done and verified.
    assert _first(rig, render, "assigned") >= _first(rig, cache, "done")
    rendered = [f for _, f in rig.fake.rendered]
    assert len(rendered) == 14


def test_failing_dependency_fails_the_dependent_job_without_rendering_it(rig_of: Callable[..., Rig]) -> None:
    rig = rig_of({"a": NodeBehaviour(missing_file=True)})
    cache = rig.submit("1-4", output=str(rig.out / "cache.$F4.bgeo"))
    render = rig.submit("1-3", output=str(rig.out / "beauty.$F4.png"), after=(cache,))
    rig.drive(rig.finished(render))
    assert rig.snap(cache).state is JobState.FAILED
    snap = rig.snap(render)
    assert snap.state is JobState.FAILED
    assert snap.summary.error is not None and snap.summary.error.startswith(f"job {cache} it needs failed: ")
    assert "missing_file" in snap.summary.error
    assert all(f.state is FrameState.FAILED and f.error_kind == "dependency" for f in snap.frames)
    assert not any(e.kind == "assigned" for e in snap.events)


def test_cancelled_dependency_cancels_the_dependent_job(rig_of: Callable[..., Rig]) -> None:
    rig = rig_of({"a": NodeBehaviour(spf=1.0)})
    cache = rig.submit("1-20", output=str(rig.out / "cache.$F4.bgeo"))
    render = rig.submit("1-3", output=str(rig.out / "beauty.$F4.png"), after=(cache,))
    rig.drive(lambda: rig.snap(cache).summary.frames_done >= 1)
    rig.client.cancel(cache)
    rig.drive(rig.finished(render))
    snap = rig.snap(render)
    assert snap.state is JobState.CANCELLED
    assert snap.summary.error == f"job {cache} it needs was cancelled"
    assert not any(e.kind == "assigned" for e in snap.events)


def test_dependency_survives_a_dispatcher_restart(rig_of: Callable[..., Rig]) -> None:
    rig = rig_of({"a": NodeBehaviour(spf=1.0), "b": NodeBehaviour(spf=1.0)})
    cache = rig.submit("1-10", output=str(rig.out / "cache.$F4.bgeo"))
    render = rig.submit("1-4", output=str(rig.out / "beauty.$F4.png"), after=(cache,))
    rig.drive(lambda: rig.snap(cache).summary.frames_done >= 2)
    # The dispatcher dies (nothing closed cleanly) and a new one starts from the store alone.
    for proc in rig.fake.live():
        proc.end(None, "TERM")
    rig.dispatcher = rig.make()
    rig.drive(lambda: rig.snap(cache).state is JobState.RUNNING)
    assert rig.snap(render).state is JobState.WAITING
    rig.drive(rig.finished(render))
    assert_all_done(rig, cache)
    assert_all_done(rig, render)
    assert _first(rig, render, "assigned") >= _first(rig, cache, "done")


def test_retried_dependency_lets_the_dependent_job_run(rig_of: Callable[..., Rig]) -> None:
    behaviour = NodeBehaviour(missing_file=True)
    rig = rig_of({"a": behaviour})
    cache = rig.submit("1-2", output=str(rig.out / "cache.$F4.bgeo"))
    render = rig.submit("1-2", output=str(rig.out / "beauty.$F4.png"), after=(cache,))
    rig.drive(rig.finished(render))
    assert rig.snap(render).state is JobState.FAILED
    behaviour.missing_file = False  # the artist fixed the scene
    rig.client.retry(cache)
    rig.client.retry(render)
    rig.drive(lambda: rig.snap(render).state is JobState.DONE)
    assert_all_done(rig, cache)
    assert _first(rig, render, "assigned") >= _first(rig, cache, "done")


def test_submit_refuses_an_unknown_dependency(rig_of: Callable[..., Rig]) -> None:
    rig = rig_of({"a": NodeBehaviour()})
    with pytest.raises(UsageError, match="there is no job 42"):
        rig.submit("1-2", after=("42",))
    first = rig.submit("1-2")
    job = rig.submit("1-2", after=(f"#{first}", first))
    assert rig.snap(job).spec.after == (first,)
