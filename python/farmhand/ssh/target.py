"""Where and as whom to connect: a host name resolved through ``~/.ssh/config``.

Command-line values win over the config file, which wins over defaults (port 22, the local user name).
Only the keys that matter to Farmhand are read: HostName, User, Port, IdentityFile, ProxyCommand,
ProxyJump. Without an IdentityFile, OpenSSH's default keys (``~/.ssh/id_ed25519`` …) that exist are
offered, as ``ssh`` does. ``ForwardAgent`` is deliberately ignored: Farmhand never forwards the agent.
"""

from __future__ import annotations

import getpass
import logging
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

import paramiko

from farmhand.errors import ConfigError

log = logging.getLogger(__name__)

#: The keys ``ssh`` tries when no IdentityFile is configured (security-key types left out: paramiko
#: cannot use them).
DEFAULT_IDENTITIES = ("~/.ssh/id_rsa", "~/.ssh/id_ecdsa", "~/.ssh/id_ed25519")


@dataclass(frozen=True)
class Target:
    """A resolved SSH destination.

    Attributes:
        name: what the user called the node (alias, name or address); used in every message.
        hostname: the address or DNS name actually connected to.
        identity_files: keys to offer, in order (explicit ``--identity`` alone when given).
        explicit_identity: True when the identity came from the command line / registry, in which case
            the agent is not consulted (one key, no blind key-spraying against PerSourcePenalties).
    """

    name: str
    hostname: str
    port: int = 22
    user: str = ""
    identity_files: tuple[str, ...] = ()
    explicit_identity: bool = False
    proxy_command: Optional[str] = None
    proxy_jump: Optional[str] = None

    @property
    def host_key_name(self) -> str:
        """The known_hosts name for this destination (OpenSSH's ``[host]:port`` off port 22)."""
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"

    @property
    def destination(self) -> tuple[str, int]:
        return (self.hostname, self.port)


def default_config_path() -> Path:
    return Path(os.path.expanduser("~/.ssh/config"))


def load_config(path: Optional[Path] = None) -> paramiko.SSHConfig:
    path = path or default_config_path()
    if not path.exists():
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(str(path))
    except (OSError, ValueError, paramiko.ConfigParseError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}; fix the file or move it aside") from exc


def resolve(
    name: str,
    *,
    user: Optional[str] = None,
    port: Optional[int] = None,
    identity: Optional[str] = None,
    hostname: Optional[str] = None,
    config: Optional[paramiko.SSHConfig] = None,
) -> Target:
    """Resolve ``name`` through the ssh config; explicit arguments override it."""
    cfg = (config if config is not None else load_config()).lookup(name)
    try:
        cfg_port = int(cfg.get("port", 22))
    except ValueError as exc:
        raise ConfigError(f"~/.ssh/config: Port for {name} is not a number: {cfg.get('port')}") from exc
    target = Target(
        name=name,
        hostname=hostname or str(cfg.get("hostname", name)),
        port=port if port is not None else cfg_port,
        user=user or str(cfg.get("user") or getpass.getuser()),
        identity_files=_identity_files(cfg.get("identityfile")),
        proxy_command=_none_if_off(cfg.get("proxycommand")),
        proxy_jump=_none_if_off(cfg.get("proxyjump")),
    )
    if identity:
        target = replace(target, identity_files=(os.path.expanduser(identity),), explicit_identity=True)
    return target


def _identity_files(configured: object) -> tuple[str, ...]:
    if isinstance(configured, list) and configured:
        return tuple(os.path.expanduser(str(p)) for p in configured)
    defaults = (os.path.expanduser(p) for p in DEFAULT_IDENTITIES)
    return tuple(p for p in defaults if os.path.isfile(p))


def parse_jump(spec: str) -> tuple[Optional[str], str, Optional[int]]:
    """``[user@]host[:port]`` (the first hop of a ProxyJump list) → (user, host, port)."""
    first = spec.split(",")[0].strip()
    user: Optional[str] = None
    if "@" in first:
        user, first = first.rsplit("@", 1)
    port: Optional[int] = None
    if first.startswith("["):
        host, _, rest = first[1:].partition("]")
        if rest.startswith(":"):
            port = int(rest[1:])
    elif first.count(":") == 1:
        host, p = first.split(":")
        port = int(p)
    else:
        host = first
    return user, host, port


def _none_if_off(value: object) -> Optional[str]:
    if value is None:
        return None
    text = str(value)
    return None if text.lower() == "none" else text
