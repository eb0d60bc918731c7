"""The node registry: every render node Farmhand knows, in SQLite at ``paths.registry_db()`` (0600).

Stable API (the dispatcher, the UI and the CLI use only this)::

    reg = Registry()                              # or Registry(path)
    reg.list(enabled=True, state=NodeState.TRUSTED) -> list[Node]
    reg.get(name_or_address) -> Node              # NotFound if unknown
    reg.add(name, address=None, port=None, user=None, identity=None, state=NodeState.TRUSTED) -> Node
    reg.record_discovered(address, banner) -> Node  # from `farmhand scan`; never downgrades a trusted node
    reg.remove(name); reg.set_enabled(name, bool); reg.set_state(name, NodeState)
    reg.record_inventory(name, inventory_dict); reg.record_error(name, message)
    reg.target(name) -> farmhand.ssh.Target      # recorded values over ~/.ssh/config over defaults
    reg.executor(**kw) -> farmhand.ssh.SSHExecutor  # resolves node names through the registry

``Node.inventory`` is the JSON dict of :class:`farmhand.nodes.inventory.Inventory` (``Inventory.from_dict``).
``port``, ``user`` and ``identity`` are None when they come from ``~/.ssh/config`` at connect time.
Every call opens its own short SQLite connection, so a Registry may be shared between threads and
processes (WAL journal; writers wait up to 10 s for each other).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from farmhand import paths
from farmhand.errors import FarmhandError, NotFound, UsageError

if TYPE_CHECKING:
    from farmhand.ssh import SSHExecutor, Target

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    name        TEXT PRIMARY KEY,
    address     TEXT NOT NULL,
    port        INTEGER,
    user        TEXT,
    identity    TEXT,
    state       TEXT NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 1,
    inventory   TEXT,
    banner      TEXT,
    added       REAL NOT NULL,
    last_seen   REAL,
    last_error  TEXT
);
CREATE INDEX IF NOT EXISTS nodes_address ON nodes(address);
CREATE TABLE IF NOT EXISTS node_tags (node TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (node, tag));
"""


class NodeState(str, Enum):
    DISCOVERED = "discovered"  # answered SSH in a scan; host key not yet trusted
    TRUSTED = "trusted"  # host key trusted; used for work when enabled


@dataclass(frozen=True)
class Node:
    name: str
    address: str
    port: Optional[int]
    user: Optional[str]
    identity: Optional[str]
    state: NodeState
    enabled: bool
    inventory: Optional[dict[str, Any]]
    banner: Optional[str]
    added: float
    last_seen: Optional[float]
    last_error: Optional[str]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "address": self.address, "port": self.port, "user": self.user,
            "identity": self.identity, "state": self.state.value, "enabled": self.enabled,
            "inventory": self.inventory, "banner": self.banner, "added": self.added,
            "last_seen": self.last_seen, "last_error": self.last_error,
        }


def display_names(nodes: list[Node]) -> dict[str, str]:
    """How people know each node: a node a scan found is registered by its address, so it is shown by the
    host name its inventory reports (the address goes beside it) — when no other node has or reports that
    name, so the shown name always leads back to one node (:meth:`Registry.find` accepts it)."""
    reported: dict[str, list[str]] = {}
    for node in nodes:
        host = (node.inventory or {}).get("hostname")
        if isinstance(host, str) and host.strip() and node.name == node.address:
            reported.setdefault(host.strip(), []).append(node.name)
    taken = {node.name for node in nodes}
    shown = {node.name: node.name for node in nodes}
    for host, names in reported.items():
        if len(names) == 1 and host not in taken:
            shown[names[0]] = host
    return shown


def _row(r: sqlite3.Row) -> Node:
    inv = None
    if r["inventory"]:
        try:
            inv = json.loads(r["inventory"])
        except ValueError:
            inv = None
    return Node(
        r["name"], r["address"], r["port"], r["user"], r["identity"], NodeState(r["state"]),
        bool(r["enabled"]), inv, r["banner"], r["added"], r["last_seen"], r["last_error"],
    )


