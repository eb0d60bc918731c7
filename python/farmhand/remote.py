"""The contract between the SSH layer and everything that runs work on nodes.

``farmhand.ssh`` implements :class:`Executor` over paramiko; the job engine, inventory and tests depend
only on this module's types, so a step of the dispatcher can be driven with any executor.

Commands are always given as an argv: the executor quotes every element for the remote POSIX shell.
A caller that needs shell syntax on the node (``cd $HFS && source ...``) passes
``["sh", "-c", SCRIPT, "sh", ARG1, ARG2, ...]`` with a fixed SCRIPT and the user's values as arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

#: Called for every complete line a remote command writes: ``(stream, line)`` where stream is
#: ``"out"`` or ``"err"`` and line has its line ending removed. ``\r``-separated progress counts as lines.
OnLine = Callable[[str, str], None]


@dataclass(frozen=True)
class RunResult:
    """What a finished remote command did.

    ``exit_code`` is None when the command died from a signal (then ``signal`` names it) or when the
    connection was lost before an exit status arrived.
    """

    host: str
    command: str
    exit_code: Optional[int]
    stdout: str
    stderr: str
    duration: float
    signal: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class RemoteProcess(Protocol):
    """A command started on a node and still attached to its channel."""

    host: str

    def write(self, data: str) -> None:
        """Send text to the command's stdin."""

    def close_stdin(self) -> None:
        """Send EOF on stdin (a watchdog-wrapped command takes this as 'stop')."""

    def poll(self) -> Optional[RunResult]:
        """The result if the command has finished and its output is drained, else None."""

    def wait(self, timeout: Optional[float] = None) -> Optional[RunResult]:
        """Block until finished (result) or until ``timeout`` seconds passed (None)."""

    def close(self) -> None:
        """Drop the channel without waiting; the node-side watchdog ends the process tree."""


class Executor(Protocol):
    """Runs argv commands on named nodes over one reused connection per node."""

    def run(
        self,
        host: str,
        argv: Sequence[str],
        *,
        timeout: Optional[float] = None,
        on_line: Optional[OnLine] = None,
        stdin: Optional[str] = None,
    ) -> RunResult:
        """Run to completion, streaming lines to ``on_line`` as they arrive.

        Raises :class:`farmhand.errors.NodeError` (``NodeUnreachable``, ``AuthFailed``, ``HostKey*``) when
        the node cannot be reached, the connection is lost before the exit status arrives, or ``timeout``
        passes; a command killed by a signal returns ``exit_code=None`` with ``signal`` set."""

    def start(
        self,
        host: str,
        argv: Sequence[str],
        *,
        on_line: OnLine,
        watchdog: bool = True,
    ) -> RemoteProcess:
        """Start a long command (a render). With ``watchdog`` the command runs in its own process group
        behind a stdin-EOF watchdog, so closing the channel or losing the connection kills the whole
        remote tree instead of leaving an orphan."""
