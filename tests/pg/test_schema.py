"""The PostgreSQL schema: the SQLite store's tables in PG types, migrations, and the change counter."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from tests.pg.conftest import FarmDb

from farmhand.engine.pg import schema
from farmhand.engine.store import Store
from farmhand.errors import ConfigError

# SQLite's declared types and the PostgreSQL types that may stand for them.
EQUIVALENT = {
    "INTEGER": {"bigint", "integer", "boolean"},
    "REAL": {"double precision"},
    "TEXT": {"text", "jsonb", "name"},
}


def _sqlite_columns(tmp_path: Path) -> dict[str, dict[str, str]]:
    store = Store(tmp_path / "jobs.db")
    store.close()
    db = sqlite3.connect(tmp_path / "jobs.db")
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    out = {
        t: {r[1]: r[2].upper() for r in db.execute(f"PRAGMA table_info({t})")}
        for t in tables
        if not t.startswith("sqlite_")
    }
    db.close()
    return out


def test_every_sqlite_table_and_column_exists_in_postgres(farm_db: FarmDb, tmp_path: Path) -> None:
    lite = _sqlite_columns(tmp_path)
    assert {"jobs", "frames", "chunks", "progress", "events", "commands", "meta"} <= set(lite)
    with farm_db.admin() as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'public'"
        ).fetchall()
    pg: dict[str, dict[str, str]] = {}
    for table, column, kind in rows:
        pg.setdefault(table, {})[column] = kind
    for table, columns in lite.items():
        assert table in pg, f"table {table} of the SQLite store is missing in PostgreSQL"
        for column, kind in columns.items():
            assert column in pg[table], f"{table}.{column} is missing in PostgreSQL"
            assert pg[table][column] in EQUIVALENT[kind], f"{table}.{column}: {kind} vs {pg[table][column]}"


def test_team_tables_exist(farm_db: FarmDb) -> None:
    with farm_db.admin() as conn:
        names = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
    assert {"dispatchers", "node_leases", "shares", "changes", "schema_version"} <= names


def test_migrate_is_versioned_and_idempotent(farm_db: FarmDb) -> None:
    with farm_db.admin() as conn:
        assert schema.current_version(conn) == schema.latest() == len(schema.MIGRATIONS)
        assert schema.migrate(conn) == []
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == [m.version for m in schema.MIGRATIONS]


def test_two_processes_migrating_at_once_apply_each_migration_once(pg_cluster: Any) -> None:
    name = pg_cluster.create_database("farm_race")
    url = pg_cluster.url(database=name)
    results: list[list[int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def run() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            start.wait()
            try:
                results.append(schema.migrate(conn))
            except BaseException as exc:  # reported below
                errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pg_cluster.drop_database(name)
    assert not errors
    assert sorted(results, key=len) == [[], [], [m.version for m in schema.MIGRATIONS]]


def test_a_newer_database_is_refused_in_one_line(farm_db: FarmDb) -> None:
    with farm_db.admin() as conn:
        conn.execute("INSERT INTO schema_version VALUES (%s, 'from the future', 0)", (schema.latest() + 1,))
        with pytest.raises(ConfigError) as err:
            schema.migrate(conn)
    assert "newer than this Farmhand" in err.value.message
    assert "\n" not in err.value.message


def _version(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT sum(n) FROM changes").fetchone()
    return int(row[0]) if row else 0


def test_change_counter_moves_on_commit_only_and_notifies(farm_db: FarmDb) -> None:
    with farm_db.admin() as writer, farm_db.admin() as reader:
        reader.execute("LISTEN farmhand")
        before = _version(reader)
        with writer.transaction():
            writer.execute("INSERT INTO meta VALUES ('x', '1')")  # meta is not counted
            writer.execute(
                "INSERT INTO jobs(spec, state, priority, created, updated) VALUES ('{}', 'queued', 1, 0, 0)"
            )
            assert _version(reader) == before  # not visible before the commit
        after = _version(reader)
        assert after == before + 1
        writer.execute("UPDATE jobs SET priority = 2 WHERE num = -1")  # touches no row
        assert _version(reader) == after
        tables = [n.payload for n in reader.notifies(timeout=5, stop_after=1)]
    assert tables == ["jobs"]
