"""What the panel says is rendering, read from the store at every step of a live 3-node command job.

The dispatcher marks a whole chunk "rendering" in the store when it hands it out, and writes each node's
current frame as the renderer reports it. Between two frames (the last one's 100 % read, the next one's
first progress line not yet) a node has no current frame: a poll landing then used to paint the node's
whole chunk as rendering ("106 rendering now" for three nodes with ~35-frame chunks, every chunk frame
blue, no node with a current frame). Every poll here reads the store the way the panel does, at every
instant the dispatcher could be read at.
"""

from __future__ import annotations

from typing import Callable

from farmhand.jobs import FrameState, NodeActivity
from farmhand.ui.view.convert import job_detail, queue_view
from farmhand.ui.view.records import FrameStatus

from .fake_farm import NodeBehaviour
from .rig import Rig

COMMAND = "python3 demo_render.py --start {start} --end {end} --step {step} --output {output}"


def test_rendering_now_is_never_more_than_the_frames_nodes_are_on(rig_for: Callable[..., Rig]) -> None:
    rig = rig_for({n: NodeBehaviour(spf=2.0) for n in ("a", "b", "c")})
    job = rig.submit("1-120", preset="command", command=COMMAND)
    seen_between = 0  # polls that caught some node between two frames of its chunk
    most = 0

    def poll() -> bool:
        nonlocal seen_between, most
        snap = rig.snap(job)
        detail = job_detail(snap)
        on = {(n.node, float(n.current_frame)) for n in snap.nodes
              if n.current_frame is not None and n.state is NodeActivity.RENDERING}
        rendering = [f for f in detail.frames if f.status is FrameStatus.RENDERING]
        # Blue squares are exactly the frames nodes say they are on; the rest of a chunk is assigned.
        assert {(f.host, f.frame) for f in rendering} == on
        assert detail.job.frames_rendering == len(on) <= 3
        assigned = sum(f.status is FrameStatus.ASSIGNED for f in detail.frames)
        assert assigned + len(rendering) == snap.summary.frames_rendering
        queued = queue_view(snap.summary, "", {}, set(), snap.nodes)
        assert queued.frames_rendering == detail.job.frames_rendering
        busy = {f.node for f in snap.frames if f.state is FrameState.RENDERING}
        seen_between += any(n.node in busy and n.current_frame is None for n in snap.nodes)
        most = max(most, snap.summary.frames_rendering)
        return snap.state.finished

    rig.drive(poll, dt=0.05)
    assert most >= 30, "chunks of many frames were handed out"
    assert seen_between, "some polls landed between two frames of a chunk (the case that painted it blue)"
