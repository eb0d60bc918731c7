"""The job store's SQLite statements, spoken to PostgreSQL: a connection that looks like ``sqlite3``'s.

:class:`farmhand.engine.store.Store` keeps every table's SQL in one place, written for SQLite. So that
one dispatcher can run on the farm database without a second copy of that SQL, :class:`PgConnection`
takes the same statements and rewrites the few SQLite-only forms on the way:

* ``?`` parameters become ``%s`` (a literal ``%`` is doubled first);
* ``INSERT OR REPLACE`` / ``INSERT OR IGNORE`` become ``ON CONFLICT`` on the table's primary key;
* an insert into a table with an identity key returns it (``cursor.lastrowid``);
* ``rowid`` becomes ``ctid``, ``sqlite_master`` becomes ``pg_tables``, ``BEGIN IMMEDIATE`` ``BEGIN``.

Rows come back as :class:`Row` (by name and by position, like ``sqlite3.Row``) with ``jsonb`` values as
JSON text and booleans as 0/1, the SQLite store's own types. Integers are sent untyped, so PostgreSQL
casts each to its column (``persistent`` is a boolean there). Every driver error leaves as
:class:`~farmhand.engine.store.database.StoreError` (``StoreBusy`` when the server is unreachable, which
a dispatcher answers by starting again from the store); a lost connection is opened again at the next
transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Callable, Optional

import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import TransactionStatus

from farmhand.engine.pg import url as urls
from farmhand.engine.pg.errors import first_line, is_disconnect
from farmhand.engine.store.database import StoreBusy, StoreError

#: Primary keys of the tables a ``INSERT OR REPLACE`` / ``OR IGNORE`` writes to.
PRIMARY_KEYS = {
    "progress": ("job", "node"), "meta": ("key",), "power_rules": ("scope",), "node_power": ("node",),
    "job_holds": ("job",), "limits": ("name",), "shares": ("kind", "name"),
    "farm_settings": ("key",),
}
#: Tables whose key PostgreSQL generates (SQLite's ``lastrowid``).
IDENTITIES = {"jobs": "num", "chunks": "id", "events": "id", "commands": "id"}

_INSERT = re.compile(r"^\s*INSERT\s+(?:OR\s+(REPLACE|IGNORE)\s+)?INTO\s+(\w+)\s*\(([^)]*)\)", re.I)
_TABLES_QUERY = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"


class _Dropped(Exception):
    """The connection was lost under a statement (``error`` is what the store reports)."""

    def __init__(self, error: StoreBusy) -> None:
        super().__init__(str(error))
        self.error = error


class _UntypedInt(Dumper):
    """Send Python ints as untyped literals: PostgreSQL gives each the type of its column."""

    oid = 0

    def dump(self, obj: int) -> bytes:
        return str(obj).encode()


class Row(tuple):  # type: ignore[type-arg]
    """A result row read by position or by column name, as ``sqlite3.Row`` is."""

    names: dict[str, int]

    def __new__(cls, values: Iterable[Any], names: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row.names = names
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(self.names[key])
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return list(self.names)


def _plain(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], Row]:
    names = {c.name: i for i, c in enumerate(cursor.description or ())}
    return lambda values: Row((_plain(v) for v in values), names)


#: TCP settings that notice a farm database gone silent (a cable pulled, a firewall dropping packets)
#: within seconds instead of the system's default hours; Unix-socket connections ignore them. A value
#: the store URL gives itself is kept (:func:`cut_detection`).
CUT_DETECTION = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
                 "tcp_user_timeout": 15000}

def cut_detection(conninfo: str) -> dict[str, int]:
    """:data:`CUT_DETECTION` without the settings ``conninfo`` gives itself."""
    given = psycopg.conninfo.conninfo_to_dict(conninfo)
    return {k: v for k, v in CUT_DETECTION.items() if k not in given}


#: The transaction-scoped advisory lock ("FHWR") a write transaction takes before its first write, or
#: before it reads what it will decide on (:meth:`PgConnection.lock_writes`): writers of the farm
#: database go one at a time, as SQLite's do, so the store's logic stays right with several dispatchers
#: on one database. Readers never wait for it, and a transaction that writes nothing never takes it.
WRITE_LOCK = 0x46485752
LOCK_STATEMENT = f"SELECT pg_advisory_xact_lock({WRITE_LOCK})"
_WRITES = re.compile(r"^\s*(?:INSERT|UPDATE|DELETE)\b|^\s*WITH\b.*\b(?:INSERT|UPDATE|DELETE)\b", re.I | re.S)


def translate_sql(sql: str) -> tuple[str, Optional[str]]:
    """The statement in PostgreSQL's dialect and the identity column it returns (None: returns nothing)."""
    text = sql.strip()
    if text.upper() == "BEGIN IMMEDIATE":
        return "BEGIN", None
    if "sqlite_master" in text:
        return _TABLES_QUERY, None
    text = re.sub(r"\browid\b", "ctid", text.replace("%", "%%").replace("?", "%s"))
    match = _INSERT.match(text)
    if not match:
        return text, None
    mode, table, columns = match.group(1), match.group(2), match.group(3)
    if mode:
        text = _INSERT.sub(f"INSERT INTO {table}({columns})", text, count=1)
        keys = PRIMARY_KEYS.get(table.lower(), ())
        others = [c.strip() for c in columns.split(",") if c.strip() not in keys]
        if mode.upper() == "IGNORE" or not others:
            text += f" ON CONFLICT ({', '.join(keys)}) DO NOTHING" if keys else " ON CONFLICT DO NOTHING"
        else:
            sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in others)
            text += f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}"
    identity = IDENTITIES.get(table.lower())
    if identity and "RETURNING" not in text.upper():
        return f"{text} RETURNING {identity}", identity
    return text, None


