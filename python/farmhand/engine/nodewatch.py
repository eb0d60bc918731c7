"""What the dispatcher knows about each node beyond one job: backoffs, leftovers to check, slow exits.

A node is *free* for a new chunk when no task of ours holds it (a chunk whose frames are all done is only
exiting and does not count, unless that exit proved slow), it is not backed off (unreachable, or locked by
another dispatcher), and it carries no process group of an earlier run that was not checked yet. The
check (:data:`farmhand.engine.nodescripts.CHECK_ORPHAN`) kills such a group only when its leader carries
our marker; it runs on the helper pool and is collected by :meth:`NodeWatch.poll_checks`.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any

from farmhand.engine import nodescripts
from farmhand.engine.state import EngineState
from farmhand.jobs import NodeActivity

log = logging.getLogger(__name__)

BUSY_NOTE = "busy: rendering for another dispatcher"


class NodeWatch:
    """Per-node backoffs and checks, shared by every job (per-job records live in ``JobRun.nodes``)."""

    def __init__(self, state: EngineState) -> None:
        self.state = state
        self.backoff: dict[str, float] = {}  # node -> time before which it gets no new work
        self.notes: dict[str, str] = {}  # node -> why it is backed off, for the progress rows
        self.to_check: dict[str, tuple[int, str]] = {}  # node -> (pgid, marker) to check before reuse
        self.checks: dict[str, Future[object]] = {}  # node -> orphan check in flight
        self.slow_exit: set[str] = set()  # nodes whose previous chunk is slow to exit: wait for it

    def free(self, node: str, now: float) -> bool:
        """The node may start a chunk now; a node with a group to check starts that check instead."""
        # A chunk whose frames are all done is only exiting (hython releasing its licence, ...): the next
        # chunk may start now; its wrapper waits briefly for the node lock the old process still holds.
        tasks = self.state.tasks.values()
        if any(t.node == node and (not t.draining or node in self.slow_exit) for t in tasks):
            return False
        if self.backed_off(node, now) or node in self.checks:
            return False
        if node in self.to_check:
            pgid, marker = self.to_check.pop(node)
            grace = self.state.retry.cancel_grace
            argv = nodescripts.orphan_argv(pgid, marker, grace)
            self.checks[node] = self.state.submit(self.state.executor.run, node, argv, timeout=grace + 10.0)
            self.event(node, "node_check", f"checking process group {pgid} left by an earlier run", now)
            return False
        return True

    def poll_checks(self, now: float) -> None:
        """Collect finished orphan checks; a node that could not be checked is backed off."""
        for node, future in list(self.checks.items()):
            if not future.done():
                continue
            del self.checks[node]
            try:
                result: Any = future.result()
                self.event(node, "node_check", f"earlier process group: {result.stdout.strip()}", now)
            except Exception as exc:
                self.backoff[node] = now + self.state.retry.unreachable_backoff
                self.event(node, "node_check", f"could not check the node: {exc}", now)

    def check_before_reuse(self, node: str, pgid: int, job_id: str, chunk_id: int) -> None:
        """The chunk's process group may still live on the node: check (and kill) it before new work."""
        self.to_check[node] = (pgid, nodescripts.chunk_marker(job_id, chunk_id))

    def back_off(self, node: str, until: float, note: str) -> None:
        self.backoff[node] = until
        self.notes[node] = note

    def backed_off(self, node: str, now: float) -> bool:
        return self.backoff.get(node, 0.0) > now

    def away(self, node: str) -> tuple[NodeActivity, str]:
        """How a backed-off node shows in the progress rows: busy (another dispatcher's) or offline."""
        note = self.notes.get(node, "")
        return (NodeActivity.BUSY if note == BUSY_NOTE else NodeActivity.OFFLINE), note

    def task_gone(self, node: str) -> None:
        """A task on ``node`` ended: once none is left, its slow exit is over."""
        if not self.state.busy_on(node):
            self.slow_exit.discard(node)

    def event(self, node: str, kind: str, message: str, now: float) -> None:
        log.info("%s: %s", node, message)
        self.state.store.add_event(None, kind, message, node=node, now=now)
