"""Fixtures for the team-farm tests, against a real PostgreSQL server (Debian's ``postgresql`` package).

* ``pg_cluster`` (session): one throwaway :class:`farmhand.lab.pgcluster.PgCluster` for the run.
* ``farm_db`` (function): a fresh database on it, migrated to the latest schema, dropped after the test;
  ``farm_db.admin()`` connects as the superuser, ``farm_db.user(FarmRole.ARTIST)`` creates a login role
  (unique name, random password) and returns its :class:`User` with a URL to the database.
* ``make_cluster`` (function): a private cluster for tests that stop or restart the server.

Roles are cluster-wide, so every role a test creates has a random suffix and is dropped after it.
No test skips: without the server binaries or psycopg they fail with what to install.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import psycopg
import pytest

from farmhand.engine.pg import roles, schema
from farmhand.engine.pg.roles import FarmRole
from farmhand.lab.pgcluster import PgCluster


def _cluster(**kwargs: Any) -> PgCluster:
    try:
        cluster = PgCluster(**kwargs)
        cluster.start()
    except RuntimeError as exc:
        pytest.fail(f"PostgreSQL test cluster cannot start: {exc}", pytrace=False)
    return cluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = _cluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def make_cluster() -> Iterator[Callable[..., PgCluster]]:
    made: list[PgCluster] = []

    def make(**kwargs: Any) -> PgCluster:
        made.append(_cluster(**kwargs))
        return made[-1]

    yield make
    for cluster in made:
        cluster.stop()


@dataclass(frozen=True)
class User:
    name: str
    password: str
    url: str


@dataclass
class FarmDb:
    """One migrated farm database on a cluster, and the roles made for it."""

    cluster: PgCluster
    name: str
    users: list[str] = field(default_factory=list)

    @property
    def admin_url(self) -> str:
        return self.cluster.url(database=self.name)

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.admin_url, autocommit=True)

    def user(self, role: FarmRole, stem: str = "user") -> User:
        name = f"{stem}_{secrets.token_hex(3)}"
        password = secrets.token_urlsafe(12) + "@:/'%"  # characters a URL and SQL must both survive
        with self.admin() as conn:
            roles.add_user(conn, name, role, password)
        self.users.append(name)
        return User(name, password, self.cluster.url(name, password, self.name))

    def drop(self) -> None:
        self.cluster.drop_database(self.name)
        for name in self.users:
            self.cluster.sql(f'DROP ROLE IF EXISTS "{name}";')


def make_farm_db(cluster: PgCluster) -> FarmDb:
    db = FarmDb(cluster, cluster.create_database(f"farm_{secrets.token_hex(4)}"))
    with db.admin() as conn:
        schema.migrate(conn)
    return db


@pytest.fixture
def farm_db(pg_cluster: PgCluster) -> Iterator[FarmDb]:
    db = make_farm_db(pg_cluster)
    yield db
    db.drop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/pg needs a real PostgreSQL server: marked ``pg`` so a fast loop can leave
    them out (``-m "not lab and not pg"``)."""
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.pg)
