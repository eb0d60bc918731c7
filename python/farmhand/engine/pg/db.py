"""One connection to the farm database that survives a server restart.

Every unit of work is a function run in one transaction (:meth:`PgDatabase.run`). When the connection
drops (PostgreSQL restarted, the network cut for a moment) the unit is rolled back by the server, so
:meth:`run` reconnects and runs it again, until ``retry_for`` seconds have passed; then it raises
:class:`StoreUnavailable`, and a dispatcher stops handing out work while its leases run out. A unit cut
while its COMMIT was in flight may have committed: units must be safe to run twice (the ones in
:mod:`farmhand.engine.pg.work` and :mod:`farmhand.engine.pg.leases` are, see there).
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Optional, TypeVar, Union

import psycopg

from farmhand.engine.pg import url as urls
from farmhand.engine.pg.errors import (
    StoreUnavailable,
    first_line,
    is_disconnect,
    translate,
    translate_connect,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
Conn = psycopg.Connection[Any]
MAX_CONFLICTS = 10  # deadlocks with rivals in a row before a unit gives up


class PgDatabase:
    """A reconnecting connection. Not shared between threads: each thread opens its own.

    Args:
        url: the store URL (``postgresql://…``), checked by :func:`farmhand.engine.pg.url.parse`.
        writer: who this connection writes as in the change counter (a dispatcher's id); defaults to
            the login role.
        retry_for: seconds :meth:`run` keeps reconnecting before it gives up.
        sleep, clock: injected so tests can drive retries without waiting.
    """

    def __init__(
        self,
        url: Union[str, urls.StoreUrl],
        *,
        writer: Optional[str] = None,
        connect_timeout: int = 5,
        retry_for: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url if isinstance(url, urls.StoreUrl) else urls.parse(url)
        self.writer = writer
        self.connect_timeout = connect_timeout
        self.retry_for = retry_for
        self._sleep = sleep
        self._clock = clock
        self._conn: Optional[Conn] = None
        self.reconnects = 0

    def __repr__(self) -> str:
        return f"PgDatabase({self.url})"

    def connection(self) -> Conn:
        """The open connection (connecting once if needed; raises on failure, no retry)."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = self._connect()
        return self._conn

    def _connect(self) -> Conn:
        try:
            conn = psycopg.connect(
                self.url.conninfo, autocommit=True, connect_timeout=self.connect_timeout,
                application_name="farmhand",
            )
        except psycopg.Error as exc:
            raise translate_connect(exc, self.url.where) from None
        if self.writer:
            conn.execute("SELECT set_config('farmhand.writer', %s, false)", (self.writer,))
        return conn

    def run(self, unit: Callable[[Conn], T], what: str = "farm database") -> T:
        """``unit(conn)`` in one transaction; on a lost connection, reconnect and run it again."""
        deadline: Optional[float] = None
        delay = 0.1
        conflicts = 0
        while True:
            conn: Optional[Conn] = None
            try:
                conn = self.connection()
                with conn.transaction():
                    return unit(conn)
            except StoreUnavailable as exc:
                reason: str = exc.message
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as exc:
                # The server rolled the unit back to break a conflict with a rival: run it again.
                conflicts += 1
                if conflicts > MAX_CONFLICTS:
                    raise translate(exc, self.url.where, what) from None
                log.info("farm database %s: %s; running it again", self.url.where, first_line(exc))
                continue
            except psycopg.Error as exc:
                if not is_disconnect(exc, conn):
                    raise translate(exc, self.url.where, what) from None
                reason = first_line(exc)
            deadline = deadline if deadline is not None else self._clock() + self.retry_for
            if self._clock() >= deadline:
                raise StoreUnavailable(f"{what}: farm database {self.url.where} unreachable ({reason})")
            log.warning("farm database %s: %s; reconnecting", self.url.where, reason)
            self.close()
            self._sleep(delay)
            delay = min(delay * 2, 2.0)
            self.reconnects += 1

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
