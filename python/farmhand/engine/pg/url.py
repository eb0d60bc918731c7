"""Where the shared store lives: a ``postgresql://`` URL, checked, redacted and connected to.

A studio names its farm database with a libpq URL (``FARMHAND_STORE=postgresql://alice@db.studio/farm``).
The password belongs in ``~/.pgpass`` (or ``PGPASSFILE``), where libpq reads it; one written into the URL
still works but is never shown: :func:`redact` hides it from every message, log line, repr and JSON this
package produces, and nothing here puts a URL on a command line. ``sslmode`` is passed to libpq as given
(``require``/``verify-ca``/``verify-full`` for a server off this machine); a misspelt one is refused here
rather than by a libpq message naming the whole URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import parse_qsl, unquote, urlsplit

from farmhand.errors import ConfigError

SCHEMES = ("postgresql", "postgres")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
MASK = "***"

# user:password@ in a URL's authority; password=... as a URL query item or a libpq keyword.
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^/@:\s]*:)(?P<secret>[^@\s]*)(?P<tail>@)", re.I)
_KEY_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<secret>'(?:[^'\\]|\\.|'')*'|[^\s&]+)", re.I)


def redact(text: str) -> str:
    """``text`` with every password of a URL or conninfo in it replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK + m["tail"], text)
    return _KEY_PASSWORD.sub(lambda m: m["head"] + MASK, text)


@dataclass(frozen=True)
class StoreUrl:
    """A parsed ``postgresql://`` URL. ``str()``, ``repr()`` and :meth:`to_dict` never show the password."""

    conninfo: str  # what libpq gets (the URL as given)
    user: Optional[str]
    host: Optional[str]
    port: Optional[int]
    database: Optional[str]
    sslmode: Optional[str]
    has_password: bool

    def __str__(self) -> str:
        return redact(self.conninfo)

    def __repr__(self) -> str:
        return f"StoreUrl({redact(self.conninfo)!r})"

    @property
    def where(self) -> str:
        """``host:port/database`` for messages (the socket directory stands in for a local host)."""
        return f"{self.host or 'localhost'}:{self.port or 5432}/{self.database or self.user or '?'}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": str(self),
            "user": self.user,
            "host": self.host,
            "port": self.port,
            "database": self.database,
            "sslmode": self.sslmode,
            "password": MASK if self.has_password else None,
        }


def parse(url: str) -> StoreUrl:
    """Check a store URL. Raises :class:`ConfigError` (one line, password hidden) when it is unusable."""
    shown = redact(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"store URL '{shown}' is not valid ({redact(str(exc))})") from None
    if parts.scheme.lower() not in SCHEMES:
        raise ConfigError(f"store URL '{shown}' must start with postgresql://")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    sslmode = query.get("sslmode")
    if sslmode is not None and sslmode not in SSLMODES:
        raise ConfigError(f"store URL '{shown}': sslmode '{sslmode}' is not one of {', '.join(SSLMODES)}")
    database = unquote(parts.path.lstrip("/")) or query.get("dbname")
    return StoreUrl(
        conninfo=url,
        user=unquote(parts.username) if parts.username else query.get("user"),
        host=parts.hostname or query.get("host"),
        port=port or (int(query["port"]) if query.get("port", "").isdigit() else None),
        database=database or None,
        sslmode=sslmode,
        has_password=parts.password is not None or "password" in query,
    )
