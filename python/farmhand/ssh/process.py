"""A command started on a node with its own reader thread (:class:`farmhand.remote.RemoteProcess`)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Callable, Optional

import paramiko

from farmhand.errors import NodeUnreachable
from farmhand.remote import OnLine, RunResult
from farmhand.ssh.channel import PGID_MARK, WATCHDOG, LineSplitter, pump, result
from farmhand.ssh.quoting import posix_join

log = logging.getLogger(__name__)

#: How much of each stream a long-running process keeps for its RunResult (the rest went to on_line).
KEEP_CHARS = 1 << 20


class SSHProcess:
    """A remote command attached to one channel. ``pgid`` is the remote process group (watchdog mode)."""

    def __init__(
        self,
        host: str,
        argv: Sequence[str],
        chan: paramiko.Channel,
        on_line: OnLine,
        watchdog: bool,
        release: Callable[[], None],
    ) -> None:
        self.host = host
        self.argv = list(argv)
        self.command = posix_join(["sh", "-c", WATCHDOG, "sh", *argv] if watchdog else argv)
        self.pgid: Optional[int] = None
        self._pgid_seen = threading.Event()
        self._chan = chan
        self._release = release
        self._done = threading.Event()
        self._result: Optional[RunResult] = None
        self._out = LineSplitter("out", on_line, KEEP_CHARS)
        self._err = LineSplitter("err", on_line, KEEP_CHARS)
        if watchdog:
            self._err.filter = self._take_pgid
        else:
            self._pgid_seen.set()
        self._started = time.monotonic()
        try:
            chan.exec_command(self.command)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            chan.close()
            raise NodeUnreachable(host, f"cannot start {self.argv[0]}: {exc}") from exc
        self._thread = threading.Thread(target=self._read, name=f"ssh-{host}", daemon=True)
        self._thread.start()

    def _take_pgid(self, line: str) -> bool:
        if self.pgid is None and line.startswith(PGID_MARK):
            try:
                self.pgid = int(line[len(PGID_MARK):])
            except ValueError:
                return False
            self._pgid_seen.set()
            return True
        return False

    def _read(self) -> None:
        try:
            pump(self._chan, self._out, self._err)
        except Exception:  # a reader thread must always record an end
            log.exception("reader for %s failed", self.host)
        finally:
            self._result = result(self.host, self.command, self._chan, self._out, self._err, self._started)
            self._chan.close()
            self._pgid_seen.set()
            self._done.set()
            self._release()

    def wait_pgid(self, timeout: float = 5.0) -> Optional[int]:
        """The remote process group id once the watchdog has reported it."""
        self._pgid_seen.wait(timeout)
        return self.pgid

    def write(self, data: str) -> None:
        try:
            self._chan.sendall(data.encode())
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise NodeUnreachable(self.host, f"cannot write to {self.argv[0]}: {exc}") from exc

    def close_stdin(self) -> None:
        if not self._chan.closed:
            self._chan.shutdown_write()

    def poll(self) -> Optional[RunResult]:
        return self._result if self._done.is_set() else None

    def wait(self, timeout: Optional[float] = None) -> Optional[RunResult]:
        self._done.wait(timeout)
        return self.poll()

    def close(self) -> None:
        self._chan.close()
