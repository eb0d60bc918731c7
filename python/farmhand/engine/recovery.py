"""Starting from the store: after a process start, and after a step the store refused to record.

The dispatcher is crash-only. Whatever stopped the previous one (SIGKILL, a power cut, a full disk under
the store), the next start reads the truth from the store: chunks recorded as running are lost (their
nodes are checked for the recorded process group before reuse, see
:meth:`farmhand.engine.nodewatch.NodeWatch.check_before_reuse`), frames recorded as rendering go back to
the queue, verified frames stay done, and a command the previous one was applying is answered, never
applied again. A running dispatcher whose store write failed (the in-memory state may then be ahead of
the store) does the same in-process: :meth:`Recovery.reset` drops every task (closing a channel makes
the node's watchdog end the render) and every job, and the next step starts from the store again.
"""

from __future__ import annotations

import logging
from typing import Callable, Optional

from farmhand.engine.nodewatch import NodeWatch
from farmhand.engine.state import EngineState
from farmhand.engine.transitions import move_chunk
from farmhand.jobs import Chunk, ChunkState, FrameState

log = logging.getLogger(__name__)


class Recovery:
    """Rebuilds the dispatcher's view from the store (see the module docstring)."""

    def __init__(self, state: EngineState, nodes: NodeWatch,
                 mine: Optional[Callable[[], set[int]]] = None) -> None:
        self.state = state
        self.nodes = nodes
        # On a shared farm: the ids of this dispatcher's open chunks (the others' are not its to close).
        self.mine = mine
        self.done = False  # the store has been read since the (re)start

    def recover(self, now: float) -> None:
        """Close what the store says is open: lost chunks, frames left rendering, commands in flight."""
        store = self.state.store
        if self.mine is not None:
            self._recover_mine(self.mine, now)
            return
        abandoned = store.abandon_commands(now)
        if abandoned:
            log.warning("%d command(s) were being applied when the dispatcher stopped; answered, "
                        "not applied again", abandoned)
        with store.tx():
            for chunk in store.open_chunks():
                self._close(chunk, now)
            for job_id in store.job_ids():
                rendering = [i for i, f in enumerate(store.frames(job_id)) if f.state is FrameState.RENDERING]
                store.update_frames(job_id, rendering, state=FrameState.WAITING)
            store.set_meta("dispatcher_started", repr(self.state.stamp(now)))
        self.done = True

    def _recover_mine(self, mine: Callable[[], set[int]], now: float) -> None:
        """On a shared farm: close only this dispatcher's open chunks and queue their frames again (a
        dispatcher that stopped for good is adopted by the others, see :mod:`farmhand.engine.team`)."""
        store = self.state.store
        with store.tx():
            ids = mine()
            for chunk in [c for c in store.open_chunks() if c.id in ids]:
                self._close(chunk, now)
                frames = store.frames(chunk.job_id)
                rendering = [i for i in chunk.frames
                             if i < len(frames) and frames[i].state is FrameState.RENDERING]
                store.update_frames(chunk.job_id, rendering, state=FrameState.WAITING)
        self.done = True

    def _close(self, chunk: Chunk, now: float) -> None:
        store = self.state.store
        lost = move_chunk(chunk.state, ChunkState.LOST)
        store.update_chunk(chunk.id, state=lost, ended=now, message="dispatcher restarted while it ran")
        if chunk.pgid is not None:
            self.nodes.check_before_reuse(chunk.node, chunk.pgid, chunk.job_id, chunk.id)
        store.add_event(
            chunk.job_id,
            "recovered",
            f"chunk {chunk.id} on {chunk.node} was running when the "
            "dispatcher stopped; its unfinished frames are queued again",
            node=chunk.node,
            now=now,
        )

    def reset(self) -> None:
        """Forget every task and job (their processes are dropped); the next step recovers."""
        for task in list(self.state.tasks.values()):
            try:
                task.abandon()
            except Exception:
                log.exception("could not drop chunk %s", task.chunk_id)
        self.state.tasks.clear()
        self.state.jobs.clear()
        self.done = False
