"""Reading known_hosts files the way OpenSSH reads them: line by line, as bytes, one bad line at a time.

A line is ``[@marker] hostpatterns keytype base64key [comment]``. Host patterns are comma-separated,
with ``*``/``?`` wildcards and ``!`` negation, or one hashed name (``|1|salt|hmac``); ``[host]:port``
names a non-standard port. Markers: ``@revoked`` (the key must never be accepted) and
``@cert-authority`` (the key signs host certificates). A line that cannot be read — not UTF-8 where it
matters, too few fields, bad base64, a key blob of another type than it claims — is skipped with a
warning naming the file and line; every other line of the file still counts. Skipping the whole file
would be fail-open: a changed key would then look merely unknown.

Keys are compared as their wire-format blobs, so a key type paramiko cannot parse still protects the
host it belongs to.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Optional

log = logging.getLogger(__name__)

#: Longer lines are not keys (OpenSSH's own limit is of the same order).
MAX_LINE = 64 * 1024
_KEY_TYPE = re.compile(r"[A-Za-z0-9@._+-]{1,100}")


class Marker(str, Enum):
    NONE = ""
    REVOKED = "@revoked"
    CERT_AUTHORITY = "@cert-authority"


class BadLine(ValueError):
    """Why one known_hosts line was skipped (the message is shown with the file and line number)."""


@dataclass(frozen=True)
class KnownKey:
    """One usable known_hosts line."""

    marker: Marker
    hosts: str  # the host field as written: patterns, or a |1| hashed name
    key_type: str
    blob: bytes
    where: str  # "FILE:LINE", for messages

    def matches(self, name: str) -> bool:
        """True when this line is about ``name`` (a host name, address or ``[host]:port``)."""
        if self.hosts.startswith("|1|"):
            return _hashed_match(self.hosts, name)
        return match_host(self.hosts, name)

    @property
    def fingerprint(self) -> str:
        return fingerprint_blob(self.blob)


def fingerprint_blob(blob: bytes) -> str:
    """OpenSSH's ``SHA256:…`` fingerprint of a public key blob."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def match_host(patterns: str, name: str) -> bool:
    """OpenSSH's host pattern list: any positive pattern matches and no negated one does."""
    name = name.lower()
    found = False
    for raw in patterns.split(","):
        negated = raw.startswith("!")
        pattern = raw[1:] if negated else raw
        if pattern and _glob(pattern.lower(), name):
            if negated:
                return False
            found = True
    return found


def _glob(pattern: str, text: str) -> bool:
    """``*`` and ``?`` wildcards, nothing else special (no character classes, unlike fnmatch)."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, text, re.DOTALL) is not None


def _hashed_match(field: str, name: str) -> bool:
    parts = field.split("|")
    try:
        salt = base64.b64decode(parts[2], validate=True)
        want = base64.b64decode(parts[3], validate=True)
    except (binascii.Error, IndexError, ValueError):
        return False
    got = hmac.new(salt, name.encode("utf-8", "surrogateescape"), hashlib.sha1).digest()
    return hmac.compare_digest(got, want)


def parse_line(raw: bytes, where: str = "-") -> Optional[KnownKey]:
    """One line as bytes → its key, None for a blank or comment line; :class:`BadLine` if unreadable."""
    if len(raw) > MAX_LINE:
        raise BadLine(f"line longer than {MAX_LINE} bytes")
    fields = raw.split()
    if not fields or fields[0].startswith(b"#"):
        return None
    marker = Marker.NONE
    if fields[0].startswith(b"@"):
        marker = _marker(fields.pop(0))
    if len(fields) < 3:
        raise BadLine("expected host names, key type and key")
    try:
        hosts = fields[0].decode("utf-8")
        key_type = fields[1].decode("ascii")
        blob = base64.b64decode(fields[2], validate=True)
    except UnicodeDecodeError as exc:
        raise BadLine("host names or key type are not text (UTF-8)") from exc
    except (binascii.Error, ValueError) as exc:
        raise BadLine("the key is not valid base64") from exc
    if not _KEY_TYPE.fullmatch(key_type):
        raise BadLine("the key type is not a key type name")
    if hosts.startswith("|") and not _hashed_field(hosts):
        raise BadLine("the host name is neither a pattern list nor a |1| hashed name")
    inner = _blob_type(blob)
    if inner != key_type:
        raise BadLine(f"the key says it is {inner or 'nothing'}, the line says {key_type}")
    return KnownKey(marker, hosts, key_type, blob, where)


def _marker(field: bytes) -> Marker:
    try:
        return Marker(field.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadLine("unknown marker (only @revoked and @cert-authority exist)") from exc


def _hashed_field(hosts: str) -> bool:
    parts = hosts.split("|")
    return len(parts) == 4 and parts[0] == "" and parts[1] == "1" and all(parts[2:])


def _blob_type(blob: bytes) -> Optional[str]:
    """The key type written at the start of a wire-format key (an SSH string)."""
    if len(blob) < 4:
        return None
    (size,) = struct.unpack(">I", blob[:4])
    if size > 100 or len(blob) < 4 + size:
        return None
    try:
        return blob[4:4 + size].decode("ascii")
    except UnicodeDecodeError:
        return None


def read_file(path: Path) -> list[KnownKey]:
    """Every usable line of ``path``; each bad line is skipped with a warning naming the file and line.

    An unreadable file is a warning too (nothing in it can be known)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        log.warning("cannot read known_hosts file %s (%s): its keys are not used", path, exc.strerror)
        return []
    return list(read_lines(data.split(b"\n"), str(path)))


def read_lines(lines: Iterable[bytes], name: str) -> Iterator[KnownKey]:
    for number, raw in enumerate(lines, 1):
        where = f"{name}:{number}"
        try:
            key = parse_line(raw, where)
        except BadLine as exc:
            log.warning("%s: skipped a known_hosts line: %s", where, exc)
            continue
        if key is not None:
            yield key
