"""``SSHExecutor``: :class:`farmhand.remote.Executor` over paramiko, one reused connection per node.

Thread-safe: connections (:mod:`farmhand.ssh.connections`) are opened lazily and shared; one channel
per command, at most ``max_sessions`` open per connection (sshd's MaxSessions, default 10).
The ssh-agent may be used to log in; it is never forwarded.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Callable, Optional

import paramiko

from farmhand.errors import FarmhandError, NodeError, NodeUnreachable
from farmhand.remote import Executor, OnLine, RemoteProcess, RunResult
from farmhand.ssh import connect
from farmhand.ssh.channel import LineSplitter, pump, result
from farmhand.ssh.connections import Conn, Connections
from farmhand.ssh.hostkeys import HostKeyInfo, HostKeyStore, info_for
from farmhand.ssh.process import SSHProcess
from farmhand.ssh.quoting import posix_join
from farmhand.ssh.target import Target, load_config, resolve

log = logging.getLogger(__name__)
Resolver = Callable[[str], Target]


class SSHExecutor:
    """Runs argv commands on nodes named by host name, alias or address.

    Args:
        resolve: maps a host name to a :class:`Target` (default: the ssh configuration plus the
            overrides below). The registry passes its own resolver so recorded user/port/identity apply.
        identity, user, port: command-line overrides used by the default resolver.
        accept_new: record unknown host keys instead of refusing (an explicit opt-in).
        use_agent: offer the ssh-agent's keys (never forwarded).
    """

    def __init__(
        self,
        *,
        resolve: Optional[Resolver] = None,
        identity: Optional[str] = None,
        user: Optional[str] = None,
        port: Optional[int] = None,
        accept_new: bool = False,
        use_agent: bool = True,
        host_keys: Optional[HostKeyStore] = None,
        timeouts: connect.Timeouts = connect.Timeouts(),  # noqa: B008 - frozen dataclass
        handshake_cap: int = 8,
        max_sessions: int = 8,
    ) -> None:
        self._resolve = resolve or self._default_resolver(identity, user, port)
        self.accept_new = accept_new
        self.host_keys = host_keys or HostKeyStore()
        self.timeouts = timeouts
        self.max_sessions = max_sessions
        self._agent = paramiko.Agent() if use_agent and os.environ.get("SSH_AUTH_SOCK") else None
        self.connections = Connections(
            self._resolve, self.host_keys, timeouts, lambda t: connect.load_keys(t, self._agent),
            accept_new=accept_new, handshake_cap=handshake_cap, max_sessions=max_sessions,
        )

    @staticmethod
    def _default_resolver(identity: Optional[str], user: Optional[str], port: Optional[int]) -> Resolver:
        config = load_config()
        return lambda host: resolve(host, user=user, port=port, identity=identity, config=config)

    # ----------------------------------------------------------------- connections
    def target(self, host: str) -> Target:
        return self._resolve(host)

    def connection(self, host: str) -> paramiko.Transport:
        """The live authenticated Transport for ``host``, connecting (once) if needed."""
        return self.connections.get(host).transport

    def drop(self, host: str) -> None:
        """Forget (and close) the connection to ``host``; the next command reconnects."""
        self.connections.drop(host)

    def close(self) -> None:
        self.connections.close()

    def __enter__(self) -> SSHExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- host keys
    def fetch_host_key(self, host: str) -> HostKeyInfo:
        """Connect just far enough to see the node's host key (no login) and describe it."""
        target = self._resolve(host)
        transport = connect.start_kex(target, self.connections.socket(target), self.host_keys, self.timeouts)
        try:
            return info_for(target, transport.get_remote_server_key())
        finally:
            transport.close()

    def trust(self, info: HostKeyInfo) -> None:
        """Record a key the user has checked (``farmhand nodes trust``); never replaces a different one."""
        self.host_keys.save(info)

    # ----------------------------------------------------------------- commands
    def _channel(self, host: str, conn: Conn) -> paramiko.Channel:
        # sshd frees a session slot only once it has seen our close, so a refusal right after another
        # channel ended is transient (MaxSessions): retry briefly before giving up.
        deadline = time.monotonic() + self.timeouts.auth
        delay = 0.02
        while True:
            try:
                return conn.transport.open_session(timeout=self.timeouts.auth)
            except paramiko.ChannelException as exc:
                if time.monotonic() + delay > deadline:
                    raise NodeError(host, f"the node refused a new session ({exc.text}): too many open "
                                    "sessions (sshd MaxSessions); retry", retryable=True) from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                self.drop(host)
                raise NodeUnreachable(
                    host, f"cannot open a session: {exc or 'connection lost'}; retry"
                ) from exc

    def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        timeout: Optional[float] = None,
        on_line: Optional[OnLine] = None,
        stdin: Optional[str] = None,
    ) -> RunResult:
        """Run ``argv`` to completion. Raises NodeError when the node cannot be reached, the connection
        is lost before the exit status arrives, or ``timeout`` passes (the channel is then closed)."""
        command = posix_join(argv)
        started = time.monotonic()
        conn, chan = self._session(host, None)
        try:
            out, err = LineSplitter("out", on_line, None), LineSplitter("err", on_line, None)
            try:
                chan.exec_command(command)
                if stdin:
                    # Written from a helper thread: a command that answers while it reads (cat) would
                    # otherwise fill our receive window while we block in sendall — a deadlock.
                    threading.Thread(target=_feed, args=(chan, stdin.encode()), daemon=True).start()
                else:
                    chan.shutdown_write()
                deadline = None if timeout is None else started + timeout
                finished = pump(chan, out, err, deadline=deadline)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                self.drop(host)
                raise NodeUnreachable(host, f"connection lost while running {argv[0]}: {exc}") from exc
            finally:
                chan.close()
        finally:
            conn.sessions.release()
        if not finished:
            raise NodeError(host, f"{argv[0]} did not finish within {timeout:g}s; stopped waiting",
                            retryable=True)
        res = result(host, command, chan, out, err, started)
        if res.exit_code is None and not conn.transport.is_active():
            self.drop(host)
            raise NodeUnreachable(host, f"connection lost while running {argv[0]}; retry")
        return res

    def _session(self, host: str, wait: Optional[float]) -> tuple[Conn, paramiko.Channel]:
        """A session slot and an open channel. A cached connection that turns out to be dead (the node
        rebooted, sshd restarted) is replaced once; nothing has run on the node at that point."""
        for attempt in (0, 1):
            conn = self.connections.get(host)
            if not conn.sessions.acquire(timeout=wait):
                raise NodeError(host, f"{self.max_sessions} sessions already open; wait for one to finish",
                                retryable=True)
            try:
                return conn, self._channel(host, conn)
            except NodeUnreachable:
                conn.sessions.release()
                if attempt:
                    raise
                log.info("%s: cached connection was dead; reconnecting", host)
        raise AssertionError("unreachable")

    def start(self, host: str, argv: Sequence[str], *, on_line: OnLine, watchdog: bool = True) -> SSHProcess:
        conn, chan = self._session(host, self.timeouts.auth)
        try:
            proc = SSHProcess(host, argv, chan, on_line, watchdog, conn.sessions.release)
        except BaseException:
            conn.sessions.release()
            raise
        return proc

    def kill_group(self, host: str, pgid: int, grace: float = 5.0) -> bool:
        """TERM the remote process group, then KILL it if still alive after ``grace`` seconds.
        Returns True when the group is gone."""
        # Zombies (already dead, waiting for a reaper) still match `kill -0 -PGID`, so count live
        # members through ps instead. `ps -A -o pgid=,stat=` works on Linux and macOS alike.
        script = (
            'alive() { ps -A -o pgid=,stat= | awk -v g="$1" \'$1==g && $2 !~ /^Z/ {f=1} END {exit !f}\'; }; '
            'alive "$1" || exit 0; kill -TERM -"$1" 2>/dev/null; i=0; '
            'while alive "$1"; do i=$((i+1)); [ "$i" -gt "$2" ] && break; sleep 0.1; done; '
            'alive "$1" || exit 0; kill -KILL -"$1" 2>/dev/null; sleep 0.2; ! alive "$1"'
        )
        res = self.run(host, ["sh", "-c", script, "sh", str(int(pgid)), str(int(grace * 10))],
                       timeout=grace + 10)
        return res.exit_code == 0


def _feed(chan: paramiko.Channel, data: bytes) -> None:
    try:
        chan.sendall(data)
        chan.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException) as exc:
        # The command exited without reading everything, or the connection died: the reader reports it.
        log.debug("stdin for %s not fully sent: %s", chan, exc)


if TYPE_CHECKING:
    # mypy proves the contract: SSHExecutor is an Executor and SSHProcess a RemoteProcess.
    def _conforms(e: SSHExecutor, p: SSHProcess) -> tuple[Executor, RemoteProcess]:
        return e, p


__all__ = ["FarmhandError", "SSHExecutor"]
