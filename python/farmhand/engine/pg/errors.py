"""PostgreSQL errors translated into Farmhand's one-line errors, at the edge of this package."""

from __future__ import annotations

from typing import Any, Optional

import psycopg

from farmhand.engine.pg.url import redact
from farmhand.errors import FarmhandError


class AccessDenied(FarmhandError):
    """The database refused the statement for the connected role (a privilege or row-level policy)."""


class StoreUnavailable(FarmhandError):
    """The farm database cannot be reached (down, restarting, network cut); trying again may work."""

    retryable = True


class LeaseLost(FarmhandError):
    """This dispatcher no longer holds the node's lease (it expired and another dispatcher adopted it)."""

    def __init__(self, node: str, dispatcher: str) -> None:
        super().__init__(
            f"{node}: dispatcher {dispatcher} no longer holds this node's lease (it expired or was adopted)"
        )
        self.node = node


def first_line(exc: BaseException) -> str:
    """The first line of a driver message, password-free (libpq messages can span lines with hints)."""
    text = str(exc).strip().splitlines()
    return redact(text[0]) if text else exc.__class__.__name__


def is_disconnect(exc: BaseException, conn: Optional[psycopg.Connection[Any]] = None) -> bool:
    """True when ``exc`` means the connection is gone (server restart, network cut), not a bad query."""
    if conn is not None and (conn.closed or conn.broken):
        return True
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = getattr(exc, "sqlstate", None) or ""
    # Class 08 is connection exceptions; 57P0x is the server shutting down or crashing.
    return state == "" or state.startswith("08") or state.startswith("57P")


# Connection failures that trying again will not cure (everything else - refused, timed out, server
# starting up or shutting down - may pass).
_PERMANENT = ("authentication failed", "does not exist", "no pg_hba.conf entry", "ssl", "certificate",
              "permission denied", "invalid", "could not translate host name")


def translate_connect(exc: psycopg.Error, where: str) -> FarmhandError:
    """The error for a failed connection attempt: retryable unless the server turned us away for good."""
    reason = first_line(exc).replace("connection failed: ", "")
    if any(marker in reason.lower() for marker in _PERMANENT):
        return FarmhandError(
            f"cannot log in to the farm database {where}: {reason}; check the store URL and ~/.pgpass"
        )
    return StoreUnavailable(f"farm database {where} unreachable ({reason}); check the server and the network")


def translate(exc: psycopg.Error, where: str, what: str) -> FarmhandError:
    """One Farmhand error for a driver error met while doing ``what`` on the database at ``where``."""
    reason = first_line(exc)
    if isinstance(exc, psycopg.errors.InsufficientPrivilege):
        return AccessDenied(f"{what}: refused by the farm database ({reason}); ask a wrangler")
    if is_disconnect(exc):
        return StoreUnavailable(
            f"{what}: farm database {where} unreachable ({reason}); check the server and the network",
        )
    return FarmhandError(f"{what}: farm database {where} said: {reason}")
