"""Fair share: which queued job each free node should serve, when several users share a farm.

A pure function of the farm's state, so it is tested (and simulated) without a farm:

* **Priority wins.** A node serves the highest-priority job it can run, whoever owns it.
* **Among equal priority, node time is shared by weight.** Each user (or project, when a wrangler gave
  the project a share: the caller decides what an *account* is) holds nodes in proportion to its
  weight. The next node goes to the account whose holding would be smallest for its weight after taking
  it: ``(usage + charge) / weight``, the rule of highest averages, so weights 2:1 split 2:1 from the
  first node on. Its oldest job at that priority gets the node.
* **Nothing is pre-empted.** Only free nodes are handed out; an account over its share loses nodes as
  its chunks end, not by killing them. Over time the node-seconds follow the weights whatever the
  accounts' chunk lengths, because usage counts nodes held *now*.
* **No node is left idle** while a job it may run wants one (work-conserving): an account's share is a
  floor when it has work, never a cap on the others when it has none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Callable, Optional

NO_LIMIT = 1 << 30


@dataclass(frozen=True)
class QueuedJob:
    """A job with frames still to hand out.

    Attributes:
        job_id: the job.
        user: the fair-share account the job's node time counts against (its owner, or its project).
        priority: higher first.
        age: seconds since it was submitted; among an account's jobs of equal priority, older first.
        want: how many more nodes it can use now (frames not handed out yet, or its own node limit).
    """

    job_id: str
    user: str
    priority: int
    age: float = 0.0
    want: int = NO_LIMIT

    def __post_init__(self) -> None:
        if self.want < 0:
            raise ValueError(f"job {self.job_id}: want {self.want} is negative")


def _weights(weights: Mapping[str, float]) -> Mapping[str, float]:
    for user, w in weights.items():
        if not w > 0:
            raise ValueError(f"share weight of '{user}' must be > 0 (got {w})")
    return weights


def assign(
    free_nodes: Sequence[str],
    queued: Sequence[QueuedJob],
    usage: Mapping[str, float],
    weights: Mapping[str, float] = {},
    *,
    can_run: Optional[Callable[[str, QueuedJob], bool]] = None,
    charge: float = 1.0,
) -> list[tuple[str, str]]:
    """Pick a job for each free node: ``[(node, job_id), ...]`` in the order of ``free_nodes``.

    Args:
        free_nodes: nodes idle now (a node with no runnable job is left out of the answer).
        queued: jobs with work to hand out.
        usage: what each account holds now, in nodes (the nodes rendering its chunks); missing is 0.
        weights: each account's share; missing is 1.
        can_run: whether a node may serve a job (its node list, blocklist, Houdini build); all if None.
        charge: what one more node adds to an account's usage (1 when usage counts nodes).
    """
    shares = _weights(weights)
    held = {user: float(n) for user, n in usage.items()}
    left = {job.job_id: job.want for job in queued}
    picks: list[tuple[str, str]] = []
    for node in free_nodes:
        runnable = [j for j in queued if left[j.job_id] > 0 and (can_run is None or can_run(node, j))]
        if not runnable:
            continue
        top = max(j.priority for j in runnable)

        def after(job: QueuedJob) -> tuple[float, float, str]:
            load = (held.get(job.user, 0.0) + charge) / shares.get(job.user, 1.0)
            return (load, -job.age, job.job_id)

        best = min((j for j in runnable if j.priority == top), key=after)
        picks.append((node, best.job_id))
        left[best.job_id] -= 1
        held[best.user] = held.get(best.user, 0.0) + charge
    return picks
