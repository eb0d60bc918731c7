"""Host-key verification: OpenSSH's known_hosts (read-only) plus Farmhand's own file.

* A key found in either file for the destination → accepted.
* The destination is known with a different key → :class:`HostKeyChanged`, always. Farmhand never
  replaces a recorded key; the user removes the stale line deliberately.
* Unknown → :class:`HostKeyUnknown` carrying the SHA256 fingerprint and the exact trust command, unless
  the caller opted into accept-new (an explicit scan option), which records the key in Farmhand's file.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import paramiko

from farmhand import paths
from farmhand.errors import HostKeyChanged, HostKeyUnknown
from farmhand.ssh.target import Target

log = logging.getLogger(__name__)
_write_lock = threading.Lock()


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's ``SHA256:…`` fingerprint of a public key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


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


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (-1, -1)
    return (st.st_mtime_ns, st.st_size)


def openssh_files() -> list[Path]:
    return [Path(os.path.expanduser("~/.ssh/known_hosts")), Path("/etc/ssh/ssh_known_hosts")]


class HostKeyStore:
    """The known keys: OpenSSH files are only read; only Farmhand's own file is ever written."""

    def __init__(self, own: Optional[Path] = None, openssh: Optional[Sequence[Path]] = None) -> None:
        self.own = own or paths.known_hosts()
        self.openssh = list(openssh) if openssh is not None else openssh_files()
        self._cache: Optional[tuple[tuple[tuple[int, int], ...], paramiko.HostKeys]] = None
        self._cache_lock = threading.Lock()

    def _load(self) -> paramiko.HostKeys:
        # Re-read whenever a file changed: another process (`farmhand nodes trust`) may have added a key.
        files = [*self.openssh, self.own]
        stamp = tuple(_stamp(p) for p in files)
        with self._cache_lock:
            if self._cache is not None and self._cache[0] == stamp:
                return self._cache[1]
        keys = paramiko.HostKeys()
        for path in files:
            if path.is_file():
                try:
                    keys.load(str(path))
                except (OSError, paramiko.SSHException, ValueError) as exc:
                    log.warning("ignoring unreadable known_hosts file %s: %s", path, exc)
        with self._cache_lock:
            self._cache = (stamp, keys)
        return keys

    def known_types(self, target: Target) -> list[str]:
        entry = self._load().lookup(target.host_key_name)
        return list(entry.keys()) if entry else []

    def verify(self, target: Target, key: paramiko.PKey, *, accept_new: bool = False) -> None:
        entry = self._load().lookup(target.host_key_name)
        got = fingerprint(key)
        if entry:
            recorded = entry.get(key.get_name())
            if recorded is not None and recorded.asbytes() == key.asbytes():
                return
            expected = fingerprint(recorded) if recorded is not None else ", ".join(
                f"{t} {fingerprint(k)}" for t, k in entry.items()
            )
            raise HostKeyChanged(
                target.name,
                expected,
                got,
                f"HOST KEY CHANGED for {target.host_key_name}: expected {expected}, got {got} — possible "
                f"man-in-the-middle or a reinstalled node; refusing. If the change is legitimate, remove "
                f"the old key (ssh-keygen -R '{target.host_key_name}' -f {self.own}, and from "
                f"~/.ssh/known_hosts) then run: farmhand nodes trust {target.name}",
            )
        if accept_new:
            self.save(info_for(target, key))
            log.info("accepted new host key for %s: %s", target.host_key_name, got)
            return
        raise HostKeyUnknown(
            target.name,
            got,
            f"unknown host key {key.get_name()} {got}; check it, then trust it with: "
            f"farmhand nodes trust {target.name}",
        )

    def save(self, info: HostKeyInfo) -> Path:
        """Record a key in Farmhand's file (0600). Refuses to overwrite a different recorded key."""
        with _write_lock:
            entry = self._load().lookup(info.host_key_name)
            if entry and info.key_type in entry:
                if entry[info.key_type].get_base64() == info.key_base64:
                    return self.own
                old = fingerprint(entry[info.key_type])
                raise HostKeyChanged(
                    info.name,
                    old,
                    info.fingerprint,
                    f"HOST KEY CHANGED for {info.host_key_name}: recorded {old}, presented "
                    f"{info.fingerprint}; refusing to replace it (if the node was reinstalled, remove the "
                    f"old key with ssh-keygen -R '{info.host_key_name}' -f {self.own})",
                )
            paths.touch_private(self.own)
            with open(self.own, "a", encoding="utf-8") as f:
                f.write(info.known_hosts_line() + "\n")
        return self.own

    def forget(self, target: Target) -> bool:
        """Remove the destination's keys from Farmhand's own file (used by ``nodes rm``)."""
        if not self.own.is_file():
            return False
        with _write_lock:
            keys = paramiko.HostKeys()
            keys.load(str(self.own))
            if keys.lookup(target.host_key_name) is None:
                return False
            lines = self.own.read_text(encoding="utf-8").splitlines()
            keep = []
            for line in lines:
                single = paramiko.HostKeys()
                entry = paramiko.hostkeys.HostKeyEntry.from_line(line)
                if entry is not None and entry.key is not None:
                    for hostname in entry.hostnames:
                        single.add(hostname, entry.key.get_name(), entry.key)
                    if single.lookup(target.host_key_name) is not None:
                        continue
                keep.append(line)
            paths.touch_private(self.own)
            self.own.write_text("".join(line + "\n" for line in keep), encoding="utf-8")
            return True
