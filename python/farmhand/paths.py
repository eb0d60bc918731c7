"""Where Farmhand keeps its state.

Everything lives under ``FARMHAND_HOME``; by default a per-user data directory
(``$XDG_DATA_HOME/farmhand`` on Linux, ``~/Library/Application Support/Farmhand`` on macOS,
``%LOCALAPPDATA%\\Farmhand`` on Windows: the job store is SQLite, which must not live in a roaming
profile that is copied around at log-on and log-off). Files that hold hosts or keys are created mode 0600.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path


def home() -> Path:
    """The state directory, created (mode 0700) on first use."""
    env = os.environ.get("FARMHAND_HOME")
    if env:
        path = Path(env).expanduser()
    elif sys.platform == "darwin":
        path = Path.home() / "Library" / "Application Support" / "Farmhand"
    elif sys.platform == "win32":
        path = Path(os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")) / "Farmhand"
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(base) / "farmhand"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def registry_db() -> Path:
    return home() / "nodes.sqlite"


def known_hosts() -> Path:
    return home() / "known_hosts"


def jobs_db() -> Path:
    return home() / "jobs.sqlite"


def logs_dir() -> Path:
    path = home() / "logs"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def instance_id() -> str:
    """This home's random id (12 hex digits, made once and kept in ``FARMHAND_HOME/instance-id``): it
    tells this dispatcher's processes on nodes from any other's, even another machine's home with the
    same path."""
    path = home() / "instance-id"
    for _ in range(3):
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            text = None
        except (OSError, UnicodeError):
            text = ""
        if text and len(text) == 12 and all(c in "0123456789abcdef" for c in text):
            return text
        if text is not None:
            path.unlink(missing_ok=True)  # damaged: make a new one
        # Written whole under a temporary name, then linked into place: a reader never sees it half
        # written, and of two processes creating it at once, one link wins and both read the winner.
        new = secrets.token_hex(6)
        tmp = path.with_name(f".instance-id.{os.getpid()}.{new}")
        tmp.write_text(new + "\n", encoding="ascii")
        try:
            os.link(tmp, path)
        except FileExistsError:
            continue
        finally:
            tmp.unlink(missing_ok=True)
        return new
    raise OSError(f"cannot create {path}")


def presets_dir() -> Path:
    return home() / "presets"


def touch_private(path: Path) -> Path:
    """Make sure ``path`` exists and is readable by its owner only, and return it.

    An existing file is only chmod-ed, never opened: closing any descriptor of a SQLite database
    releases every POSIX lock the process holds on it, which silently breaks other open connections.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:  # created by another process meanwhile
            pass
        else:
            os.close(fd)
    os.chmod(path, 0o600)
    return path
