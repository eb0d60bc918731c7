"""The dispatcher as an operating-system process: one per ``FARMHAND_HOME``, found through a lock file.

The running dispatcher holds an exclusive ``flock`` on ``FARMHAND_HOME/dispatcher.lock`` for its whole
life and writes its pid into it. The kernel drops the lock when the process dies (even by SIGKILL), so
"is it running?" is "can I take the lock?", with no stale pid files to clean up. ``ensure_running`` starts
a detached dispatcher (own session, stdio to ``logs/dispatcher.log``) so it outlives the terminal or
Houdini session that submitted the job.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, Callable, Optional, cast

from farmhand import paths
from farmhand.engine import settings
from farmhand.engine.hooks import parse_settings as parse_notify
from farmhand.engine.settings import Settings
from farmhand.engine.store import Store
from farmhand.engine.store.backend import open_store, store_url
from farmhand.errors import ConfigError, FarmhandError
from farmhand.jobs import DispatcherInfo

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; fall back to the pid check below.
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

START_TIMEOUT = 10.0
#: The dispatcher's own log rotates at this size, keeping this many old parts.
LOG_BYTES = 10 * 1024 * 1024
LOG_PARTS = 3
#: A detached dispatcher's stdout/stderr (what escapes logging: a crash at import, a fault dump) goes
#: here; it is rotated at each start once it is larger than this.
STDERR_BYTES = 1024 * 1024
#: Set in a detached dispatcher's environment: its log goes to the rotating file only.
DETACHED_ENV = "FARMHAND_DISPATCHER_DETACHED"


def lock_path() -> Path:
    return paths.home() / "dispatcher.lock"


class DispatcherLock:
    """Held by the running dispatcher; ``acquire`` fails if another one holds it."""

    def __init__(self) -> None:
        self.path = lock_path()
        self.fh: Optional[IO[str]] = None

    def acquire(self) -> bool:
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the dispatcher's life
        os.chmod(self.path, 0o600)
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                return False
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n{time.time()}\n")
        fh.flush()
        self.fh = fh
        return True

    def release(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def running() -> bool:
    """True when some process holds this home's dispatcher lock."""
    path = lock_path()
    if not path.exists():
        return False
    if fcntl is None:
        return _pid_alive(_read_pid(path))
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return False


def pid() -> Optional[int]:
    return _read_pid(lock_path()) if running() else None


