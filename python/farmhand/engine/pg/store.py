"""The job store on the farm database: :class:`farmhand.engine.store.Store`, over PostgreSQL.

Chosen by a store URL (``FARMHAND_STORE=postgresql://…``, see :func:`farmhand.engine.store.open_store`).
Every read and write is the SQLite store's own (:mod:`.sqlite_dialect` speaks them to PostgreSQL), so
a dispatcher and its clients behave as with SQLite; what differs:

* one connection reads and writes (no read-only twin), in PostgreSQL's transactions;
* the change counter clients poll is the team schema's ``changes`` sum, bumped at commit by triggers;
* the schema must exist (``schema.migrate`` by the farm's administrator); a store opened on an
  unmigrated database says so in one line, and one migrated by a newer Farmhand is refused.

Several dispatchers serve one farm database at once (:mod:`farmhand.engine.team`,
:mod:`farmhand.engine.pg.team`): write transactions take one advisory lock first, so they go one at a
time as SQLite's writers do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional, Union

from farmhand.engine.pg import schema
from farmhand.engine.pg import shares as weights
from farmhand.engine.pg import url as urls
from farmhand.engine.pg.sqlite_dialect import PgConnection
from farmhand.engine.store.database import _TxState, _wall
from farmhand.engine.store.tables import Store
from farmhand.errors import ConfigError, FarmhandError


class PgStore(Store):
    """The job store in a PostgreSQL farm database. Not shared between threads.

    Args:
        url: the store URL; its password is never printed (``path`` and messages carry the redacted form).
        readonly: accepted for the SQLite store's signature; one connection here both reads and writes.
        writer: who this connection writes as in the change counter (a dispatcher's id).
    """

    def __init__(self, url: Union[str, urls.StoreUrl], *, readonly: bool = False,
                 writer: Optional[str] = None, project: Optional[str] = None) -> None:
        del readonly
        self.url = url if isinstance(url, urls.StoreUrl) else urls.parse(url)
        self.path = Path(self.url.where)
        self.readonly = False
        self.stamp: Callable[[Optional[float]], float] = _wall
        self._tx = _TxState()
        self._writer = None
        self.db: Any = PgConnection(self.url, writer=writer, project=project)
        self._check_schema()

    def __repr__(self) -> str:
        return f"PgStore({self.url})"

    def _check_schema(self) -> None:
        have = 0
        exists = self.db.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
        if exists and exists[0]:
            row = self.db.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
            have = int(row[0]) if row else 0
        if have == 0:
            raise ConfigError(f"the farm database {self.url.where} has no Farmhand schema; the farm's "
                              "administrator creates it (docs/team.md, 'Setting up a shared farm')")
        if have > schema.latest():
            raise ConfigError(f"the farm database {self.url.where} is at schema version {have}, newer "
                              f"than this Farmhand ({schema.latest()}): upgrade Farmhand on this machine")
        if have < schema.latest():
            raise ConfigError(f"the farm database {self.url.where} is at schema version {have}; the farm's "
                              f"administrator migrates it to {schema.latest()} (schema.migrate)")

    def _commit(self) -> None:
        # No meta.version bump: triggers count changes at commit (and artists may not write meta).
        try:
            self.db.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise

    def version(self) -> int:
        """The change counter: the sum of every writer's row in ``changes`` (grows at each commit)."""
        row = self.db.execute("SELECT coalesce(sum(n), 0) FROM changes").fetchone()
        return int(row[0]) if row else 0

    def login(self) -> str:
        """The database role this store is connected as (an artist's jobs are owned by it)."""
        row = self.db.execute("SELECT current_user").fetchone()
        return str(row[0]) if row else ""

    def owners(self) -> dict[str, str]:
        """Who owns each job (``jobs.owner``: the login role that submitted it), by job id."""
        return {str(r[0]): str(r[1]) for r in self.db.execute("SELECT num, owner FROM jobs ORDER BY num")}

    def leases(self) -> list[tuple[str, str, float]]:
        """Every node lease: ``(node, dispatcher id, seconds until it expires)`` (negative: expired, not
        taken over yet), by node. The seconds are the database server's, one clock for everyone."""
        rows = self.db.execute(
            "SELECT node, dispatcher, expires_at - farmhand_now(NULL) FROM node_leases ORDER BY node"
        ).fetchall()
        return [(str(r[0]), str(r[1]), float(r[2])) for r in rows]

    def shares(self) -> list[weights.Share]:
        """Every fair-share weight a wrangler set (users and projects); others have weight 1."""
        return weights.list_shares(self)

    def set_share(self, kind: str, name: str, weight: float) -> weights.Share:
        return weights.set_share(self, kind, name, weight)

    def remove_share(self, kind: str, name: str) -> bool:
        return weights.remove_share(self, kind, name)

    def preempting(self) -> bool:
        """Whether dispatchers may stop running chunks to give nodes to accounts below their share."""
        return weights.preempting(self)

    def set_preempting(self, on: bool) -> None:
        weights.set_preempting(self, on)

    def close(self) -> None:
        self.db.close()


def check_dispatcher_role(store: PgStore) -> None:
    """Raise unless the store's login may dispatch (a ``farmhand_dispatcher`` member, or a superuser)."""
    row = store.db.execute(
        "SELECT pg_has_role('farmhand_dispatcher', 'MEMBER') OR rolsuper FROM pg_roles"
        " WHERE rolname = current_user"
    ).fetchone()
    if not (row and row[0]):
        raise FarmhandError(f"{store.login()} may not dispatch on the farm database {store.url.where}: "
                            "start the dispatcher with a farmhand_dispatcher login in FARMHAND_STORE "
                            "(docs/team.md)")
