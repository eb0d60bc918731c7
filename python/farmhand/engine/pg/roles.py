"""Who may do what on a team farm, in PostgreSQL's own roles and row-level security.

Three group roles (created by migration 3, shared by every farm database of the server):

* ``farmhand_artist`` sees the whole farm; submits jobs as itself (``jobs.owner`` is the login role and
  a policy refuses any other); sends commands (cancel, pause, priority, ...) only for jobs it owns.
* ``farmhand_wrangler`` sees the whole farm; sends commands for any job, stops dispatchers, deletes old
  jobs, sets fair-share weights and may break a node's lease.
* ``farmhand_dispatcher`` is the service account of dispatchers: it changes every work table, because a
  dispatcher renders every user's jobs on the nodes it leases. Artists should not hold it.

A person is a login role that is a member of one of them (:func:`add_user`). The database enforces all
of this, whatever client connects; Farmhand turns its refusals into one line (``AccessDenied``).
"""

from __future__ import annotations

import enum
from typing import Any, Optional

import psycopg
from psycopg import sql


class FarmRole(str, enum.Enum):
    ARTIST = "farmhand_artist"
    WRANGLER = "farmhand_wrangler"
    DISPATCHER = "farmhand_dispatcher"


_GROUPS = "\n".join(
    f"DO $$ BEGIN CREATE ROLE {r.value} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
    for r in FarmRole
)
_EVERYONE = ", ".join(r.value for r in FarmRole)
_PEOPLE = f"{FarmRole.ARTIST.value}, {FarmRole.WRANGLER.value}"
_OWN_JOB = "EXISTS (SELECT 1 FROM jobs j WHERE j.num = {table}.job AND j.owner = current_user)"


def _policies(table: str, submit_check: str) -> str:
    """Everyone reads; artists and wranglers insert what ``submit_check`` allows; dispatchers do all."""
    d = FarmRole.DISPATCHER.value
    return f"""
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
CREATE POLICY {table}_seen ON {table} FOR SELECT USING (true);
CREATE POLICY {table}_submitted ON {table} FOR INSERT TO {_PEOPLE} WITH CHECK ({submit_check});
CREATE POLICY {table}_dispatched ON {table} FOR ALL TO {d} USING (true) WITH CHECK (true);
"""


SECURITY = f"""
{_GROUPS}
GRANT SELECT ON jobs, frames, chunks, progress, events, commands, meta, changes, dispatchers, node_leases,
  shares, schema_version TO {_EVERYONE};
GRANT INSERT ON jobs, frames, events, commands TO {_PEOPLE};
GRANT INSERT, UPDATE, DELETE ON shares TO {FarmRole.WRANGLER.value};
GRANT DELETE ON jobs, node_leases TO {FarmRole.WRANGLER.value};
GRANT INSERT, UPDATE, DELETE ON jobs, frames, chunks, progress, events, commands, meta, dispatchers,
  node_leases TO {FarmRole.DISPATCHER.value};
{_policies("jobs", "owner = current_user")}
CREATE POLICY jobs_purged ON jobs FOR DELETE TO {FarmRole.WRANGLER.value} USING (true);
{_policies("frames", _OWN_JOB.format(table="frames"))}
{_policies("events", _OWN_JOB.format(table="events"))}
ALTER TABLE commands ENABLE ROW LEVEL SECURITY;
CREATE POLICY commands_seen ON commands FOR SELECT USING (true);
CREATE POLICY commands_own_jobs ON commands FOR INSERT TO {FarmRole.ARTIST.value}
  WITH CHECK (owner = current_user AND {_OWN_JOB.format(table="commands")});
CREATE POLICY commands_any_job ON commands FOR INSERT TO {FarmRole.WRANGLER.value}
  WITH CHECK (owner = current_user);
CREATE POLICY commands_dispatched ON commands FOR ALL TO {FarmRole.DISPATCHER.value}
  USING (true) WITH CHECK (true);
"""


def _verifier(conn: psycopg.Connection[Any], name: str, password: str) -> str:
    # Hashed here (libpq's PQencryptPasswordConn), so the plain password never reaches the server,
    # where a statement log could keep it.
    return conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()


def add_user(
    conn: psycopg.Connection[Any], name: str, role: FarmRole, password: Optional[str] = None
) -> None:
    """Create login role ``name`` as a member of ``role`` (needs CREATEROLE: the farm's administrator)."""
    query = sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name))
    if password is not None:
        query += sql.SQL(" PASSWORD {}").format(sql.Literal(_verifier(conn, name, password)))
    query += sql.SQL(" IN ROLE {}").format(sql.Identifier(FarmRole(role).value))
    conn.execute(query)


def set_password(conn: psycopg.Connection[Any], name: str, password: str) -> None:
    conn.execute(
        sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(_verifier(conn, name, password))
        )
    )


def grant(conn: psycopg.Connection[Any], name: str, role: FarmRole) -> None:
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(FarmRole(role).value), sql.Identifier(name)))


def revoke(conn: psycopg.Connection[Any], name: str, role: FarmRole) -> None:
    conn.execute(
        sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(FarmRole(role).value), sql.Identifier(name))
    )


def roles_of(conn: psycopg.Connection[Any], name: str) -> list[FarmRole]:
    """The farm roles ``name`` is a member of (directly or through another role)."""
    rows = conn.execute(
        "SELECT g.rolname FROM pg_roles g WHERE g.rolname = ANY(%s) AND pg_has_role(%s, g.oid, 'member')"
        " ORDER BY 1",
        ([r.value for r in FarmRole], name),
    ).fetchall()
    return [FarmRole(r[0]) for r in rows]
