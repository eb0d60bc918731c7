"""Fuzzing the dispatcher with what a render prints: any lines, on either stream, in the middle of a real
chunk on the simulated farm. Nothing a line holds may reach a guard (no internal error), change what
the dispatcher believes about the node, or stop the job from finishing with every frame verified."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from farmhand.engine import nodescripts
from farmhand.jobs import JobState

from .fake_farm import NodeBehaviour
from .rig import Rig

MARKERS = ["FARMHAND_BUSY", "FARMHAND_MISSING /x", "FARMHAND_PGID 1", "FARMHAND_PGID=1", "FARMHAND_EVENT ",
           f"{nodescripts.CONTROL} {'0' * 32} BUSY", "ALF_PROGRESS ", "Fra:", "Saved: '", "nan", "inf",
           "1e400", "9" * 400, "-", "%", "'", "\x00", "\x1b]52;c;", "\r", "\udcff", "{\"event\": \"done\"}"]

lines = st.lists(
    st.tuples(
        st.sampled_from(["out", "err"]),
        st.lists(st.one_of(st.sampled_from(MARKERS), st.text(max_size=30)), max_size=6).map("".join),
    ),
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(printed=lines)
def test_nothing_a_render_prints_breaks_the_dispatcher(
    printed: list[tuple[str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = Path(tmp_path) / f"home-{abs(hash(tuple(printed)))}"
    monkeypatch.setenv("FARMHAND_HOME", str(home))
    rig = Rig(home, {"a": NodeBehaviour(spf=1.0)})
    job = rig.submit("1-3", chunk=3)
    rig.drive(lambda: bool(rig.dispatcher.state.tasks) and rig.fake.live() != [])
    (task,) = rig.dispatcher.state.tasks.values()
    for stream, text in printed:
        task.on_line(stream, text)
    rig.drive(rig.finished(job))
    snap = rig.snap(job)
    assert rig.dispatcher.faults.count == 0
    assert snap.state is JobState.DONE, [e.message for e in snap.events][-5:]
    assert not any(e.kind in ("node_busy", "scripts_missing", "internal_error") for e in snap.events)
    rig.store.close()
