"""Where Farmhand keeps its state.

Everything lives under ``FARMHAND_HOME``; by default a per-user data directory
(``$XDG_DATA_HOME/farmhand`` on Linux, ``~/Library/Application Support/Farmhand`` on macOS,
``%APPDATA%\\Farmhand`` on Windows). Files that hold hosts or keys are created mode 0600.
"""

from __future__ import annotations

import os
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
        path = Path(os.environ.get("APPDATA", str(Path.home()))) / "Farmhand"
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
