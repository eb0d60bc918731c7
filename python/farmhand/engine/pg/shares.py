"""Fair-share weights on the farm database: a wrangler's setting, read by every dispatcher.

A job's node time counts against its *account*: its project when the project has a weight here, else
its owner (:data:`farmhand.engine.pg.work.ACCOUNT`). An account without a weight has weight 1, so a
weight of 2 doubles a user's (or a project's) share of the farm among jobs of equal priority. Only the
``farmhand_wrangler`` role may change weights; the database refuses anyone else, in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from farmhand import labels
from farmhand.engine.pg.errors import AccessDenied
from farmhand.engine.store.database import StoreError
from farmhand.errors import UsageError

KINDS = ("user", "project")


@dataclass(frozen=True)
class Share:
    kind: str
    name: str
    weight: float


def checked(kind: str, name: str, weight: float) -> tuple[str, str, float]:
    """The share's parts, or one line naming what to fix.

    Raises:
        UsageError: an unknown kind, a name with other characters than letters, digits, ``_ . @ + -``, or a
            weight that is not a number in (0, 1000].
    """
    if kind not in KINDS:
        raise UsageError(f"a share is for a user or a project, not {kind!r}")
    name = labels.account(name, kind)
    return kind, name, labels.share_weight(weight)


def _refused(exc: StoreError, what: str) -> Exception:
    if "permission denied" in exc.message or "row-level security" in exc.message:
        return AccessDenied(f"{what}: only a wrangler may change fair share (the farm database refused "
                            "this login)")
    return exc


def list_shares(store: Any) -> list[Share]:
    rows = store.db.execute("SELECT kind, name, weight FROM shares ORDER BY kind DESC, name").fetchall()
    return [Share(str(k), str(n), float(w)) for k, n, w in rows]


def set_share(store: Any, kind: str, name: str, weight: float) -> Share:
    kind, name, weight = checked(kind, name, weight)
    try:
        with store.tx() as db:
            db.execute("INSERT OR REPLACE INTO shares(kind, name, weight) VALUES (?, ?, ?)",
                       (kind, name, weight))
    except StoreError as exc:
        raise _refused(exc, f"setting the share of {kind} {name}") from None
    return Share(kind, name, weight)


#: The farm setting that lets dispatchers stop running chunks to give nodes to accounts below their share.
PREEMPT = "preempt"


def preempting(store: Any) -> bool:
    row = store.db.execute("SELECT value FROM farm_settings WHERE key = ?", (PREEMPT,)).fetchone()
    return bool(row and row[0] == "on")


def set_preempting(store: Any, on: bool) -> None:
    try:
        with store.tx() as db:
            db.execute("INSERT OR REPLACE INTO farm_settings(key, value) VALUES (?, ?)",
                       (PREEMPT, "on" if on else "off"))
    except StoreError as exc:
        raise _refused(exc, "turning pre-emption " + ("on" if on else "off")) from None


def remove_share(store: Any, kind: str, name: str) -> bool:
    """Back to weight 1; False when it had no weight of its own."""
    kind, name, _ = checked(kind, name, 1.0)
    try:
        with store.tx() as db:
            gone = db.execute("DELETE FROM shares WHERE kind = ? AND name = ?", (kind, name)).rowcount
    except StoreError as exc:
        raise _refused(exc, f"removing the share of {kind} {name}") from None
    return bool(gone)
