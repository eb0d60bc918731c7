"""Store URLs: checked at the edge, and their passwords never shown (messages, reprs, JSON, argv)."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from farmhand.engine.pg import url as urls
from farmhand.engine.pg.db import PgDatabase
from farmhand.errors import ConfigError, FarmhandError
from farmhand.lab.pgcluster import PgCluster

SECRET = "pa:ss@w0rd'%"
QUOTED = "pa%3Ass%40w0rd%27%25"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"postgresql://alice:{QUOTED}@db.studio:5433/farm", "postgresql://alice:***@db.studio:5433/farm"),
        ("postgres://alice:plain@db/farm?sslmode=require", "postgres://alice:***@db/farm?sslmode=require"),
        ("postgresql://alice@db/farm", "postgresql://alice@db/farm"),
        ("postgresql://db/farm?user=a&password=hunter2&sslmode=verify-full",
         "postgresql://db/farm?user=a&password=***&sslmode=verify-full"),
        ("host=db user=a password=hunter2 dbname=farm", "host=db user=a password=*** dbname=farm"),
        ("host=db password = 'it\\'s secret' dbname=farm", "host=db password = *** dbname=farm"),
        ("host=db password='it''s secret' dbname=farm", "host=db password=*** dbname=farm"),
        ("cannot reach postgresql://u:hunter2@h/x: refused", "cannot reach postgresql://u:***@h/x: refused"),
    ],
)
def test_redact_hides_every_spelling_of_a_password(text: str, expected: str) -> None:
    assert urls.redact(text) == expected


def test_parsed_url_shows_no_password_in_str_repr_or_json() -> None:
    parsed = urls.parse(f"postgresql://alice:{QUOTED}@db.studio:5433/farm?sslmode=verify-full")
    assert (parsed.user, parsed.host, parsed.port, parsed.database) == ("alice", "db.studio", 5433, "farm")
    assert parsed.sslmode == "verify-full"
    assert parsed.has_password
    assert parsed.where == "db.studio:5433/farm"
    shown = [str(parsed), repr(parsed), json.dumps(parsed.to_dict())]
    for text in shown:
        assert QUOTED not in text and "pa:ss" not in text
        assert "***" in text
    assert parsed.conninfo.endswith("sslmode=verify-full")  # libpq gets the URL as given


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        (f"mysql://alice:{QUOTED}@db/farm", "must start with postgresql://"),
        (f"postgresql://alice:{QUOTED}@db/farm?sslmode=yes-please", "sslmode 'yes-please' is not one of"),
        (f"postgresql://alice:{QUOTED}@db:notaport/farm", "is not valid"),
    ],
)
def test_bad_url_is_one_line_without_the_password(bad: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        urls.parse(bad)
    message = err.value.message
    assert says in message
    assert "\n" not in message
    assert QUOTED not in message and "***" in message


def test_wrong_password_is_one_line_without_it(farm_db: Any) -> None:
    from farmhand.engine.pg.roles import FarmRole

    user = farm_db.user(FarmRole.ARTIST)
    wrong = farm_db.cluster.url(user.name, "wr0ng@pw", farm_db.name)
    db = PgDatabase(wrong, retry_for=0)
    with pytest.raises(FarmhandError) as err:
        db.run(lambda conn: conn.execute("SELECT 1"))
    message = err.value.message
    assert "password authentication failed" in message
    assert "\n" not in message and "wr0ng" not in message
    assert not err.value.retryable  # a wrong password is not cured by waiting
    assert "wr0ng" not in repr(db)


def test_sslmode_is_honoured(make_cluster: Any) -> None:
    """``sslmode=require`` refuses a server without TLS and gets TLS from one that has it."""
    plain: PgCluster = make_cluster()
    with pytest.raises(FarmhandError, match="server does not support SSL"):
        PgDatabase(plain.url(sslmode="require"), retry_for=0).run(lambda c: c.execute("SELECT 1"))
    tls: PgCluster = make_cluster(ssl=True)
    db = PgDatabase(tls.url(sslmode="require"))
    on = db.run(lambda c: c.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone())
    assert on == (True,)
    off = PgDatabase(tls.url(sslmode="disable")).run(
        lambda c: c.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    )
    assert off == (False,)


def test_cluster_never_puts_a_password_on_a_command_line(
    pg_cluster: PgCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every process the cluster helper starts (psql, pg_ctl) gets passwords on stdin or in a file."""
    seen: list[list[str]] = []
    real = subprocess.run

    def spy(argv: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append([str(a) for a in argv])
        return real(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", spy)
    name = "argv_check"
    pg_cluster.create_role(name, SECRET)
    try:
        pg_cluster.sql("SELECT 1;")
    finally:
        pg_cluster.sql(f"DROP ROLE {name};")
    assert seen, "the spy saw no process"
    for argv in seen:
        assert not any(SECRET in a or pg_cluster.password in a for a in argv), argv
