"""Opening one authenticated paramiko Transport to a node, and translating what can go wrong.

The socket is ours: TCP_NODELAY (paramiko sets none; Nagle + delayed ACK cost ~40 ms per exchange),
keepalive and, on Linux, TCP_USER_TIMEOUT so a silently vanished node is noticed in seconds.
Before paramiko sees the socket we peek at the first bytes, so "something that is not SSH answers on
port 22" is told apart from "sshd dropped us" (MaxStartups) instead of both being a banner error.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable, Optional, Union

import paramiko

from farmhand.errors import AuthFailed, NodeError, NodeUnreachable
from farmhand.ssh.hostkeys import HostKeyStore
from farmhand.ssh.quoting import printable
from farmhand.ssh.target import Target

log = logging.getLogger(__name__)

Sock = Union[socket.socket, paramiko.Channel, paramiko.ProxyCommand]


#: What OpenSSH's sshd writes instead of its banner when it refuses a connection before the handshake.
SSHD_REFUSALS = frozenset({"Exceeded MaxStartups", "Not allowed at this time"})


class HandshakeDropped(NodeUnreachable):
    """sshd closed or reset the connection before login finished — typically its MaxStartups limit
    dropping a burst. Worth a quick retry, unlike a refusal or a timeout."""


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``dead_peer`` bounds how long unacknowledged data may wait before the node counts as gone."""

    connect: float = 5.0
    banner: float = 10.0
    auth: float = 15.0
    dead_peer: float = 5.0
    keepalive: float = 1.0


def tcp_connect(target: Target, timeouts: Timeouts) -> socket.socket:
    try:
        infos = socket.getaddrinfo(target.hostname, target.port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise NodeUnreachable(
            target.name,
            f"cannot resolve '{target.hostname}': check the name, ~/.ssh/config or use an address",
            retryable=False,
        ) from exc
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        tune(sock, timeouts)
        sock.settimeout(timeouts.connect)
        sock.connect(addr)
    except BaseException as exc:
        sock.close()
        raise translate_socket_error(target, exc, timeouts) from exc
    return sock


def tune(sock: socket.socket, timeouts: Timeouts) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for opt, value in (("TCP_KEEPIDLE", 2), ("TCP_KEEPINTVL", 1), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, opt):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), value)
    user_timeout = getattr(socket, "TCP_USER_TIMEOUT", 18 if hasattr(socket, "TCP_KEEPIDLE") else None)
    if user_timeout is not None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, user_timeout, int(timeouts.dead_peer * 1000))
        except OSError:
            log.debug("TCP_USER_TIMEOUT not supported here")


def translate_socket_error(target: Target, exc: BaseException, timeouts: Timeouts) -> NodeError:
    where = f"{target.hostname}:{target.port}"
    if isinstance(exc, ConnectionRefusedError):
        return NodeUnreachable(target.name, f"connection refused on {where}: is sshd running on the node?")
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return NodeUnreachable(
            target.name, f"no answer from {where} within {timeouts.connect:g}s: node off or firewalled"
        )
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN):
        return NodeUnreachable(
            target.name, f"{where} is unreachable ({exc.strerror}): node off or wrong address"
        )
    if isinstance(exc, (ConnectionResetError, EOFError, BrokenPipeError)):
        return HandshakeDropped(target.name, f"{where} dropped the connection: node busy or rebooting, retry")
    if isinstance(exc, OSError):
        return NodeUnreachable(target.name, f"cannot connect to {where}: {exc.strerror or exc}")
    return NodeError(target.name, f"cannot connect to {where}: {exc}")


def check_banner(target: Target, sock: socket.socket, timeouts: Timeouts) -> None:
    """Fail clearly when the peer is not an SSH server; leave the bytes for paramiko otherwise."""
    ready, _, _ = select.select([sock], [], [], timeouts.banner)
    if not ready:
        raise NodeUnreachable(
            target.name, f"{target.hostname}:{target.port} accepted but sent no SSH banner within "
            f"{timeouts.banner:g}s: sshd overloaded or not SSH"
        )
    try:
        head = sock.recv(4096, socket.MSG_PEEK)
    except OSError as exc:
        raise translate_socket_error(target, exc, timeouts) from exc
    if not head:
        raise HandshakeDropped(
            target.name, f"{target.hostname}:{target.port} closed the connection before the SSH banner "
            "(sshd MaxStartups limit or overload); retry"
        )
    if b"SSH-" not in head and b"\n" in head:
        first = head.split(b"\n", 1)[0].decode("latin-1").strip()[:60]
        if first in SSHD_REFUSALS:
            raise HandshakeDropped(
                target.name, f"{target.hostname}:{target.port} is sshd but turned us away ({first!r}: too "
                "many connections at once, or PerSourcePenalties); retry later"
            )
        raise NodeError(
            target.name, f"port {target.port} answers but not with SSH ({first!r}): wrong port, or another "
            "service on it", retryable=False,
        )


#: Host-key algorithms that verify a key recorded under another name: an RSA key is recorded as
#: ``ssh-rsa`` but must be negotiated with SHA-2 signatures (current paramiko and OpenSSH refuse SHA-1).
KEY_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256")}


