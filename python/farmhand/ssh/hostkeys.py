"""Host-key verification: OpenSSH's known_hosts files (read-only) plus Farmhand's own file.

For the key a node presents, the lines about that node (:mod:`farmhand.ssh.known_hosts`) decide:

* the key is marked ``@revoked`` → :class:`HostKeyRevoked`, always;
* a plain line holds this key → accepted;
* the node is known with another key → :class:`HostKeyChanged`, always. Farmhand never replaces a
  recorded key; the user removes the stale line deliberately;
* only a ``@cert-authority`` line names the node → :class:`HostKeyUnknown` saying so: paramiko cannot
  negotiate host certificates, so the plain key must be trusted on its own;
* unknown → :class:`HostKeyUnknown` carrying the SHA256 fingerprint and the exact trust command, unless
  the caller opted into accept-new (an explicit scan option), which records the key in Farmhand's file.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import paramiko

from farmhand import paths
from farmhand.errors import HostKeyChanged, HostKeyUnknown, NodeError
from farmhand.ssh import known_hosts
from farmhand.ssh.known_hosts import KnownKey, Marker, fingerprint_blob
from farmhand.ssh.target import Target

log = logging.getLogger(__name__)
_write_lock = threading.Lock()


class HostKeyRevoked(NodeError):
    """The node presented a key a known_hosts file marks ``@revoked``. Never accepted."""

    retryable = False


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's ``SHA256:…`` fingerprint of a public key."""
    return fingerprint_blob(key.asbytes())


@dataclass(frozen=True)
class HostKeyInfo:
    """A node's presented host key, as shown to the user before trusting it."""

    name: str
    host_key_name: str
    key_type: str
    fingerprint: str
    key_base64: str

    def known_hosts_line(self) -> str:
        return f"{self.host_key_name} {self.key_type} {self.key_base64}"

    def pkey(self) -> paramiko.PKey:
        """The key itself, e.g. to :meth:`HostKeyStore.verify` it."""
        return paramiko.PKey.from_type_string(self.key_type, base64.b64decode(self.key_base64))


def info_for(target: Target, key: paramiko.PKey) -> HostKeyInfo:
    return HostKeyInfo(target.name, target.host_key_name, key.get_name(), fingerprint(key), key.get_base64())


def openssh_files() -> list[Path]:
    """The files ``ssh`` reads by default (UserKnownHostsFile, GlobalKnownHostsFile)."""
    home = Path(os.path.expanduser("~/.ssh"))
    etc = Path("/etc/ssh")
    return [home / "known_hosts", home / "known_hosts2", etc / "ssh_known_hosts", etc / "ssh_known_hosts2"]


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (-1, -1)
    return (st.st_mtime_ns, st.st_size)


