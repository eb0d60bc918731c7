"""Several dispatchers on one farm database, driven by hand on a fake farm (real PostgreSQL).

Each dispatcher has its own connection and identity, as separate processes would; they share the
fake nodes (one :class:`FakeExecutor`) and the database. Leases expire by the database server's clock,
so the test that waits for one uses a lease of a second and sleeps past it; the others use a lease long
enough that a slow machine never lets one run out under a live dispatcher.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Callable, Optional

import pytest
from tests.engine.fake_farm import FakeExecutor, NodeBehaviour
from tests.engine.rig import REPO

from farmhand.client import Client
from farmhand.engine.dispatcher import Dispatcher, inline_submit
from farmhand.engine.jobrun import JobRun
from farmhand.engine.pg.store import PgStore
from farmhand.engine.pg.team import PgTeam
from farmhand.engine.scheduler import Policy
from farmhand.engine.state import FarmNode
from farmhand.engine.team import LeasesLost
from farmhand.jobs import CommandOp, FrameState, JobSpec, JobState, Retry

from .conftest import FarmDb

NODES = [f"n{i}" for i in range(6)]
LONG_LEASE = 60.0


class Team:
    """Dispatchers ``d0..`` on one farm database and one fake farm."""

    def __init__(self, db: FarmDb, home: Path, count: int, lease: float = LONG_LEASE,
                 spf: float = 1.0) -> None:
        self.db = db
        self.out = home / "out"
        self.fake = FakeExecutor({n: NodeBehaviour(spf=spf) for n in NODES})
        self.farm = [FarmNode(n, 4) for n in NODES]
        self.now = 1000.0
        self.stores: list[PgStore] = []
        self.client = Client(self._store(), autostart=False)
        self.dispatchers = [self.make(f"dispatcher:test:{i}", lease) for i in range(count)]
        self.busy_twice: list[str] = []
        self.steps = 0

    def _store(self, writer: Optional[str] = None, url: Optional[str] = None) -> PgStore:
        self.stores.append(PgStore(url or self.db.admin_url, writer=writer))
        return self.stores[-1]

    def make(self, name: str, lease: float, sees: Optional[list[str]] = None) -> Dispatcher:
        """A dispatcher whose registry holds ``sees`` (default: every node)."""
        store = self._store(writer=name)
        farm = [f for f in self.farm if sees is None or f.name in sees]
        return Dispatcher(store, self.fake, lambda: farm, clock=lambda: self.now, submit=inline_submit,
                          retry=Retry(stall_floor=30.0),
                          policy=Policy(target_chunk_seconds=4.0, max_chunk_frames=4),
                          node_package=str(REPO / "python" / "farmhand"), team=PgTeam(store, name),
                          lease_seconds=lease)

    def submit(self, frames: str, client: Optional[Client] = None, **kw: object) -> str:
        out = str(self.out / f"{frames}.$F4.png")
        spec = JobSpec(preset="demo", frames=frames, output=out, **kw)  # type: ignore[arg-type]
        return (client or self.client).submit(spec)

    def step(self, which: Optional[list[Dispatcher]] = None, dt: float = 0.1) -> None:
        self.now += dt
        self.fake.advance(self.now)
        turn = which if which is not None else self.dispatchers
        self.steps += 1
        for d in turn[self.steps % len(turn):] + turn[:self.steps % len(turn)]:  # each goes first in turn
            d.step(self.now)
        for node in NODES:
            if len(self.fake.live(node)) > 1:
                self.busy_twice.append(node)

    def drive(self, until: Callable[[], bool], which: Optional[list[Dispatcher]] = None,
              limit: float = 400.0) -> None:
        start = self.now
        while not until():
            self.step(which)
            assert self.now - start < limit, "the farm did not finish"

    def done(self, job_id: str) -> Callable[[], bool]:
        return lambda: self.client.job(job_id).state.finished

    def chunk_owners(self) -> Counter[str]:
        with self.db.admin() as conn:
            rows = conn.execute("SELECT dispatcher FROM chunks").fetchall()
        return Counter(str(r[0]) for r in rows)

    def close(self) -> None:
        for store in self.stores:
            store.close()


@pytest.fixture
def team(farm_db: FarmDb, farmhand_home: Path) -> Callable[..., Team]:
    made: list[Team] = []

    def make(count: int = 2, **kw: float) -> Team:
        made.append(Team(farm_db, farmhand_home, count, **kw))
        return made[-1]

    yield make  # type: ignore[misc]
    for t in made:
        t.close()


def test_two_dispatchers_share_a_job_and_never_book_a_frame_or_node_twice(team: Callable[..., Team]) -> None:
    t = team(0)
    # Two artists' registries that overlap on n2 and n3: both dispatchers race for those two.
    t.dispatchers = [t.make("dispatcher:test:0", LONG_LEASE, NODES[:4]),
                     t.make("dispatcher:test:1", LONG_LEASE, NODES[2:])]
    jobs = [t.submit("1-60"), t.submit("101-160")]
    t.drive(lambda: all(t.done(j)() for j in jobs))
    for job in jobs:
        snap = t.client.job(job, events=1000)
        assert snap.state is JobState.DONE, [e.message for e in snap.events][-8:]
        # One "done" event: the other dispatcher follows the first one's decision.
        assert Counter(e.kind for e in snap.events)["done"] == 1
    rendered = Counter(frame for _, frame in t.fake.rendered)
    twice = {f: n for f, n in rendered.items() if n > 1}
    assert len(rendered) == 120 and not twice, twice
    assert t.busy_twice == []
    owners = t.chunk_owners()
    assert set(owners) == {"dispatcher:test:0", "dispatcher:test:1"}, owners


def test_a_dead_dispatchers_nodes_are_adopted_and_its_frames_rendered(team: Callable[..., Team]) -> None:
    t = team(2, lease=1.0, spf=2.0)
    first, second = t.dispatchers
    job = t.submit("1-40")
    t.drive(lambda: len(first.state.tasks) >= 3, which=[first])
    # SIGKILL: its SSH channels close (the node watchdogs end the renders) and it never steps again.
    for task in first.state.tasks.values():
        task.abandon()
    killed = {task.node for task in first.state.tasks.values()}
    time.sleep(1.3)  # its leases run out by the database server's clock
    t.drive(t.done(job), which=[second])
    snap = t.client.job(job, events=1000)
    assert snap.state is JobState.DONE
    adopted = [e for e in snap.events if e.kind == "adopted"]
    assert {e.node for e in adopted} == killed
    assert all("dispatcher:test:0" in e.message for e in adopted)
    assert all(f.state is FrameState.DONE for f in snap.frames)
    assert t.busy_twice == []


def test_a_dispatcher_that_cannot_renew_in_time_drops_its_renders(team: Callable[..., Team]) -> None:
    t = team(1, lease=2.0)
    (d,) = t.dispatchers
    t.submit("1-20")
    t.drive(lambda: len(d.state.tasks) >= 2)
    assert d.team is not None
    t.now = d.team.valid_until + 0.1  # no step (so no renewal) for longer than the lease allows
    with pytest.raises(LeasesLost, match="could not renew"):
        d.step(t.now)


def test_a_command_is_applied_by_one_dispatcher_and_followed_by_all(team: Callable[..., Team]) -> None:
    t = team(0, spf=3.0)
    t.dispatchers = [t.make("dispatcher:test:0", LONG_LEASE, NODES[:3]),
                     t.make("dispatcher:test:1", LONG_LEASE, NODES[3:])]
    job = t.submit("1-60")
    t.drive(lambda: all(d.state.tasks_of(job) for d in t.dispatchers))
    t.client.cancel(job)
    t.drive(lambda: not any(d.state.tasks for d in t.dispatchers) and t.client.job(job).state.finished)
    assert t.client.job(job).state is JobState.CANCELLED
    with t.db.admin() as conn:
        results = [r[0] for r in conn.execute("SELECT result FROM commands").fetchall()]
    assert results == ["ok"]
    assert t.fake.live() == []


def _waiting(t: Team, job_id: str) -> bool:
    return any(f.state in (FrameState.WAITING, FrameState.RETRYING) for f in t.client.job(job_id).frames)


def test_equal_priority_users_share_the_nodes_evenly(team: Callable[..., Team], farm_db: FarmDb) -> None:
    t = team(2, spf=1.0)
    from farmhand.engine.pg.roles import FarmRole

    artists = [farm_db.user(FarmRole.ARTIST, stem) for stem in ("ann", "bob")]
    clients = [Client(t._store(url=a.url), autostart=False) for a in artists]
    big = t.submit("1-200", client=clients[0])
    small = t.submit("1001-1200", client=clients[1])
    held: list[Counter[str]] = []
    while not (t.done(big)() and t.done(small)()):
        t.step()
        with farm_db.admin() as conn:
            rows = conn.execute("SELECT j.owner FROM chunks c JOIN jobs j ON j.num = c.job"
                                " WHERE c.state IN ('starting', 'running')").fetchall()
        both = Counter(str(r[0]) for r in rows)
        if sum(both.values()) == len(NODES) and all(_waiting(t, j) for j in (big, small)):
            held.append(both)
    assert held, "the two jobs never had the farm full at once"
    for sample in held:
        assert abs(sample[artists[0].name] - sample[artists[1].name]) <= 1, sample


def test_a_dispatchers_session_idle_in_a_transaction_is_ended_by_the_server(farm_db: FarmDb) -> None:
    """Cut off mid-transaction, a dispatcher must not hold the farm's write lock until TCP gives up:
    its session asks the server to end it after twice the lease (at least 10 s)."""
    store = PgStore(farm_db.admin_url, writer="dispatcher:test:idle")
    try:
        PgTeam(store, "dispatcher:test:idle", lease_seconds=2.0)
        row = store.db.execute("SELECT current_setting('idle_in_transaction_session_timeout')").fetchone()
        assert row is not None and row[0] == "10s"
    finally:
        store.close()


def test_a_stop_is_for_the_dispatcher_it_names(team: Callable[..., Team]) -> None:
    t = team(2)
    first, second = t.dispatchers
    store = t.client.store
    store.add_command(None, CommandOp.STOP, {"dispatcher": "dispatcher:test:1"})
    unnamed = store.add_command(None, CommandOp.STOP)
    t.step()
    assert second.stop_requested.is_set() and not first.stop_requested.is_set()
    assert "names its dispatcher" in (store.command_result(unnamed) or "")


def test_a_job_removed_by_a_wrangler_leaves_every_dispatcher(team: Callable[..., Team]) -> None:
    t = team(2)
    job = t.submit("1-4")
    t.drive(t.done(job))
    first, second = t.dispatchers
    head = t.client.store.job(job)
    # The second still holds the finished job when it is removed (as right after another one ended it).
    second.state.jobs[job] = JobRun.load(t.client.store, job)
    t.client.remove(job)
    assert head.state is JobState.DONE
    t.step()
    assert job not in second.state.jobs and job not in first.state.jobs


@pytest.mark.parametrize("preempt", [False, True])
def test_preemption_gives_a_late_user_their_share_only_when_a_wrangler_allows_it(
        team: Callable[..., Team], farm_db: FarmDb, preempt: bool) -> None:
    """One user's long chunks hold every node when a second user submits. Without pre-emption the
    second waits for chunks to end; with it (a wrangler's farm setting) chunks of the first are stopped
    one at a time until the two hold the farm evenly, their frames queued again without blame."""
    from farmhand.engine.pg.roles import FarmRole

    t = team(1, spf=1.0)
    (d,) = t.dispatchers
    d.state.policy = Policy(target_chunk_seconds=1000.0, max_chunk_frames=50, first_chunk_frames=50)
    wendy = farm_db.user(FarmRole.WRANGLER, "wendy")
    t._store(url=wendy.url).set_preempting(preempt)
    ann, bob = (Client(t._store(url=farm_db.user(FarmRole.ARTIST, s).url), autostart=False)
                for s in ("ann", "bob"))
    first = t.submit("1-600", client=ann)
    t.drive(lambda: len(d.state.tasks) == len(NODES))
    late = t.submit("1001-1300", client=bob)
    for _ in range(100):  # ten simulated seconds: far shorter than any chunk (50 s) of the first job
        t.step()
    held = Counter(task.job_id for task in d.state.tasks.values() if not task.kill_reason)
    if preempt:
        assert held[late] == len(NODES) // 2 and held[first] == len(NODES) // 2, held
        events = t.client.job(first, events=1000).events
        assert sum(e.kind == "preempted" for e in events) == len(NODES) // 2
        assert all(f.attempts == 0 for f in t.client.job(first).frames)  # no blame
    else:
        assert held[late] == 0 and held[first] == len(NODES), held


def test_a_pass_reads_only_the_frames_changed_since_it_last_looked(team: Callable[..., Team]) -> None:
    t = team(1)
    (d,) = t.dispatchers
    assert d.team is not None
    job = t.submit("1-10")
    db = d.team.db
    with d.state.store.tx():
        seen, first = db.changed_frames([job], 0)
    assert sorted(c.idx for c in first) == list(range(10))  # the first look reads them all
    t.client.store.update_frames(job, [3, 7], state=FrameState.FAILED)
    with d.state.store.tx():
        later, changed = db.changed_frames([job], seen)
        again, none = db.changed_frames([job], later)
    assert sorted((c.idx, c.state) for c in changed) == [(3, FrameState.FAILED), (7, FrameState.FAILED)]
    assert later > seen and none == [] and again == later
