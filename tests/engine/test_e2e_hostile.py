"""A hostile renderer on the lab farm (``farmhand.lab.hostile_render`` through the ``command`` preset):
it prints a corpus of nasty lines and dies in several ways. The dispatcher stays up (one pid, a fresh
heartbeat, no internal error), every job ends in the state its renderer earned, nothing it started is
left on a node, and what it printed comes back through ``farmhand logs`` as inert text."""

from __future__ import annotations

import json
import time
from typing import Any, Callable

import pytest

from farmhand.jobs import FrameState, JobSnapshot, JobState

from .conftest import FAST_SETTINGS, EngineFarm

pytestmark = pytest.mark.lab

Make = Callable[..., EngineFarm]

SETTINGS: dict[str, Any] = json.loads(json.dumps(FAST_SETTINGS))
SETTINGS["retry"].update(max_attempts=2, stall_floor=3.0)

#: mode -> (the state its job must end in, an event kind or error text it must show)
EXPECTED = {
    "lines": (JobState.DONE, None),
    "busy-crash": (JobState.FAILED, "crash"),
    "segv": (JobState.FAILED, "crash"),
    "exit0": (JobState.FAILED, "output"),
    "hang": (JobState.FAILED, "stalled"),
    "forkbomb": (JobState.DONE, None),
    "closeout": (JobState.DONE, None),
    "flood": (JobState.DONE, None),
}


def _submit(farm: EngineFarm, mode: str) -> str:
    script = "python3 {farmhand}/lab/hostile_render.py"
    command = f"{script} --mode {mode} --children 40 --crash-at 2 {{start}} {{end}} {{output}}"
    output = str(farm.share / "hostile" / mode / "h.$F4.png")
    return farm.submit("--preset", "command", "--frames", "1-3", "--chunk", "3", "--output", output,
                       "--command", command)


def _shows(snap: JobSnapshot, text: str) -> bool:
    return any(text in e.kind or text in e.message for e in snap.events) or text in (snap.summary.error or "")


def test_a_hostile_renderer_cannot_stop_or_fool_the_farm(engine_farm: Make) -> None:
    farm = engine_farm(n=3, settings=SETTINGS)
    jobs = {mode: _submit(farm, mode) for mode in EXPECTED}
    pid = farm.dispatcher_pid()
    assert pid is not None
    snaps = {mode: farm.wait(job, timeout=240) for mode, job in jobs.items()}
    assert farm.dispatcher_pid() == pid, "the dispatcher was restarted"
    beat = farm.client.dispatcher().heartbeat
    assert beat is not None and time.time() - beat < 10
    for mode, (state, shows) in EXPECTED.items():
        snap = snaps[mode]
        assert snap.state is state, (mode, farm.describe(snap.id))
        assert not _shows(snap, "internal_error"), (mode, farm.describe(snap.id))
        if shows is not None:
            assert _shows(snap, shows), (mode, [(e.kind, e.node, e.message[:100]) for e in snap.events])
        if state is JobState.DONE:
            assert all(r.state is FrameState.DONE for r in snap.frames), mode
    # The fake markers changed nothing: no node was taken as missing Farmhand's scripts, and the job whose
    # renderer prints the busy marker before it crashes ended as the crash it is (asserted above: a chunk
    # taken as busy is skipped, never failed, so a fooled dispatcher would never fail that job). A real
    # "node_busy" may happen: a chunk's process group (40 children here) can still hold the node lock
    # while it exits when the next chunk starts there; that one is skipped and retried, as it should be.
    for snap in snaps.values():
        fooled = [e for e in snap.events if e.kind == "scripts_missing"]
        assert not fooled, farm.describe(snap.id)
    crashed = snaps["busy-crash"]
    assert any(e.kind == "chunk_failed" and "crash" in e.message for e in crashed.events), farm.describe(
        crashed.id)
    farm.assert_no_orphans(timeout=30)


def test_what_a_hostile_renderer_printed_is_shown_inert(engine_farm: Make) -> None:
    farm = engine_farm(n=1, settings=SETTINGS)
    job = _submit(farm, "lines")
    assert farm.wait(job, timeout=120).state is JobState.DONE
    shown = farm.farmhand("logs", job, timeout=120).stdout
    assert "FARMHAND_BUSY" in shown and "cleared and red" in shown  # the text is there, as text
    assert "\x1b" not in shown and "\x07" not in shown and "\u202e" not in shown
    assert max(len(line) for line in shown.splitlines()) <= 70_000  # the 4 MiB line was capped
