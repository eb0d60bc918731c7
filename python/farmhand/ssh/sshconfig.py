"""``~/.ssh/config`` as OpenSSH resolves it: ``ssh -G HOST`` where OpenSSH's client is installed.

paramiko's parser ignores ``Include`` and only partly knows ``Match``, so a host defined in an included
file would get the wrong address and key. ``ssh -G`` prints the configuration ``ssh`` itself would use
(``Include``, ``Match host``, ``Host`` patterns, ``%h``-style tokens in ``HostName``); Farmhand reads the
keys it needs from that and expands the tokens ``ssh`` leaves for connect time (in ``ProxyCommand`` and
``IdentityFile``). Without an ``ssh`` binary, paramiko's parser is the fallback.

``ssh`` reads the configuration of the account's home directory from the password database; Farmhand
follows ``$HOME`` (as :func:`os.path.expanduser` does), so when the two differ it passes the file with
``-F`` (then ``/etc/ssh/ssh_config`` is not read, as with ``ssh -F``).
"""

from __future__ import annotations

import getpass
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Optional, Protocol

import paramiko

from farmhand.errors import ConfigError
from farmhand.ssh.quoting import printable

log = logging.getLogger(__name__)

#: What ``ssh -G`` lists when no IdentityFile is configured (OpenSSH 8.x-9.x; the set varies by version).
_DEFAULT_IDENTITY_NAMES = frozenset({"id_rsa", "id_ecdsa", "id_ecdsa_sk", "id_ed25519", "id_ed25519_sk",
                                     "id_xmss", "id_dsa"})
_WANTED = ("hostname", "user", "port", "identityfile", "proxycommand", "proxyjump")
_CACHE_SECONDS = 5.0


class HostConfig(Protocol):
    """Anything that answers ``lookup(host)`` with paramiko's keys (``identityfile`` a list, or absent
    when none is configured)."""

    def lookup(self, hostname: str) -> Any:
        ...


def default_config_path() -> Path:
    return Path(os.path.expanduser("~/.ssh/config"))


def _passwd_config_path() -> Optional[Path]:
    try:
        import pwd  # POSIX only; elsewhere ssh's home is $HOME's anyway
    except ImportError:
        return default_config_path()
    try:
        return Path(pwd.getpwuid(os.getuid()).pw_dir) / ".ssh" / "config"
    except KeyError:
        return None


class OpenSSHConfig:
    """Answers from ``ssh -G`` (cached a few seconds per host, and until the config file changes)."""

    def __init__(self, ssh: str, config_file: Optional[Path] = None) -> None:
        self.ssh = ssh
        self.config_file = config_file
        self._cache: dict[str, tuple[float, tuple[int, int], dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def lookup(self, hostname: str) -> dict[str, Any]:
        stamp = _stamp(self.config_file or default_config_path())
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(hostname)
            if hit is not None and hit[1] == stamp and now - hit[0] < _CACHE_SECONDS:
                return dict(hit[2])
        answer = self._ask(hostname)
        with self._lock:
            self._cache[hostname] = (now, stamp, answer)
        return dict(answer)

    def _ask(self, hostname: str) -> dict[str, Any]:
        if not hostname or hostname.startswith("-"):
            raise ConfigError(f"invalid host name '{printable(hostname)}'")
        argv = [self.ssh, "-G"]
        if self.config_file is not None:
            argv += ["-F", str(self.config_file) if self.config_file.exists() else os.devnull]
        try:
            proc = subprocess.run([*argv, "--", hostname], stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigError(f"cannot run '{self.ssh} -G' to read the ssh configuration: {exc}") from exc
        if proc.returncode != 0:
            lines = proc.stderr.decode("utf-8", "replace").splitlines()
            why = next((line for line in lines if "Pseudo-terminal" not in line and line.strip()), "failed")
            raise ConfigError(f"ssh configuration for '{printable(hostname)}': {printable(why)}")
        return parse_g_output(proc.stdout.decode("utf-8", "replace"), hostname)


def parse_g_output(text: str, original: str) -> dict[str, Any]:
    """``ssh -G`` lines → paramiko-style keys, with connect-time tokens expanded."""
    raw: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key in _WANTED:
            raw.setdefault(key, []).append(value.strip())
    host = raw.get("hostname", [original])[0]
    tokens = {"h": host, "n": original, "p": raw.get("port", ["22"])[0], "r": raw.get("user", [""])[0],
              "u": getpass.getuser(), "d": os.path.expanduser("~"), "l": socket.gethostname().split(".")[0],
              "%": "%"}
    out: dict[str, Any] = {"hostname": host}
    for key in ("user", "port", "proxyjump"):
        if key in raw:
            out[key] = raw[key][0]
    if "proxycommand" in raw:
        out["proxycommand"] = expand_tokens(raw["proxycommand"][0], tokens)
    files = raw.get("identityfile", [])
    if files and not _only_defaults(files):
        out["identityfile"] = [os.path.expanduser(expand_tokens(f, tokens)) for f in files]
    return out


def expand_tokens(text: str, tokens: dict[str, str]) -> str:
    """OpenSSH's ``%x`` tokens; an unknown one is left as written."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%" and i + 1 < len(text) and text[i + 1] in tokens:
            out.append(tokens[text[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _only_defaults(files: list[str]) -> bool:
    # ssh -G always prints its whole default list (5+ files) when nothing is configured.
    return len(files) >= 5 and all(f.startswith("~/.ssh/") and f[7:] in _DEFAULT_IDENTITY_NAMES
                                   for f in files)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (-1, -1)
    return (st.st_mtime_ns, st.st_size)


class ParamikoConfig:
    """The fallback: paramiko's parser over one file (no ``Include``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            self._config = paramiko.SSHConfig()
            return
        try:
            self._config = paramiko.SSHConfig.from_path(str(path))
        except (OSError, ValueError, paramiko.ConfigParseError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}; fix the file or move it aside") from exc

    def lookup(self, hostname: str) -> Any:
        try:
            return self._config.lookup(hostname)
        except (ValueError, paramiko.ConfigParseError) as exc:
            raise ConfigError(f"{self.path}: cannot resolve '{printable(hostname)}': {exc}") from exc


_shared: dict[tuple[Optional[str], Optional[Path]], OpenSSHConfig] = {}
_shared_lock = threading.Lock()


def load_config(path: Optional[Path] = None, *, ssh: Optional[str] = "auto") -> HostConfig:
    """How host names resolve: ``ssh -G`` (``ssh="auto"``: the ``ssh`` on PATH, if any; or a path), else
    paramiko's parser of ``path`` (default ``~/.ssh/config``). ``ssh=None`` forces the fallback."""
    binary = shutil.which("ssh") if ssh == "auto" else ssh
    own = path or default_config_path()
    if binary is None:
        return ParamikoConfig(own)
    # Without -F, ssh reads the passwd home's config (and /etc/ssh/ssh_config), which is what we want
    # only when that is the file we mean.
    config_file = None if path is None and own == _passwd_config_path() else own
    with _shared_lock:
        config = _shared.get((binary, config_file))
        if config is None:
            config = _shared[(binary, config_file)] = OpenSSHConfig(binary, config_file)
    return config
