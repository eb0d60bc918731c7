"""The dispatcher as an operating-system process: one per ``FARMHAND_HOME``, found through a lock file.

The running dispatcher holds an exclusive ``flock`` on ``FARMHAND_HOME/dispatcher.lock`` for its whole
life and writes its pid into it. The kernel drops the lock when the process dies (even by SIGKILL), so
"is it running?" is "can I take the lock?", with no stale pid files to clean up. ``ensure_running`` starts
a detached dispatcher (own session, stdio to ``logs/dispatcher.log``) so it outlives the terminal or
Houdini session that submitted the job.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any, Callable, Optional, TypeVar

from farmhand import paths
from farmhand.engine.hooks import parse_settings as parse_notify
from farmhand.engine.scheduler import Policy
from farmhand.engine.store import Store
from farmhand.errors import ConfigError, FarmhandError
from farmhand.jobs import DispatcherInfo, Retry

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; fall back to the pid check below.
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

START_TIMEOUT = 10.0


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


def ensure_running() -> None:
    """Start a detached dispatcher for this FARMHAND_HOME unless one is running; wait until it is."""
    if running():
        return
    load_settings()  # a broken dispatcher.json: say what is wrong here, not only in the detached log
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["FARMHAND_HOME"] = str(paths.home())
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    logfile = paths.logs_dir() / "dispatcher.log"
    with open(logfile, "ab") as out:
        kwargs: dict[str, Any] = {"start_new_session": True} if os.name == "posix" else {}
        proc = subprocess.Popen(
            [python_for_dispatcher(), "-m", "farmhand", "-v", "dispatcher", "--quiet-if-running"],
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
    raise FarmhandError(
        f"the dispatcher did not start; see {logfile} (or run 'farmhand dispatcher' to see why)"
    )


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


def load_settings() -> tuple[Retry, Policy]:
    """Retry and scheduling thresholds from ``FARMHAND_HOME/dispatcher.json`` (all keys optional)::

    {"retry": {"max_attempts": 4, "stall_floor": 120, ...}, "policy": {"target_chunk_seconds": 180, ...}}
    """
    path = settings_path()
    if not path.exists():
        return Retry(), Policy()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); see docs/jobs.md#thresholds") from None
    if not isinstance(data, dict) or set(data) - {"retry", "policy", "notify"}:
        raise ConfigError(f"{path}: write an object with the keys 'retry' and/or 'policy' (and 'notify'); "
                          "see docs/jobs.md#thresholds")
    parse_notify(path, data.get("notify"))  # checked here; the dispatcher's Aftercare reads it
    return _settings(path, "retry", Retry, data.get("retry", {})), \
        _settings(path, "policy", Policy, data.get("policy", {}))


_T = TypeVar("_T", Retry, Policy)


def _settings(path: Path, section: str, cls: type[_T], values: Any) -> _T:
    """``cls`` from a JSON object: known keys only, each a number >= 0 (a whole number >= 1 for counts),
    so a typo or a string fails here in one line instead of inside a running dispatcher."""
    fields = {f.name: f.type for f in dataclasses.fields(cls)}
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: '{section}' must be an object of {', '.join(fields)}")
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"{path}: {section}.{key} is not a setting; use one of {', '.join(fields)}")
        whole = fields[key] in (int, "int")
        least = 1 if whole else 0
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)) or value < least:
            kind = "a whole number" if whole else "a number"
            raise ConfigError(f"{path}: {section}.{key} must be {kind} >= {least}, not {json.dumps(value)}")
    return cls(**values)


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
    threading.Thread(
        target=_stop_when_removed, args=(paths.jobs_db(), stop), name="home-watch", daemon=True
    ).start()
    retry, policy = load_settings()
    registry = Registry()
    store = Store()
    executor = registry.executor()
    dispatcher = Dispatcher(store, executor, registry_nodes(registry), retry=retry, policy=policy)
    log.info("dispatcher pid %s serving %s", os.getpid(), paths.home())
    try:
        dispatcher.run(stop)
    finally:
        close = getattr(executor, "close", None)
        if callable(close):
            close()
        store.close()
        lock.release()
    return 0