class Cursor:
    """What a store method reads of an executed statement."""

    def __init__(self, cur: Optional[psycopg.Cursor[Row]], lastrowid: Optional[int]) -> None:
        self._cur = cur
        self.lastrowid = lastrowid
        self.rowcount = cur.rowcount if cur is not None else 0

    def fetchone(self) -> Optional[Row]:
        return self._cur.fetchone() if self._cur is not None and self._cur.description else None

    def fetchall(self) -> list[Row]:
        return self._cur.fetchall() if self._cur is not None and self._cur.description else []

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


class PgConnection:
    """A ``sqlite3.Connection`` look-alike on one PostgreSQL connection (autocommit; the store sends its
    own ``BEGIN``/``COMMIT``). Not shared between threads."""

    def __init__(self, url: urls.StoreUrl, *, writer: Optional[str] = None, connect_timeout: int = 5,
                 project: Optional[str] = None) -> None:
        self.url = url
        self.writer = writer
        self.project = project  # the project this client's jobs count against in fair share
        self.connect_timeout = connect_timeout
        self.total_changes = 0
        self._writing = False  # a write transaction (BEGIN IMMEDIATE) is open
        self._locked = False  # ... and holds the write lock
        #: Seconds the server lets this session sit idle inside a transaction before ending it (and
        #: releasing its locks); None: the server's default. A dispatcher cut off mid-transaction must
        #: not hold the farm's write lock until TCP gives up on it, hours later.
        self.idle_in_transaction: Optional[float] = None
        self._conn: Optional[psycopg.Connection[Row]] = None
        self._open()

    def _open(self) -> psycopg.Connection[Row]:
        if self._conn is not None and not self._conn.closed and not self._conn.broken:
            return self._conn
        try:
            conninfo = psycopg.conninfo.make_conninfo(self.url.conninfo, **cut_detection(self.url.conninfo))
            conn: psycopg.Connection[Row] = psycopg.connect(
                conninfo, autocommit=True, connect_timeout=self.connect_timeout,
                application_name="farmhand", row_factory=_row_factory,
            )
            conn.adapters.register_dumper(int, _UntypedInt)
            if self.writer:
                conn.execute("SELECT set_config('farmhand.writer', %s, false)", (self.writer,))
            if self.project:
                conn.execute("SELECT set_config('farmhand.project', %s, false)", (self.project,))
            self._apply_idle_limit(conn)
        except psycopg.Error as exc:
            raise self._error(exc, None) from None
        self._conn = conn
        return conn

    def _error(self, exc: psycopg.Error, conn: Optional[psycopg.Connection[Row]]) -> StoreError:
        reason = first_line(exc)
        if isinstance(exc, psycopg.OperationalError) or is_disconnect(exc, conn):
            return StoreBusy(f"the farm database {self.url.where} is unreachable ({reason}); "
                             "trying again")
        return StoreError(f"the farm database {self.url.where} refused a store statement: {reason}")

    @property
    def in_transaction(self) -> bool:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            return False
        return conn.info.transaction_status != TransactionStatus.IDLE

    def lock_writes(self) -> None:
        """Take the farm's write lock now (held to the end of this transaction): before reading what a
        write will be decided on. Outside a write transaction it does nothing."""
        if self._writing and not self._locked and self.in_transaction:
            try:
                self._execute(LOCK_STATEMENT, (), None, False)
            except _Dropped as dropped:  # mid-transaction: its work is gone, the step starts again
                raise dropped.error from None
            self._locked = True

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        text, identity = translate_sql(sql)
        begins = text == "BEGIN"
        ends = text in ("COMMIT", "ROLLBACK")
        if self._writing and not self._locked and not ends and _WRITES.match(text):
            self.lock_writes()
        starting = begins or not self.in_transaction
        if ends:
            self._writing = self._locked = False
        try:
            found = self._execute(text, params, identity, starting)
        except _Dropped as dropped:
            # A connection found dead as a transaction starts (or by a lone read) had done nothing of
            # it yet: open a new one and run the statement again, once.
            if not (begins or (starting and text.lstrip().upper().startswith("SELECT"))):
                raise dropped.error from None
            self.close()
            try:
                found = self._execute(text, params, identity, True)
            except _Dropped as again:
                raise again.error from None
        if begins:
            self._writing, self._locked = sql.strip().upper() == "BEGIN IMMEDIATE", False
        return found

    def _execute(self, text: str, params: Sequence[Any], identity: Optional[str], starting: bool) -> Cursor:
        # A lost connection is opened again only between transactions: mid-transaction its work is gone.
        conn = self._open() if starting else self._conn
        if conn is None:
            raise StoreBusy(f"the farm database {self.url.where} connection was lost; trying again")
        try:
            cur = conn.execute(text, tuple(params) if params else None)
            lastrowid = None
            if identity is not None:
                row = cur.fetchone()
                lastrowid = int(row[0]) if row else None
        except psycopg.Error as exc:
            error = self._error(exc, conn)
            if isinstance(error, StoreBusy):
                raise _Dropped(error) from None
            raise error from None
        if cur.rowcount > 0 and not text.lstrip().upper().startswith("SELECT"):
            self.total_changes += cur.rowcount
        return Cursor(cur, lastrowid)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> Cursor:
        text, _ = translate_sql(sql)
        if self._writing and not self._locked and _WRITES.match(text):
            self.lock_writes()
        conn = self._open() if not self.in_transaction else self._conn
        assert conn is not None
        try:
            with conn.cursor() as cur:
                cur.executemany(text, [tuple(p) for p in seq])
                count = cur.rowcount
        except psycopg.Error as exc:
            raise self._error(exc, conn) from None
        self.total_changes += max(count, 0)
        return Cursor(None, None)

    def executescript(self, script: str) -> None:
        del script  # the farm database's schema is made by its migrations (farmhand.engine.pg.schema)

    def limit_idle_transactions(self, seconds: float) -> None:
        """End this session (server side) once it sits idle inside a transaction for ``seconds``: now,
        and on every reconnection."""
        self.idle_in_transaction = seconds
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken and not self.in_transaction:
            self._apply_idle_limit(conn)

    def _apply_idle_limit(self, conn: psycopg.Connection[Row]) -> None:
        if self.idle_in_transaction:
            conn.execute("SELECT set_config('idle_in_transaction_session_timeout', %s, false)",
                         (f"{int(self.idle_in_transaction * 1000)}",))

    def raw(self) -> psycopg.Connection[Row]:
        """The psycopg connection under this one, for statements in its open transaction (team leases)."""
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            raise StoreBusy(f"the farm database {self.url.where} connection was lost; trying again")
        return conn

    def close(self) -> None:
        self._writing = self._locked = False
        if self._conn is not None:
            self._conn.close()
            self._conn = None
