"""Which job store this process opens: the SQLite file in FARMHAND_HOME (the default) or a farm database.

``FARMHAND_STORE=postgresql://user@host/db?sslmode=…`` chooses the team farm's PostgreSQL database
(:class:`farmhand.engine.pg.store.PgStore`, which needs psycopg 3); unset or empty keeps the SQLite
store exactly as before. Anything else is refused in one line.
"""

from __future__ import annotations

import os
from typing import Optional

from farmhand.engine.store.tables import Store
from farmhand.errors import ConfigError

ENV = "FARMHAND_STORE"
_SCHEMES = ("postgresql://", "postgres://")


def store_url() -> Optional[str]:
    """The farm database URL this process was pointed at, or None for the SQLite store."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return None
    if not value.startswith(_SCHEMES):
        raise ConfigError(f"{ENV} must be a postgresql://… URL (or unset for the SQLite store in "
                          "FARMHAND_HOME)")
    return value


def open_store(*, readonly: bool = False, writer: Optional[str] = None) -> Store:
    """The chosen job store: SQLite in FARMHAND_HOME, or the farm database of ``FARMHAND_STORE``."""
    url = store_url()
    if url is None:
        return Store(readonly=readonly)
    try:
        from farmhand.engine.pg.store import PgStore
    except ImportError:
        raise ConfigError(f"{ENV} names a PostgreSQL store, but psycopg 3 is not installed: "
                          "pip install 'psycopg[binary]>=3.1'") from None
    return PgStore(url, readonly=readonly, writer=writer)
