"""Where and as whom to connect: a host name resolved through the ssh configuration.

Command-line values win over the config file, which wins over defaults (port 22, the local user name).
The configuration is resolved as OpenSSH resolves it (:mod:`farmhand.ssh.sshconfig`: ``ssh -G``, so
``Include`` and ``Match`` count). Only the keys that matter to Farmhand are read: HostName, User, Port,
IdentityFile, ProxyCommand, ProxyJump. Without an IdentityFile, OpenSSH's default keys
(``~/.ssh/id_ed25519`` …) that exist are offered, as ``ssh`` does. ``ForwardAgent`` is deliberately
ignored: Farmhand never forwards the agent.
"""

from __future__ import annotations

import getpass
import logging
import os
from dataclasses import dataclass, replace
from typing import NamedTuple, Optional

from farmhand.errors import ConfigError
from farmhand.ssh.quoting import printable
from farmhand.ssh.sshconfig import HostConfig, default_config_path, load_config

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


def resolve(
    name: str,
    *,
    user: Optional[str] = None,
    port: Optional[int] = None,
    identity: Optional[str] = None,
    hostname: Optional[str] = None,
    config: Optional[HostConfig] = None,
) -> Target:
    """Resolve ``name`` through the ssh config; explicit arguments override it."""
    cfg = (config if config is not None else load_config()).lookup(name)
    try:
        cfg_port = int(cfg.get("port", 22))
    except ValueError as exc:
        raise ConfigError(f"ssh configuration: Port for {printable(name)} is not a number: "
                          f"{printable(str(cfg.get('port')))}") from exc
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


class Hop(NamedTuple):
    """One ProxyJump hop: ``[user@]host[:port]``; user and port None when not written."""

    user: Optional[str]
    host: str
    port: Optional[int]

    def spec(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.user + '@' if self.user else ''}{host}{':' + str(self.port) if self.port else ''}"


def parse_jumps(spec: str) -> list[Hop]:
    """A ProxyJump value (``jump1,user@jump2:2222``) → its hops, first hop first."""
    hops = [_parse_hop(part.strip(), spec) for part in spec.split(",")]
    if not hops:
        raise ConfigError("ProxyJump is empty")
    return hops


def _parse_hop(text: str, spec: str) -> Hop:
    if text.startswith("ssh://"):
        text = text[len("ssh://"):].rstrip("/")
    user: Optional[str] = None
    if "@" in text:
        user, text = text.rsplit("@", 1)
    port_text = ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    else:
        host = text
    if not host or (user is not None and not user):
        raise ConfigError(f"ProxyJump '{printable(spec)}': '{printable(text)}' is not [user@]host[:port]")
    port: Optional[int] = None
    if port_text:
        if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"ProxyJump '{printable(spec)}': bad port '{printable(port_text)}'")
        port = int(port_text)
    return Hop(user, host, port)


def _none_if_off(value: object) -> Optional[str]:
    if value is None:
        return None
    text = str(value)
    return None if text.lower() == "none" else text


__all__ = [
    "DEFAULT_IDENTITIES", "Hop", "Target", "default_config_path", "load_config", "parse_jumps", "resolve",
]