def _read_pid(path: Path) -> Optional[int]:
    try:
        return int(path.read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _pid_alive(value: Optional[int]) -> bool:
    if value is None:
        return False
    try:
        os.kill(value, 0)
    except OSError:
        return False
    return True


def python_for_dispatcher() -> str:
    """A Python that can run ``-m farmhand``: ``FARMHAND_PYTHON``, this interpreter, or ``python3``.

    Inside Houdini ``sys.executable`` is the Houdini binary, not a Python, so it is only used when its
    name says it is one (``python3.11``). hython is avoided on purpose: it would hold a Houdini licence
    for as long as the dispatcher runs.
    """
    env = os.environ.get("FARMHAND_PYTHON")
    if env:
        return env
    name = Path(sys.executable).name.lower()
    if name.startswith("python"):
        return sys.executable
    # Inside Houdini: prefer the checkout's own virtualenv (it has paramiko), then any python3.
    venv = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "python"
    if venv.exists():
        return str(venv)
    return shutil.which("python3") or "python3"


def dispatcher_pythonpath(python: str, package_root: str, inherited: str) -> str:
    """``PYTHONPATH`` for a dispatcher run by ``python``: Farmhand's package root, then this process's
    ``PYTHONPATH`` only when ``python`` is this Python's version. Inside Houdini that path holds packages
    built for Houdini's Python (paramiko's compiled dependencies among them), which another version must
    not load; such a dispatcher finds its own (a virtualenv's) instead.

    Raises:
        OSError: ``python`` cannot be run.
    """
    mine = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if inherited:
        theirs = _version_of(python)
        if theirs != mine:
            log.warning("the dispatcher runs under %s (Python %s), not Python %s: it is started without "
                        "this process's PYTHONPATH, whose packages are for Python %s", python,
                        theirs or "of unknown version", mine, mine)
            inherited = ""
    return os.pathsep.join(p for p in (package_root, inherited) if p)


def _version_of(python: str) -> str:
    """``python``'s ``X.Y``, or "" when it does not say (asked in isolated mode: no PYTHONPATH, no site)."""
    if os.path.realpath(python) == os.path.realpath(sys.executable):
        return f"{sys.version_info[0]}.{sys.version_info[1]}"
    try:
        done = subprocess.run([python, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return ""
    text = done.stdout.strip()
    return text if done.returncode == 0 and re.fullmatch(r"\d+\.\d+", text) else ""


def ensure_running() -> None:
    """Start a detached dispatcher for this FARMHAND_HOME unless one is running; wait until it is."""
    if running():
        return
    load_settings()  # a broken dispatcher.json: say what is wrong here, not only in the detached log
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["FARMHAND_HOME"] = str(paths.home())
    python = python_for_dispatcher()
    env["PYTHONPATH"] = dispatcher_pythonpath(python, package_root, env.get("PYTHONPATH", ""))
    env[DETACHED_ENV] = "1"
    logfile = paths.logs_dir() / "dispatcher.log"
    errfile = _fresh(paths.logs_dir() / "dispatcher.stderr")
    with open(errfile, "ab") as out:
        kwargs: dict[str, Any] = {"start_new_session": True} if os.name == "posix" else {}
        proc = subprocess.Popen(
            [python, "-m", "farmhand", "-v", "dispatcher", "--quiet-if-running"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            close_fds=True,
            **kwargs,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if running():
            log.info("started dispatcher pid %s", proc.pid)
            return
        if proc.poll() is not None and not running():
            break
        time.sleep(0.02)
    why = _last_line(errfile)
    raise FarmhandError(
        f"the dispatcher did not start{': ' + why if why else ''}; see {logfile} and {errfile} "
        "(or run 'farmhand dispatcher' to see why)"
    )


def _fresh(path: Path) -> Path:
    """``path``, its old content moved to ``<name>.1`` once it is larger than :data:`STDERR_BYTES`."""
    try:
        if path.stat().st_size > STDERR_BYTES:
            path.replace(path.with_name(path.name + ".1"))
    except OSError:
        pass
    return path


def _last_line(path: Path) -> str:
    """The last non-empty line of a small text file (what a failed start said), or ""."""
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 4096))
            lines = [ln for ln in fh.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    from farmhand.presets.lines import one_line

    return one_line(lines[-1], 300) if lines else ""


def log_to_file() -> logging.Handler:
    """Send this process's log to ``logs/dispatcher.log``, rotated at :data:`LOG_BYTES`. A detached
    dispatcher logs only there (its stderr is kept for what escapes logging)."""
    handler = logging.handlers.RotatingFileHandler(
        paths.logs_dir() / "dispatcher.log", maxBytes=LOG_BYTES, backupCount=LOG_PARTS, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    if os.environ.get(DETACHED_ENV) == "1":
        for old in [h for h in root.handlers if type(h) is logging.StreamHandler]:
            root.removeHandler(old)
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    return handler


def info(store: Store) -> DispatcherInfo:
    started = store.meta("dispatcher_started")
    beat = store.meta("dispatcher_heartbeat")
    return DispatcherInfo(
        pid=pid(),
        running=running(),
        home=str(paths.home()),
        started=float(started) if started else None,
        heartbeat=float(beat) if beat else None,
    )


def registry_nodes(registry: Any) -> Callable[[], list[Any]]:
    """A node source for the dispatcher: the registry's trusted, enabled nodes with their inventory."""
    from farmhand.engine.state import FarmNode
    from farmhand.nodes.registry import NodeState
    from farmhand.nodes.tags import node_tags

    def nodes() -> list[Any]:
        out = []
        manual = registry.manual_tags()
        for node in registry.list(enabled=True, state=NodeState.TRUSTED):
            inv = node.inventory or {}
            cores = int(inv.get("cpus_logical") or inv.get("cpus_physical") or 1)
            houdini = tuple(
                (str(h.get("version", "")), str(h.get("path", ""))) for h in inv.get("houdini") or ()
            )
            tags = node_tags(node.inventory, manual.get(node.name, ()))
            out.append(FarmNode(node.name, max(cores, 1), houdini, tags))
        return out

    return nodes


def settings_path() -> Path:
    return paths.home() / "dispatcher.json"


def load_settings() -> Settings:
    """The thresholds of ``FARMHAND_HOME/dispatcher.json`` (see :mod:`farmhand.engine.settings`).

    Raises:
        ConfigError: the file, a key or a value is invalid (one line naming it).
    """
    path = settings_path()
    found = settings.load_settings(path)
    parse_notify(path, settings.read(path).get("notify"))  # checked here; the dispatcher's Aftercare reads it
    return found


#: How often a running dispatcher checks that its job store still exists.
HOME_CHECK_SECONDS = 2.0


def _stop_when_removed(store_path: Path, stop: Any) -> None:
    """Stop the dispatcher once its FARMHAND_HOME (job store) was deleted: nothing is left to dispatch,
    and a dispatcher serving a deleted home would otherwise run, unreachable, until the machine reboots."""
    while not stop.wait(HOME_CHECK_SECONDS):
        if not store_path.exists():
            log.warning("%s was removed: stopping", store_path)
            stop.set()
            return


def dispatcher_id(pid: int) -> str:
    """How the dispatcher of process ``pid`` on this machine is known on a shared farm database."""
    return f"dispatcher:{socket.gethostname()}:{pid}"


def _open_served_store() -> tuple[Store, Any]:
    """The store this dispatcher serves (FARMHAND_STORE or SQLite) and, for a farm database, its
    membership of the farm (:mod:`farmhand.engine.team`): several dispatchers serve one database."""
    me = dispatcher_id(os.getpid())
    store = open_store(writer=me)
    if store_url() is None:
        return store, None
    from farmhand.engine.pg.store import PgStore, check_dispatcher_role
    from farmhand.engine.pg.team import PgTeam

    try:
        check_dispatcher_role(cast(PgStore, store))
        return store, PgTeam(cast(PgStore, store), me, lease_seconds())
    except BaseException:
        store.close()
        raise


def lease_seconds() -> float:
    """How long a node lease of a shared farm lasts without renewal: ``FARMHAND_LEASE_SECONDS``
    (at least 1), else 15 s. Another dispatcher adopts a dead one's nodes this long after it stopped."""
    from farmhand.engine.team import LEASE_SECONDS

    given = os.environ.get("FARMHAND_LEASE_SECONDS", "").strip()
    if not given:
        return LEASE_SECONDS
    try:
        value = float(given)
    except ValueError:
        value = 0.0
    if not 1.0 <= value <= 3600.0:
        raise ConfigError(f"FARMHAND_LEASE_SECONDS={given!r}: give seconds between 1 and 3600")
    return value


def serve(*, quiet_if_running: bool = False) -> int:
    """Run the dispatcher of this FARMHAND_HOME in this process until SIGTERM/SIGINT or a stop command."""
    import signal
    import threading

    from farmhand.engine.dispatcher import Dispatcher
    from farmhand.nodes.registry import Registry

    lock = DispatcherLock()
    if not lock.acquire():
        if not quiet_if_running:
            raise FarmhandError(f"a dispatcher is already running for {paths.home()} (pid {pid()})")
        return 0
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        del frame
        log.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # A farm database (FARMHAND_STORE) has no file here: the home folder itself is watched then.
    watched = paths.jobs_db() if store_url() is None else paths.home()
    threading.Thread(
        target=_stop_when_removed, args=(watched, stop), name="home-watch", daemon=True
    ).start()
    handler = log_to_file()
    found = load_settings()
    registry = Registry()
    store, team = _open_served_store()
    executor = registry.executor()
    dispatcher = Dispatcher(store, executor, registry_nodes(registry), retry=found.retry, policy=found.policy,
                            verify=found.verify, retention=found.store, team=team,
                            lease_seconds=lease_seconds())
    log.info("dispatcher pid %s serving %s", os.getpid(), paths.home())
    try:
        dispatcher.run(stop)
    finally:
        close = getattr(executor, "close", None)
        if callable(close):
            close()
        store.close()
        lock.release()
        logging.getLogger().removeHandler(handler)
        handler.close()
    return 0