def preferred_key_types(known: Sequence[str], offered: Sequence[str]) -> list[str]:
    """``offered`` reordered so the algorithms for the recorded key types come first, as OpenSSH does:
    the server then presents a key that can be checked rather than one we have never seen."""
    first: list[str] = []
    for key_type in known:
        for algorithm in KEY_ALGORITHMS.get(key_type, (key_type,)):
            if algorithm in offered and algorithm not in first:
                first.append(algorithm)
    return [*first, *(t for t in offered if t not in first)]


def start_kex(target: Target, sock: Sock, store: HostKeyStore, timeouts: Timeouts) -> paramiko.Transport:
    """Key exchange only (no login yet), asking for a host key type the store can verify. The caller
    owns (closes) the returned Transport."""
    transport = paramiko.Transport(sock)
    try:
        transport.banner_timeout = timeouts.banner
        transport.handshake_timeout = timeouts.banner
        transport.auth_timeout = timeouts.auth
        known = store.known_types(target)
        if known:
            opts = transport.get_security_options()
            opts.key_types = preferred_key_types(known, opts.key_types)
        try:
            transport.start_client(timeout=timeouts.banner)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise _kex_error(target, exc) from exc
        return transport
    except BaseException:
        transport.close()
        raise


def handshake(
    target: Target,
    sock: Sock,
    store: HostKeyStore,
    keys: Callable[[], list[paramiko.PKey]],
    timeouts: Timeouts,
    *,
    accept_new: bool = False,
) -> paramiko.Transport:
    """Key exchange, host-key verification, then public-key auth. Returns an authenticated Transport."""
    transport = start_kex(target, sock, store, timeouts)
    try:
        store.verify(target, transport.get_remote_server_key(), accept_new=accept_new)
        _authenticate(target, transport, keys)
        transport.set_keepalive(max(1, int(timeouts.keepalive)))
        return transport
    except BaseException:
        transport.close()
        raise


def _kex_error(target: Target, exc: BaseException) -> NodeError:
    text = printable(str(exc))  # paramiko quotes what the peer sent ("Indecipherable protocol version")
    if isinstance(exc, (EOFError, ConnectionResetError)) or "banner" in text.lower():
        return HandshakeDropped(
            target.name, f"SSH handshake with {target.hostname} failed ({text or 'closed'}): "
            "node busy (sshd MaxStartups) or rebooting; retry"
        )
    return NodeError(target.name, f"SSH handshake failed: {text}", retryable=True)


def _authenticate(
    target: Target, transport: paramiko.Transport, keys: Callable[[], list[paramiko.PKey]]
) -> None:
    offered = keys()
    if not offered:
        raise AuthFailed(
            target.name, f"no key to log in as {target.user}: pass --identity, set IdentityFile in "
            "~/.ssh/config, or load a key into ssh-agent"
        )
    for key in offered:
        try:
            transport.auth_publickey(target.user, key)
        except paramiko.AuthenticationException:
            continue
        except (paramiko.SSHException, EOFError, OSError) as exc:
            why = printable(str(exc)) or "closed"
            raise NodeUnreachable(target.name, f"connection lost during login: {why}") from exc
        if transport.is_authenticated():
            return
    which = ", ".join(target.identity_files) or "the ssh-agent's keys"
    raise AuthFailed(
        target.name, f"authentication failed for user '{target.user}' with {which}: add the public key to "
        "the node's ~/.ssh/authorized_keys or pass the right --identity/User"
    )


_key_cache: dict[tuple[str, int], paramiko.PKey] = {}


def _read_key(path: str) -> paramiko.PKey:
    """A private key file, parsed once per version of the file (parsing costs a few ms per connect)."""
    stamp = (path, os.stat(path).st_mtime_ns)
    key = _key_cache.get(stamp)
    if key is None:
        key = paramiko.PKey.from_path(path)
        _key_cache[stamp] = key
    return key


def load_keys(target: Target, agent: Optional[paramiko.Agent]) -> list[paramiko.PKey]:
    """Keys to offer: the explicit identity alone, else the agent's keys then the configured files.

    A passphrase-protected file is skipped (paramiko cannot ask for the passphrase) unless it is the
    explicit identity or nothing else could be offered; then the error says to use ssh-agent."""
    keys: list[paramiko.PKey] = []
    locked: Optional[str] = None
    if agent is not None and not target.explicit_identity:
        keys.extend(agent.get_keys())
    for path in target.identity_files:
        try:
            keys.append(_read_key(path))
        except FileNotFoundError as exc:
            if target.explicit_identity:
                raise AuthFailed(target.name, f"identity file {path} does not exist") from exc
            log.debug("configured identity %s missing", path)
        except (paramiko.PasswordRequiredException, TypeError):
            # PKey.from_path lets cryptography's TypeError through for an encrypted OpenSSH-format key.
            locked = locked or path
        except (paramiko.SSHException, OSError, ValueError) as exc:
            raise AuthFailed(target.name, f"cannot read key {path}: {exc}") from exc
    if locked and (target.explicit_identity or not keys):
        raise AuthFailed(target.name, f"key {locked} is passphrase-protected: load it into ssh-agent "
                         "(ssh-add)")
    return keys
