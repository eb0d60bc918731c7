"""Which job store this process opens: the SQLite file in FARMHAND_HOME (the default) or a farm database.

A team farm's PostgreSQL database (:class:`farmhand.engine.pg.store.PgStore`, which needs psycopg 3) is
named by a ``postgresql://user@host/db?sslmode=…`` URL, in the environment (``FARMHAND_STORE``) or in
``FARMHAND_HOME/dispatcher.json`` (``"store": {"url": …}``). The environment wins when it is set at all,
so ``FARMHAND_STORE=`` (empty) keeps one process on the SQLite store whatever the file says. Neither:
the SQLite store exactly as before. Every process of a home (dispatcher, CLI, panel, preview thread)
asks :func:`store_url`, so they all open the same store. Anything else is refused in one line that never
shows a password.
"""

from __future__ import annotations

import os
from typing import Optional

from farmhand import labels
from farmhand.engine.pg.url import redact
from farmhand.engine.settings import store_setting
from farmhand.engine.store.tables import Store
from farmhand.errors import ConfigError, UsageError

ENV = "FARMHAND_STORE"
_SCHEMES = ("postgresql://", "postgres://")


def store_url() -> Optional[str]:
    """The farm database URL this process was pointed at, or None for the SQLite store.

    Raises:
        ConfigError: ``FARMHAND_STORE`` or the file's ``store`` is not a ``postgresql://`` URL, or the
            file cannot be read (one line).
    """
    if ENV not in os.environ:
        return store_setting()
    value = os.environ[ENV].strip()
    if not value:
        return None
    if not value.startswith(_SCHEMES):
        raise ConfigError(f"{ENV} must be a postgresql://… URL (empty: the SQLite store in FARMHAND_HOME; "
                          "unset: the store of dispatcher.json)")
    return value


def _source() -> str:
    """Where :func:`store_url` found its choice, for messages: the variable or the file's key."""
    return ENV if ENV in os.environ else "store.url in dispatcher.json"


def open_store(*, readonly: bool = False, writer: Optional[str] = None) -> Store:
    """The chosen job store: SQLite in FARMHAND_HOME, or the farm database :func:`store_url` names."""
    url = store_url()
    if url is None:
        return Store(readonly=readonly)
    try:
        from farmhand.engine.pg.store import PgStore
    except ImportError:
        raise ConfigError(f"{_source()} names a PostgreSQL store ({redact(url)}), but psycopg 3 is "
                          "not installed: pip install 'psycopg[binary]>=3.1' (in Houdini: run "
                          "scripts/install_farmhand.py --team)") from None
    return PgStore(url, readonly=readonly, writer=writer, project=project())


def project() -> Optional[str]:
    """The project this user's jobs count against in fair share (``FARMHAND_PROJECT``), or None.

    Raises:
        ConfigError: the name is not one (one line).
    """
    value = os.environ.get("FARMHAND_PROJECT", "").strip()
    if not value:
        return None
    try:
        return labels.account(value, "FARMHAND_PROJECT")
    except UsageError as exc:
        raise ConfigError(exc.message) from None
