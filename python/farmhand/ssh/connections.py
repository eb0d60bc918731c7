"""The executor's connections: one authenticated Transport per node, and the jump hosts behind them.

A node's Transport is opened lazily by the first caller (others wait for it) and reused until it dies.
At most ``handshake_cap`` handshakes run at once against one sshd, process-wide (its MaxStartups drops
bursts). A node behind ``ProxyJump a,b`` is reached through every hop in turn: ``a`` directly (or as its
own configuration says), ``b`` through ``a``, the node through ``b`` — as ``ssh -J a,b`` does. Each hop's
Transport is kept and shared by every node behind it, so reconnecting a node never reopens its jump
hosts; a hop that died is reopened on next use. A hop that is itself a node (no user or port written in
the ProxyJump) shares that node's connection.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Callable

import paramiko

from farmhand.errors import ConfigError, NodeError, NodeUnreachable
from farmhand.ssh import connect
from farmhand.ssh.hostkeys import HostKeyStore
from farmhand.ssh.target import Hop, Target, parse_jumps, resolve

log = logging.getLogger(__name__)
Resolver = Callable[[str], Target]

#: Longest ProxyJump chain followed (a longer one is almost certainly a loop in the configuration).
MAX_HOPS = 8

_caps: dict[tuple[str, int], threading.BoundedSemaphore] = {}
_caps_lock = threading.Lock()


class Conn:
    """A node's live Transport and its session slots (sshd's MaxSessions)."""

    def __init__(self, target: Target, transport: paramiko.Transport, max_sessions: int) -> None:
        self.target = target
        self.transport = transport
        self.sessions = threading.BoundedSemaphore(max_sessions)


class Connections:
    """Connections to nodes named by host name, alias or address (see the module docstring)."""

    def __init__(
        self,
        resolve: Resolver,
        host_keys: HostKeyStore,
        timeouts: connect.Timeouts,
        keys: Callable[[Target], list[paramiko.PKey]],
        *,
        accept_new: bool = False,
        handshake_cap: int = 8,
        max_sessions: int = 8,
    ) -> None:
        self.resolve = resolve
        self.host_keys = host_keys
        self.timeouts = timeouts
        self.keys = keys
        self.accept_new = accept_new
        self.handshake_cap = handshake_cap
        self.max_sessions = max_sessions
        self._conns: dict[str, Conn] = {}
        self._jumps: dict[str, paramiko.Transport] = {}  # chain spec ("a,u@b:2222") -> last hop
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._opening = threading.local()  # what this thread is opening: a ProxyJump loop is an error

    # ------------------------------------------------------------------ nodes
    def get(self, host: str) -> Conn:
        """The live connection to ``host``, connecting (once, whatever the number of callers) if needed."""
        with self._lock:
            conn = self._conns.get(host)
            if conn is not None and conn.transport.is_active():
                return conn
            lock = self._locks.setdefault(host, threading.Lock())
        with self._loop_guard(host), lock:
            with self._lock:
                conn = self._conns.get(host)
            if conn is not None and conn.transport.is_active():
                return conn
            target = self.resolve(host)
            conn = Conn(target, self.open(target), self.max_sessions)
            with self._lock:
                self._conns[host] = conn
            return conn

    @contextlib.contextmanager
    def _loop_guard(self, key: str) -> Iterator[None]:
        busy: set[str] = self._opening.__dict__.setdefault("keys", set())
        if key in busy:
            raise ConfigError(f"{key}: its ProxyJump leads back to itself; fix the ssh configuration")
        busy.add(key)
        try:
            yield
        finally:
            busy.discard(key)

    def drop(self, host: str) -> None:
        """Forget (and close) the connection to ``host``; its jump hosts stay for the reconnect."""
        with self._lock:
            conn = self._conns.pop(host, None)
        if conn is not None:
            _close_quietly(conn.transport)

    def close(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns.values()), {}
            jumps, self._jumps = list(self._jumps.values()), {}
        # Far ends first: a connection carried by a jump host says goodbye through it.
        behind = [c.transport for c in conns if c.target.proxy_jump]
        direct = [c.transport for c in conns if not c.target.proxy_jump]
        for transport in [*behind, *reversed(jumps), *direct]:
            _close_quietly(transport)

    @property
    def jump_hosts(self) -> dict[str, paramiko.Transport]:
        """The open jump-host Transports by chain, for inspection."""
        with self._lock:
            return dict(self._jumps)

    # ------------------------------------------------------------------ opening
    def _cap(self, target: Target) -> threading.BoundedSemaphore:
        # Process-wide: several executors (dispatcher, UI, probe) must not together burst one sshd.
        with _caps_lock:
            return _caps.setdefault(target.destination, threading.BoundedSemaphore(self.handshake_cap))

    def open(self, target: Target, *, depth: int = 0) -> paramiko.Transport:
        """An authenticated Transport to ``target``. A drop during the handshake (sshd's MaxStartups,
        which can still bite when other clients connect too) is retried a few times with jittered
        back-off; nothing else is."""
        for attempt in range(4):
            try:
                # The cap covers the TCP connect too: sshd counts a connection as a "startup" from accept().
                with self._cap(target):
                    sock = self.socket(target, depth=depth)
                    return connect.handshake(target, sock, self.host_keys, lambda: self.keys(target),
                                             self.timeouts, accept_new=self.accept_new)
            except connect.HandshakeDropped:
                if attempt == 3:
                    raise
                time.sleep(random.uniform(0.05, 0.2) * (attempt + 1))
        raise AssertionError("unreachable")

    def socket(self, target: Target, *, depth: int = 0) -> connect.Sock:
        """What carries the SSH connection: a ProxyCommand, a channel through the jump hosts, or TCP."""
        if target.proxy_command:
            try:
                return paramiko.ProxyCommand(target.proxy_command)
            except (paramiko.SSHException, OSError) as exc:
                raise NodeError(target.name, f"ProxyCommand failed to start: {exc}") from exc
        if target.proxy_jump:
            hops = parse_jumps(target.proxy_jump)
            gateway = self._jump(hops, depth + 1, target)
            try:
                return gateway.open_channel("direct-tcpip", target.destination, ("127.0.0.1", 0),
                                            timeout=self.timeouts.connect)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                raise NodeUnreachable(target.name, f"jump host {hops[-1].spec()} could not reach "
                                      f"{target.hostname}:{target.port}: {exc or 'refused'}") from exc
        sock = connect.tcp_connect(target, self.timeouts)
        try:
            connect.check_banner(target, sock, self.timeouts)
        except BaseException:
            sock.close()
            raise
        return sock

    def _jump(self, hops: list[Hop], depth: int, behind: Target) -> paramiko.Transport:
        """The Transport to the last of ``hops``, reached through the ones before it; kept for reuse."""
        if depth > MAX_HOPS:
            raise ConfigError(f"{behind.name}: ProxyJump chain longer than {MAX_HOPS} hops (a loop in the "
                              "ssh configuration?)")
        last = hops[-1]
        if len(hops) == 1 and last.user is None and last.port is None:
            return self.get(last.host).transport  # a node like any other: share its connection
        chain = ",".join(h.spec() for h in hops)
        with self._lock:
            lock = self._locks.setdefault(f"jump {chain}", threading.Lock())
        with self._loop_guard(f"jump {chain}"), lock:
            with self._lock:
                transport = self._jumps.get(chain)
            if transport is not None and transport.is_active():
                return transport
            target = resolve(last.host, user=last.user, port=last.port)
            if len(hops) > 1:
                # As `ssh -J a,b`: b is reached through a, whatever b's own configuration says.
                prefix = ",".join(h.spec() for h in hops[:-1])
                target = replace(target, proxy_jump=prefix, proxy_command=None)
            log.info("%s: opening jump host %s", behind.name, chain)
            transport = self.open(target, depth=depth)
            with self._lock:
                self._jumps[chain] = transport
            return transport


def _close_quietly(transport: paramiko.Transport) -> None:
    # Closing sends a last message; over a jump host that is already gone that fails, which is fine.
    try:
        transport.close()
    except (EOFError, OSError, paramiko.SSHException) as exc:
        log.debug("closing a connection that was already gone: %s", exc)