class Registry:
    def __init__(self, path: Optional[Path] = None) -> None:
        self.path = path or paths.registry_db()
        paths.touch_private(self.path)
        with self._db() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        try:
            db = sqlite3.connect(self.path, timeout=10)
        except sqlite3.Error as exc:
            raise FarmhandError(f"cannot open the node registry {self.path}: {exc}") from exc
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA journal_mode=WAL")
            with db:  # one transaction: committed on success, rolled back on any error
                yield db
        except sqlite3.DatabaseError as exc:
            raise FarmhandError(f"node registry {self.path} is unusable ({exc}); move it aside") from exc
        finally:
            db.close()

    # ------------------------------------------------------------------ reading
    def list(self, *, enabled: Optional[bool] = None, state: Optional[NodeState] = None) -> list[Node]:
        query = "SELECT * FROM nodes WHERE 1=1"
        args: list[object] = []
        if enabled is not None:
            query += " AND enabled = ?"
            args.append(int(enabled))
        if state is not None:
            query += " AND state = ?"
            args.append(state.value)
        with self._db() as db:
            return [_row(r) for r in db.execute(query + " ORDER BY name", args)]

    def find(self, name: str) -> Optional[Node]:
        with self._db() as db:
            r = db.execute("SELECT * FROM nodes WHERE name = ?", (name,)).fetchone()
            if r is None:
                r = db.execute("SELECT * FROM nodes WHERE address = ? ORDER BY name", (name,)).fetchone()
        if r is not None:
            return _row(r)
        nodes = self.list()  # the host name a scanned node is shown by (display_names)
        matches = [n for n in nodes if display_names(nodes)[n.name] == name]
        return matches[0] if len(matches) == 1 else None

    def get(self, name: str) -> Node:
        node = self.find(name)
        if node is None:
            raise NotFound(f"no node named '{name}' in the registry: see 'farmhand nodes list', or add it "
                           f"with 'farmhand nodes add {name}'")
        return node

    # ------------------------------------------------------------------ writing
    def add(
        self,
        name: str,
        address: Optional[str] = None,
        *,
        port: Optional[int] = None,
        user: Optional[str] = None,
        identity: Optional[str] = None,
        state: NodeState = NodeState.TRUSTED,
    ) -> Node:
        """Add a node, or update the given fields of an existing one (state never goes back to discovered)."""
        if not name or any(c.isspace() for c in name) or name.startswith("-"):
            raise UsageError(f"invalid node name {name!r}: use a host name, alias or address")
        if port is not None and not 0 < port < 65536:
            raise UsageError(f"invalid port {port}: use 1-65535")
        now = time.time()
        with self._db() as db:
            old = db.execute("SELECT * FROM nodes WHERE name = ?", (name,)).fetchone()
            if old is None and address and address != name:
                # A scan recorded this machine under its address: give that record the new name
                # rather than keeping two entries for one node.
                placeholder = db.execute(
                    "SELECT * FROM nodes WHERE name = ? AND address = ?", (address, address)
                ).fetchone()
                if placeholder is not None:
                    db.execute("UPDATE nodes SET name = ? WHERE name = ?", (name, address))
                    db.execute("UPDATE node_tags SET node = ? WHERE node = ?", (name, address))
                    old = db.execute("SELECT * FROM nodes WHERE name = ?", (name,)).fetchone()
            if old is None:
                db.execute(
                    "INSERT INTO nodes (name, address, port, user, identity, state, enabled, added) "
                    "VALUES (?, ?, ?, ?, ?, ?, 1, ?)",
                    (name, address or name, port, user, identity, state.value, now),
                )
            else:
                new_state = NodeState.TRUSTED if NodeState.TRUSTED.value in (old["state"], state.value) \
                    else NodeState.DISCOVERED
                db.execute(
                    "UPDATE nodes SET address = ?, port = COALESCE(?, port), user = COALESCE(?, user), "
                    "identity = COALESCE(?, identity), state = ? WHERE name = ?",
                    (address or old["address"], port, user, identity, new_state.value, name),
                )
        return self.get(name)

    def record_discovered(self, address: str, banner: Optional[str] = None) -> Node:
        """A scan found SSH at ``address``: add it as discovered, or refresh the known node's banner."""
        now = time.time()
        with self._db() as db:
            r = db.execute(
                "SELECT name FROM nodes WHERE address = ? OR name = ?", (address, address)
            ).fetchone()
            if r is None:
                db.execute(
                    "INSERT INTO nodes (name, address, state, enabled, banner, added, last_seen) "
                    "VALUES (?, ?, ?, 1, ?, ?, ?)",
                    (address, address, NodeState.DISCOVERED.value, banner, now, now),
                )
                name = address
            else:
                name = r["name"]
                db.execute("UPDATE nodes SET banner = ?, last_seen = ? WHERE name = ?", (banner, now, name))
        return self.get(name)

    def _update(self, name: str, sql: str, *args: object) -> Node:
        node = self.get(name)
        with self._db() as db:
            # ``sql`` is always one of this module's literal SET clauses; values are bound parameters.
            db.execute(f"UPDATE nodes SET {sql} WHERE name = ?", (*args, node.name))  # noqa: S608
        return self.get(node.name)

    def remove(self, name: str) -> Node:
        node = self.get(name)
        with self._db() as db:
            db.execute("DELETE FROM nodes WHERE name = ?", (node.name,))
            db.execute("DELETE FROM node_tags WHERE node = ?", (node.name,))
        return node

    def tag(self, name: str, tags: Iterable[str], *, remove: bool = False) -> Node:
        """Give the node these tags (checked by :func:`farmhand.labels.tag`), or take them away."""
        from farmhand import labels

        node, checked = self.get(name), [labels.tag(t) for t in tags]
        sql = "DELETE FROM node_tags WHERE node = ? AND tag = ?" if remove else \
            "INSERT OR IGNORE INTO node_tags (node, tag) VALUES (?, ?)"
        with self._db() as db:
            db.executemany(sql, [(node.name, t) for t in checked])
        return node

    def manual_tags(self) -> dict[str, tuple[str, ...]]:
        """The tags given by hand, by node name (tags read from the inventory: farmhand.nodes.tags)."""
        out: dict[str, tuple[str, ...]] = {}
        with self._db() as db:
            for r in db.execute("SELECT node, tag FROM node_tags ORDER BY node, tag"):
                out[r["node"]] = (*out.get(r["node"], ()), r["tag"])
        return out

    def set_enabled(self, name: str, enabled: bool) -> Node:
        return self._update(name, "enabled = ?", int(enabled))

    def set_state(self, name: str, state: NodeState) -> Node:
        return self._update(name, "state = ?", state.value)

    def record_inventory(self, name: str, inventory: dict[str, Any]) -> Node:
        return self._update(name, "inventory = ?, last_seen = ?, last_error = NULL",
                            json.dumps(inventory, sort_keys=True), time.time())

    def record_error(self, name: str, message: Optional[str]) -> Node:
        """Note why the last action on the node failed (None clears the note)."""
        return self._update(name, "last_error = ?", message)

    # ------------------------------------------------------------------ connecting
    def target(self, name: str) -> Target:
        """How to reach a node: recorded values, else ~/.ssh/config, else defaults. Unknown names are
        resolved through ~/.ssh/config alone (so a new node can be probed before it is added)."""
        from farmhand.ssh.target import resolve

        node = self.find(name)
        if node is None:
            return resolve(name)
        hostname = None if node.address == node.name else node.address
        return resolve(node.name, user=node.user, port=node.port, identity=node.identity, hostname=hostname)

    def executor(self, **kwargs: Any) -> SSHExecutor:
        from farmhand.ssh import SSHExecutor

        return SSHExecutor(resolve=self.target, **kwargs)
