"""One exception family for everything Farmhand reports to a user.

Every message is meant to be shown as one line: it names the thing that failed and what to do about it.
Lower layers (paramiko, sockets, sqlite) are translated into these at their boundary.
"""

from __future__ import annotations


class FarmhandError(Exception):
    """Base of every error Farmhand raises on purpose.

    Attributes:
        retryable: True when the same operation may succeed if tried again later
            (a node that is rebooting, a licence that is busy).
    """

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class UsageError(FarmhandError):
    """Bad input from the user: an invalid range, frame spec, preset or path."""


class ConfigError(FarmhandError):
    """A configuration file (preset, ssh config, package) is invalid."""


class NodeError(FarmhandError):
    """Something went wrong talking to one node; the message names the host."""

    def __init__(self, host: str, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(f"{host}: {message}", retryable=retryable)
        self.host = host


class NodeUnreachable(NodeError):
    retryable = True


class AuthFailed(NodeError):
    pass


class HostKeyUnknown(NodeError):
    """The node's host key is not trusted yet; the message carries the fingerprint and the trust command."""

    def __init__(self, host: str, fingerprint: str, message: str) -> None:
        super().__init__(host, message)
        self.fingerprint = fingerprint


class HostKeyChanged(NodeError):
    """The node presented a different key than the one recorded. Never accepted automatically."""

    def __init__(self, host: str, expected: str, got: str, message: str) -> None:
        super().__init__(host, message)
        self.expected = expected
        self.got = got


class NotFound(FarmhandError):
    """A job, node, ROP or file that the user named does not exist."""


class JobError(FarmhandError):
    """A job-level failure (a deterministic scene error, every node blocklisted, ...)."""