class HostKeyStore:
    """The known keys: OpenSSH files are only read; only Farmhand's own file is ever written."""

    def __init__(self, own: Optional[Path] = None, openssh: Optional[Sequence[Path]] = None) -> None:
        self.own = own or paths.known_hosts()
        self.openssh = list(openssh) if openssh is not None else openssh_files()
        self._cache: Optional[tuple[tuple[tuple[int, int], ...], list[KnownKey]]] = None
        self._cache_lock = threading.Lock()

    def _entries(self) -> list[KnownKey]:
        # Re-read whenever a file changed: another process (`farmhand nodes trust`) may have added a key.
        files = [*self.openssh, self.own]
        stamp = tuple(_stamp(p) for p in files)
        with self._cache_lock:
            if self._cache is not None and self._cache[0] == stamp:
                return self._cache[1]
        entries = [key for path in files for key in known_hosts.read_file(path)]
        with self._cache_lock:
            self._cache = (stamp, entries)
        return entries

    def about(self, host_key_name: str) -> list[KnownKey]:
        """Every readable line (any marker) that names ``host_key_name``."""
        return [e for e in self._entries() if e.matches(host_key_name)]

    def known_types(self, target: Target) -> list[str]:
        """Key types recorded (plainly, not revoked) for the destination, in file order."""
        entries = self.about(target.host_key_name)
        revoked = {e.blob for e in entries if e.marker is Marker.REVOKED}
        plain = (e.key_type for e in entries if e.marker is Marker.NONE and e.blob not in revoked)
        return list(dict.fromkeys(plain))

    def verify(self, target: Target, key: paramiko.PKey, *, accept_new: bool = False) -> None:
        """Accept ``key`` for ``target`` or raise why not (see the module docstring)."""
        entries = self.about(target.host_key_name)
        blob = key.asbytes()
        got = fingerprint_blob(blob)
        _refuse_revoked(target.name, entries, blob, key.get_name())
        plain = [e for e in entries if e.marker is Marker.NONE]
        if any(e.blob == blob for e in plain):
            return
        if plain:
            same = [e for e in plain if e.key_type == key.get_name()]
            expected = ", ".join(f"{e.key_type} {e.fingerprint}" for e in (same or plain))
            raise HostKeyChanged(
                target.name, expected, got,
                f"HOST KEY CHANGED for {target.host_key_name}: expected {expected} ({plain[0].where}), got "
                f"{key.get_name()} {got} — possible man-in-the-middle or a reinstalled node; refusing. If "
                f"the change is legitimate, remove the old key (ssh-keygen -R '{target.host_key_name}' -f "
                f"{self.own}, and from ~/.ssh/known_hosts) then run: farmhand nodes trust {target.name}",
            )
        if accept_new:
            self.save(info_for(target, key))
            log.info("accepted new host key for %s: %s", target.host_key_name, got)
            return
        authorities = [e for e in entries if e.marker is Marker.CERT_AUTHORITY]
        why = (f"{target.host_key_name} is vouched for only by a @cert-authority line "
               f"({authorities[0].where}) and Farmhand cannot check host certificates; its plain key "
               f"{key.get_name()} {got} is not trusted: check it, then trust it with: farmhand nodes "
               f"trust {target.name}") if authorities else (
            f"unknown host key {key.get_name()} {got}; check it, then trust it with: "
            f"farmhand nodes trust {target.name}")
        raise HostKeyUnknown(target.name, got, why)

    def save(self, info: HostKeyInfo) -> Path:
        """Record a key in Farmhand's file (0600). Refuses to overwrite a different recorded key of the
        same type, and refuses a revoked key."""
        blob = base64.b64decode(info.key_base64)
        with _write_lock:
            entries = self.about(info.host_key_name)
            _refuse_revoked(info.name, entries, blob, info.key_type)
            plain = [e for e in entries if e.marker is Marker.NONE]
            if any(e.blob == blob for e in plain):
                return self.own
            for old in (e for e in plain if e.key_type == info.key_type):
                raise HostKeyChanged(
                    info.name, old.fingerprint, info.fingerprint,
                    f"HOST KEY CHANGED for {info.host_key_name}: recorded {old.fingerprint} ({old.where}), "
                    f"presented {info.fingerprint}; refusing to replace it (if the node was reinstalled, "
                    f"remove the old key with ssh-keygen -R '{info.host_key_name}' -f {self.own})",
                )
            _append_line(self.own, info.known_hosts_line())
        return self.own

    def forget(self, target: Target) -> bool:
        """Remove the destination's lines from Farmhand's own file (used by ``nodes rm``); other lines,
        unreadable ones included, stay as they were."""
        if not self.own.is_file():
            return False
        with _write_lock:
            lines = self.own.read_bytes().split(b"\n")
            keep = [line for line in lines if not _about(line, target.host_key_name)]
            if len(keep) == len(lines):
                return False
            paths.touch_private(self.own)
            self.own.write_bytes(b"\n".join(keep))
            return True


def _refuse_revoked(name: str, entries: Sequence[KnownKey], blob: bytes, key_type: str) -> None:
    for e in entries:
        if e.marker is Marker.REVOKED and e.blob == blob:
            raise HostKeyRevoked(
                name, f"host key {key_type} {e.fingerprint} is marked @revoked ({e.where}); refusing it. "
                "The node needs a new host key, checked and trusted again",
            )


def _about(line: bytes, host_key_name: str) -> bool:
    try:
        key = known_hosts.parse_line(line)
    except known_hosts.BadLine:
        return False
    return key is not None and key.marker is Marker.NONE and key.matches(host_key_name)


def _append_line(path: Path, line: str) -> None:
    paths.touch_private(path)
    with open(path, "ab+") as f:
        f.seek(0, os.SEEK_END)
        if f.tell():
            f.seek(-1, os.SEEK_END)
            ends_line = f.read(1) == b"\n"
        else:
            ends_line = True
        f.write((b"" if ends_line else b"\n") + line.encode("utf-8") + b"\n")
