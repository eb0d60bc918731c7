"""A shared farm database in the panel's words: whose jobs the queue lists, which dispatcher leases a node.

With ``FARMHAND_STORE=postgresql://…`` every job has an owner (the login that submitted it) and each
node is leased to one dispatcher at a time (:mod:`farmhand.engine.pg.leases`). The SQLite store has
neither: every job is the user's own and one dispatcher serves every node, so the panel shows neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Optional

from farmhand.display import format_duration
from farmhand.ui.view.records import JobView, NodeStatus, NodeView
from farmhand.ui.view.words import count_words

#: ``(node, dispatcher id, seconds until the lease expires)``: :meth:`farmhand.client.Client.leases`.
Lease = tuple[str, str, float]

#: How a dispatcher names itself on the farm database: ``dispatcher:HOST:PID``.
DISPATCHER_PREFIX = "dispatcher:"

#: The note of a node some dispatcher leases that this machine's registry does not know.
UNKNOWN_HERE = "leased on the farm database; not in this machine's node list (add it to act on it)"


def dispatcher_name(dispatcher: str) -> str:
    """``"ws-anna (pid 4242)"`` for ``dispatcher:ws-anna:4242``; an id of any other form as it is."""
    if dispatcher.startswith(DISPATCHER_PREFIX):
        host, colon, pid = dispatcher[len(DISPATCHER_PREFIX):].rpartition(":")
        if colon and host and pid.isdigit():
            return f"{host} (pid {pid})"
    return dispatcher


def lease_words(node: NodeView) -> str:
    """The Leased by column: ``"ws-anna (pid 4242)"``, and ``", expired 12s ago"`` once the dispatcher
    stopped renewing it (empty when nobody leases the node)."""
    if not node.leased_by:
        return ""
    who = dispatcher_name(node.leased_by)
    if node.lease_left is not None and node.lease_left < 0:
        return f"{who}, expired {format_duration(-node.lease_left)} ago"
    return who


def lease_tooltip(node: NodeView) -> str:
    """The lease in full: the dispatcher's id and when the lease ends, or what its expiry means."""
    if not node.leased_by:
        return ""
    left = node.lease_left
    if left is None:
        return node.leased_by
    if left < 0:
        return (f"{node.leased_by}\nlease expired {format_duration(-left)} ago: that dispatcher stopped "
                "renewing it (stopped, cut off or killed); another dispatcher may take the node over, "
                "with the work still running on it")
    return (f"{node.leased_by}\nlease renewed by that dispatcher; it ends in {format_duration(left)} "
            "if the dispatcher stops")


def lease_expired(node: NodeView) -> bool:
    return bool(node.leased_by) and node.lease_left is not None and node.lease_left < 0


def with_leases(nodes: Sequence[NodeView], leases: Iterable[Lease]) -> tuple[NodeView, ...]:
    """``nodes`` with the dispatcher that leases each. A lease names the node as its dispatcher's
    registry does: by the same name as here first, else by the name shown or the address. A leased node
    that this machine's registry lacks gets a row of its own, so the whole farm is seen."""
    index: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for key in (node.shown_as, node.address):
            if key:
                index.setdefault(key, i)
    hosts = {node.host: i for i, node in enumerate(nodes)}
    index.update(hosts)  # the registry's own name wins
    out = list(nodes)
    taken: set[int] = set()
    extra: list[NodeView] = []
    # Leases naming a node exactly as here first, so no other lease takes its row.
    for name, dispatcher, left in sorted(leases, key=lambda lease: lease[0] not in hosts):
        row = index.get(name)
        if row is not None and row not in taken:
            taken.add(row)
            out[row] = replace(out[row], leased_by=dispatcher, lease_left=left)
        else:
            extra.append(NodeView(host=name, status=NodeStatus.UNKNOWN, note=UNKNOWN_HERE,
                                  leased_by=dispatcher, lease_left=left, registered=False))
    return (*out, *sorted(extra, key=lambda n: n.host))


def shown_jobs(jobs: Iterable[JobView], *, all_users: bool, hide_finished: bool,
               selected: Optional[str] = None) -> tuple[JobView, ...]:
    """The jobs the queue lists: the user's own unless ``all_users`` (as ``farmhand jobs`` and
    ``--all``), without finished ones when ``hide_finished`` — except the selected job, which stays
    listed when it finishes so its detail does not vanish."""
    return tuple(job for job in jobs
                 if (all_users or job.mine)
                 and (not hide_finished or not job.status.finished or job.job_id == selected))


def empty_queue_words(listed: int, jobs: Sequence[JobView], *, all_users: bool) -> str:
    """The line above an empty selection: why no job is shown, and what shows one."""
    if listed:
        return "No job selected."
    if not jobs:
        return "No jobs in the queue yet: submit one from Houdini or with 'farmhand submit'."
    if not all_users and not any(job.mine for job in jobs):
        others = count_words(len(jobs), "job")
        return f"No job of yours on the farm ({others} of other users): tick All users to see them."
    return "Every job is finished: untick Hide finished to see them."
