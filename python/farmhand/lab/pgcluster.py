"""A throwaway PostgreSQL cluster for tests, benchmarks and the team-farm demo.

    from farmhand.lab.pgcluster import PgCluster
    with PgCluster() as pg:                       # initdb + postgres in a temporary directory
        pg.create_role("alice", "s3cret", member_of=["farmhand_artist"])
        pg.create_database("farm")
        url = pg.url("alice", "s3cret", "farm")   # postgresql://alice:…@127.0.0.1:PORT/farm
        pg.restart(mode="immediate")              # the "PostgreSQL restarted mid-job" fault

The server listens on a Unix socket inside the cluster directory and on 127.0.0.1 at a free port, and
asks every client for a SCRAM password (the superuser's is generated and kept in a 0600 passfile, so it
is never on a command line). PostgreSQL refuses to run as root, so when this process is root the cluster
belongs to an unprivileged system user (``postgres`` from Debian's package, or ``farmhand-pg`` created on
first use). ``fsync`` is off unless ``durable=True``: a killed server keeps every commit (the kernel has
the data), only a machine crash could lose one, which is no concern for a throwaway cluster.

Directories are named ``fh-pg-<pid>-<random>`` so a later cluster can stop and remove those of test runs
that were killed (:func:`cleanup_stale`).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import logging
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Optional
from urllib.parse import quote

from farmhand.lab.guard import alive

log = logging.getLogger(__name__)

SYSTEM_USERS = ("postgres", "farmhand-pg")  # tried in this order when running as root
_PREFIX = "fh-pg-"
_STALE = re.compile(rf"^{_PREFIX}(\d+)-[0-9a-f]{{6}}$")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_live: set[PgCluster] = set()
_live_lock = threading.Lock()


def find_bindir() -> Path:
    """The directory holding ``initdb``/``pg_ctl``: ``$FARMHAND_PG_BINDIR`` or the newest Debian one."""
    env = os.environ.get("FARMHAND_PG_BINDIR")
    candidates = [env] if env else sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True
    )
    for cand in candidates:
        if (Path(cand) / "initdb").is_file() and (Path(cand) / "pg_ctl").is_file():
            return Path(cand)
    raise RuntimeError(
        "PostgreSQL server binaries not found (looked in "
        f"{env or '/usr/lib/postgresql/*/bin'}): install Debian's 'postgresql' package (tools/setup.sh)"
    )


def ident(name: str) -> str:
    """``name`` checked as a plain lower-case SQL identifier (roles and databases we create)."""
    if not _IDENT.match(name):
        raise ValueError(f"'{name}' is not a plain identifier (a-z, 0-9, _; at most 63 characters)")
    return name


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _service_user() -> pwd.struct_passwd:
    """The unprivileged system user the cluster runs as when we are root (created if none exists)."""
    for name in SYSTEM_USERS:
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USERS[-1]],
        check=True, capture_output=True,
    )
    return pwd.getpwnam(SYSTEM_USERS[-1])


class PgCluster:
    """One PostgreSQL server in its own temporary directory. Use as a context manager (or start/stop)."""

    def __init__(
        self,
        *,
        superuser: str = "farmhand_admin",
        ssl: bool = False,
        durable: bool = False,
        bindir: Optional[Path] = None,
        parent: Optional[Path] = None,
    ) -> None:
        self.superuser = ident(superuser)
        self.ssl = ssl
        self.durable = durable
        self.bindir = bindir or find_bindir()
        self.parent = parent
        self.password = secrets.token_urlsafe(18)
        self.host = "127.0.0.1"
        self.port = 0
        self.directory = Path()
        self._owner: Optional[pwd.struct_passwd] = _service_user() if os.geteuid() == 0 else None

    def __repr__(self) -> str:  # the password stays out of reprs and logs
        return f"PgCluster({self.directory}, {self.host}:{self.port})"

    def __enter__(self) -> PgCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- paths --------------------------------------------------------------------------------------

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def socket_dir(self) -> Path:
        return self.directory / "sock"

    @property
    def log_file(self) -> Path:
        return self.directory / "postgres.log"

    @property
    def passfile(self) -> Path:
        return self.directory / "pgpass"

    # --- life cycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Create the cluster (initdb) and start the server; the superuser's password is ``password``."""
        cleanup_stale(self.parent)
        self.directory = _new_directory(self.parent or Path(tempfile.gettempdir()))
        with _live_lock:
            _live.add(self)
        try:
            self._init()
            self._start_with_free_port()
        except BaseException:
            self.stop()
            raise

    def _init(self) -> None:
        self.socket_dir.mkdir(mode=0o755)
        pwfile = self.directory / "initpw"
        pwfile.write_text(self.password + "\n")
        self._own(self.directory, self.socket_dir, pwfile)
        self.directory.chmod(0o755)  # the server user traverses it; the data directory stays 0700
        self._as_owner(
            [str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.superuser, f"--pwfile={pwfile}",
             "--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"],
        )
        pwfile.unlink()
        if self.ssl:
            self._make_certificate()
        # The passfile is read by our own psql (this user), never by the server.
        self.passfile.write_text(f"*:*:*:{self.superuser}:{self.password}\n")
        self.passfile.chmod(0o600)

    def _make_certificate(self) -> None:
        crt, key = self.data / "server.crt", self.data / "server.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             f"/CN={self.host}", "-keyout", str(key), "-out", str(crt)],
            check=True, capture_output=True,
        )
        key.chmod(0o600)
        self._own(crt, key)

    def _settings(self) -> list[str]:
        conf = {
            "listen_addresses": f"'{self.host}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "on" if self.durable else "off",
            "shared_buffers": "'32MB'",
            "ssl": "on" if self.ssl else "off",
        }
        return [f"{k} = {v}" for k, v in conf.items()]

    def _start_with_free_port(self) -> None:
        # A port found free can be taken before the server binds it: try a few.
        for attempt in range(3):
            self.port = _free_port()
            auto = self.data / "postgresql.auto.conf"
            auto.write_text("\n".join(self._settings()) + "\n")
            self._own(auto)
            try:
                self.start_server()
                return
            except RuntimeError:
                if attempt == 2 or "could not bind" not in self.log_tail():
                    raise

    def start_server(self) -> None:
        """Start the (stopped) server and wait until it accepts connections."""
        self._as_owner(
            [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log_file), "-w", "-t", "60",
             "start"],
            what="start PostgreSQL",
        )

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (clean) or ``immediate`` (like a crash: recovery on next start)."""
        if mode not in ("smart", "fast", "immediate"):
            raise ValueError(f"unknown shutdown mode '{mode}'")
        self._as_owner(
            [str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"],
            what="stop PostgreSQL",
        )

    def restart(self, mode: str = "fast") -> None:
        """Stop and start the server on the same port; every client connection is cut."""
        self.stop_server(mode)
        self.start_server()

    def running(self) -> bool:
        if not self.data.is_dir():
            return False
        done = self._as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"], check=False)
        return done.returncode == 0

    def stop(self) -> None:
        """Stop the server (crash-stop if a clean stop fails) and remove the directory."""
        with _live_lock:
            _live.discard(self)
        if self.directory == Path() or not self.directory.exists():
            return
        if self.running():
            try:
                self.stop_server("fast")
            except RuntimeError:
                self.stop_server("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def log_tail(self, size: int = 2000) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    # --- clients ------------------------------------------------------------------------------------

    def url(
        self,
        user: Optional[str] = None,
        password: Optional[str] = None,
        database: str = "postgres",
        *,
        sslmode: Optional[str] = None,
    ) -> str:
        """A ``postgresql://`` URL to ``database`` on 127.0.0.1 (the superuser's unless ``user`` given)."""
        if user is None:
            user, password = self.superuser, self.password
        auth = quote(user, safe="") + (f":{quote(password, safe='')}" if password is not None else "")
        query = f"?sslmode={sslmode}" if sslmode else ""
        return f"postgresql://{auth}@{self.host}:{self.port}/{quote(database, safe='')}{query}"

    def sql(self, statements: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the Unix socket (``psql``, the text on stdin); its output."""
        conninfo = f"host={self.socket_dir} port={self.port} user={self.superuser} dbname={ident(database)}"
        env = _clean_env()
        env["PGPASSFILE"] = str(self.passfile)
        done = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conninfo],
            input=statements, capture_output=True, text=True, env=env, check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr.strip()}")
        return done.stdout

    def create_role(
        self, name: str, password: Optional[str] = None, *, login: bool = True, member_of: Iterable[str] = ()
    ) -> None:
        """Create a role (the password goes to psql on stdin, never on a command line)."""
        opts = ["LOGIN" if login else "NOLOGIN"]
        if password is not None:
            opts.append("PASSWORD " + _literal(password))
        groups = [ident(g) for g in member_of]
        if groups:
            opts.append("IN ROLE " + ", ".join(groups))
        self.sql(f"CREATE ROLE {ident(name)} {' '.join(opts)};")

    def create_database(self, name: str, owner: Optional[str] = None) -> str:
        self.sql(f"CREATE DATABASE {ident(name)}" + (f" OWNER {ident(owner)}" if owner else "") + ";")
        return name

    def drop_database(self, name: str) -> None:
        self.sql(f"DROP DATABASE IF EXISTS {ident(name)} WITH (FORCE);")

    # --- running as the server's user ---------------------------------------------------------------

    def _own(self, *paths: Path) -> None:
        if self._owner is not None:
            for p in paths:
                os.chown(p, self._owner.pw_uid, self._owner.pw_gid)

    def _as_owner(
        self, argv: Sequence[str], *, what: str = "", check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self._owner is not None:
            kwargs = {"user": self._owner.pw_uid, "group": self._owner.pw_gid, "extra_groups": []}
        done = subprocess.run(
            list(argv), capture_output=True, text=True, cwd=self.directory, env=_clean_env(), check=False,
            **kwargs,
        )
        if check and done.returncode != 0:
            raise RuntimeError(
                f"could not {what or argv[0]}: {(done.stderr or done.stdout).strip()}\n{self.log_tail()}"
            )
        return done


def _new_directory(parent: Path) -> Path:
    while True:
        path = parent / f"{_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
            return path


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _clean_env() -> dict[str, str]:
    # A developer's PGHOST/PGDATABASE/... must not send our tools to another server.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def cleanup_stale(parent: Optional[Path] = None) -> None:
    """Stop and remove clusters left behind by processes that no longer exist (a killed test run)."""
    base = parent or Path(tempfile.gettempdir())
    for path in base.glob(f"{_PREFIX}*"):
        m = _STALE.match(path.name)
        if not m or alive(int(m.group(1))):
            continue
        log.info("removing stale PostgreSQL cluster %s", path)
        pidfile = path / "data" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pidfile.read_text().splitlines()[0]), 3)  # SIGQUIT: immediate shutdown
        shutil.rmtree(path, ignore_errors=True)


@atexit.register
def _stop_all() -> None:
    with _live_lock:
        clusters = list(_live)
    for cluster in clusters:
        cluster.stop()
