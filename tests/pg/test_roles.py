"""Who may do what, enforced by PostgreSQL's roles and row-level security with real login roles."""

from __future__ import annotations

import psycopg
import pytest
from tests.pg.conftest import FarmDb, User

from farmhand.engine.pg import roles, submit, work
from farmhand.engine.pg.db import PgDatabase
from farmhand.engine.pg.errors import AccessDenied
from farmhand.engine.pg.roles import FarmRole
from farmhand.errors import FarmhandError, NotFound
from farmhand.jobs import CommandOp, JobSpec

SPEC = JobSpec(preset="demo", frames="1-4")


def _submit(user: User) -> str:
    return PgDatabase(user.url).run(lambda c: submit.insert_job(c, SPEC, [1, 2, 3, 4], now=100.0))


def _command(user: User, job: str | None, op: CommandOp) -> int:
    return PgDatabase(user.url).run(lambda c: submit.add_command(c, job, op))


def test_an_artist_cannot_cancel_another_users_job(farm_db: FarmDb) -> None:
    alice = farm_db.user(FarmRole.ARTIST, "alice")
    bob = farm_db.user(FarmRole.ARTIST, "bob")
    job = _submit(alice)
    with pytest.raises(AccessDenied) as err:
        _command(bob, job, CommandOp.CANCEL)
    assert err.value.message == (
        f"{bob.name} may not cancel job {job} (owned by {alice.name}): an artist controls only their own "
        "jobs; ask a wrangler"
    )
    assert _command(alice, job, CommandOp.CANCEL) > 0  # the owner may
    with farm_db.admin() as conn:
        owners = conn.execute("SELECT owner, op FROM commands").fetchall()
    assert owners == [(alice.name, "cancel")]  # bob's attempt left nothing behind


def test_the_refusal_is_the_databases_not_farmhands(farm_db: FarmDb) -> None:
    """Plain SQL as the artist, past Farmhand's code: PostgreSQL itself refuses."""
    alice = farm_db.user(FarmRole.ARTIST, "alice")
    bob = farm_db.user(FarmRole.ARTIST, "bob")
    job = int(_submit(alice))
    with psycopg.connect(bob.url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("INSERT INTO commands(t, job, op) VALUES (0, %s, 'cancel')", (job,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(  # a job in someone else's name
                "INSERT INTO jobs(spec, state, priority, created, updated, owner)"
                " VALUES ('{}', 'queued', 1, 0, 0, %s)", (alice.name,),
            )
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            conn.execute("UPDATE jobs SET state = 'cancelled' WHERE num = %s", (job,))
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("INSERT INTO frames(job, idx, frame, state) VALUES (%s, 99, 99, 'waiting')", (job,))


def test_artists_see_every_users_jobs_with_their_owner(farm_db: FarmDb) -> None:
    alice = farm_db.user(FarmRole.ARTIST, "alice")
    bob = farm_db.user(FarmRole.ARTIST, "bob")
    a, b = _submit(alice), _submit(bob)
    seen = PgDatabase(bob.url).run(lambda c: c.execute("SELECT num, owner FROM jobs ORDER BY num").fetchall())
    assert seen == [(int(a), alice.name), (int(b), bob.name)]


def test_a_wrangler_controls_every_job_and_the_shares(farm_db: FarmDb) -> None:
    alice = farm_db.user(FarmRole.ARTIST, "alice")
    wrangler = farm_db.user(FarmRole.WRANGLER, "wrangler")
    job = _submit(alice)
    assert _command(wrangler, job, CommandOp.CANCEL) > 0
    assert _command(wrangler, None, CommandOp.STOP) > 0
    PgDatabase(wrangler.url).run(lambda c: work.set_share(c, "user", alice.name, 2.0))
    with pytest.raises(AccessDenied, match="may not stop every dispatcher"):
        _command(alice, None, CommandOp.STOP)
    with pytest.raises(AccessDenied, match="permission denied for table shares"):
        PgDatabase(alice.url).run(lambda c: work.set_share(c, "user", alice.name, 9.0), "set share")


def test_a_dispatcher_updates_anyones_frames(farm_db: FarmDb) -> None:
    alice = farm_db.user(FarmRole.ARTIST, "alice")
    service = farm_db.user(FarmRole.DISPATCHER, "dispatcher")
    job = int(_submit(alice))
    done = PgDatabase(service.url).run(
        lambda c: c.execute("UPDATE frames SET state = 'done' WHERE job = %s RETURNING idx", (job,))
        .fetchall()
    )
    assert len(done) == 4


def test_unknown_job_is_not_found(farm_db: FarmDb) -> None:
    alice = farm_db.user(FarmRole.ARTIST, "alice")
    with pytest.raises(NotFound, match="job '41' does not exist"):
        _command(alice, "41", CommandOp.CANCEL)


def test_roles_of_and_revoke(farm_db: FarmDb) -> None:
    carol = farm_db.user(FarmRole.ARTIST, "carol")
    with farm_db.admin() as conn:
        roles.grant(conn, carol.name, FarmRole.WRANGLER)
        assert roles.roles_of(conn, carol.name) == [FarmRole.ARTIST, FarmRole.WRANGLER]
        roles.revoke(conn, carol.name, FarmRole.ARTIST)
        roles.revoke(conn, carol.name, FarmRole.WRANGLER)
        assert roles.roles_of(conn, carol.name) == []
    with pytest.raises(FarmhandError, match="permission denied"):
        PgDatabase(carol.url).run(lambda c: c.execute("SELECT * FROM jobs"), "list jobs")


def test_a_password_set_by_farmhand_never_reaches_the_server_in_clear(farm_db: FarmDb) -> None:
    dave = farm_db.user(FarmRole.ARTIST, "dave")
    with farm_db.admin() as conn:
        roles.set_password(conn, dave.name, "n3w-secret")
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (dave.name,)).fetchone()
    assert stored is not None and stored[0].startswith("SCRAM-SHA-256$")
    assert "n3w-secret" not in stored[0]
    url = farm_db.cluster.url(dave.name, "n3w-secret", farm_db.name)
    assert PgDatabase(url).run(lambda c: c.execute("SELECT current_user").fetchone()) == (dave.name,)


