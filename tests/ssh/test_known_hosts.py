"""known_hosts read like OpenSSH reads it: line by line as bytes, markers, hashed names, patterns.

Keys are made by the real ``ssh-keygen``; hashed lines too (``ssh-keygen -H``), so the format is OpenSSH's
own, not our idea of it. The fuzz tests feed arbitrary bytes: only Farmhand errors may come out.
"""

from __future__ import annotations

import base64
import logging
import subprocess
from pathlib import Path

import paramiko
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from farmhand.errors import FarmhandError, HostKeyChanged, HostKeyUnknown
from farmhand.ssh.connect import preferred_key_types
from farmhand.ssh.hostkeys import HostKeyInfo, HostKeyRevoked, HostKeyStore, fingerprint
from farmhand.ssh.known_hosts import BadLine, Marker, match_host, parse_line, read_lines
from farmhand.ssh.target import Target


def keygen(directory: Path, name: str, kind: str = "ed25519") -> paramiko.PKey:
    path = directory / name
    size = ["-b", "2048"] if kind == "rsa" else []
    subprocess.run(["ssh-keygen", "-q", "-t", kind, *size, "-N", "", "-f", str(path)], check=True)
    kind_name, b64 = Path(f"{path}.pub").read_text().split()[:2]
    return paramiko.PKey.from_type_string(kind_name, base64.b64decode(b64))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, paramiko.PKey]:
    d = tmp_path_factory.mktemp("keys")
    return {"a": keygen(d, "a"), "b": keygen(d, "b"), "rsa": keygen(d, "rsa", "rsa")}


def line(host: str, key: paramiko.PKey, marker: str = "") -> str:
    return f"{marker} {host} {key.get_name()} {key.get_base64()}".strip()


def store(tmp_path: Path, *openssh: bytes) -> HostKeyStore:
    files = []
    for i, data in enumerate(openssh):
        path = tmp_path / f"openssh{i}"
        path.write_bytes(data)
        files.append(path)
    return HostKeyStore(own=tmp_path / "own_known_hosts", openssh=files)


def target(host: str, port: int = 22) -> Target:
    return Target(name=host, hostname=host, port=port)


# ---------------------------------------------------------------- one line
def test_patterns_wildcards_negation_and_ports() -> None:
    assert match_host("render*,!render13", "render12")
    assert not match_host("render*,!render13", "render13")
    assert match_host("10.77.0.?", "10.77.0.5") and not match_host("10.77.0.?", "10.77.0.50")
    assert match_host("[10.77.0.11]:2222", "[10.77.0.11]:2222")
    assert not match_host("10.77.0.11", "[10.77.0.11]:2222")
    assert match_host("RENDER01", "render01")  # host names compare case-insensitively
    assert not match_host("render[0-9]", "render1")  # no character classes in OpenSSH patterns


@pytest.mark.parametrize(("raw", "why"), [
    (b"render01 ssh-ed25519", "expected host names"),
    (b"render01 ssh-ed25519 !!notbase64!!", "not valid base64"),
    (b"rend\xffer01 ssh-ed25519 AAAA", "not text"),
    (b"@trusted render01 ssh-ed25519 AAAA", "unknown marker"),
    (b"|1|onlysalt ssh-ed25519 AAAA", "neither a pattern"),
])
def test_bad_lines_say_why(raw: bytes, why: str) -> None:
    with pytest.raises(BadLine, match=why):
        parse_line(raw)


def test_blob_must_be_the_type_the_line_claims(keys: dict[str, paramiko.PKey]) -> None:
    raw = f"render01 ssh-rsa {keys['a'].get_base64()}".encode()
    with pytest.raises(BadLine, match="the key says it is ssh-ed25519, the line says ssh-rsa"):
        parse_line(raw)


def test_markers_comments_and_undecodable_comments(keys: dict[str, paramiko.PKey]) -> None:
    a = keys["a"]
    assert parse_line(b"   # a comment") is None and parse_line(b"\r") is None
    entry = parse_line(line("render01", a).encode() + b" caf\xe9 comment in latin-1\r")
    assert entry is not None and entry.blob == a.asbytes() and entry.marker is Marker.NONE
    revoked = parse_line(line("*", a, "@revoked").encode())
    assert revoked is not None and revoked.marker is Marker.REVOKED and revoked.matches("anything")


# ---------------------------------------------------------------- files: a bad line costs one line
def test_a_bad_line_is_skipped_with_file_and_line_never_the_whole_file(
    tmp_path: Path, keys: dict[str, paramiko.PKey], caplog: pytest.LogCaptureFixture
) -> None:
    good = line("render01", keys["a"]).encode()
    data = b"\n".join([b"garbage \xff\xfe line", b"render02 ssh-ed25519 %%%", good])
    s = store(tmp_path, data)
    with caplog.at_level(logging.WARNING):
        s.verify(target("render01"), keys["a"])
        # The fail-open bug: with the file ignored, a changed key looked merely unknown.
        with pytest.raises(HostKeyChanged, match="HOST KEY CHANGED for render01"):
            s.verify(target("render01"), keys["b"], accept_new=True)
    warned = [r.getMessage() for r in caplog.records if "skipped a known_hosts line" in r.getMessage()]
    assert warned == [f"{tmp_path / 'openssh0'}:1: skipped a known_hosts line: host names or key type are "
                      "not text (UTF-8)",
                      f"{tmp_path / 'openssh0'}:2: skipped a known_hosts line: the key is not valid base64"]
    assert not (tmp_path / "own_known_hosts").exists()  # accept-new recorded nothing


def test_hashed_names_written_by_ssh_keygen(tmp_path: Path, keys: dict[str, paramiko.PKey]) -> None:
    path = tmp_path / "hashed"
    path.write_text(line("render01", keys["a"]) + "\n" + line("[10.77.0.12]:2222", keys["b"]) + "\n")
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(path)], check=True, capture_output=True)
    assert path.read_text().startswith("|1|")
    s = HostKeyStore(own=tmp_path / "own", openssh=[path])
    s.verify(target("render01"), keys["a"])
    s.verify(target("10.77.0.12", 2222), keys["b"])
    with pytest.raises(HostKeyUnknown):
        s.verify(target("10.77.0.12"), keys["b"])  # port 22 is another destination


def test_revoked_key_is_refused_even_when_also_trusted(tmp_path: Path, keys: dict[str, paramiko.PKey]
                                                       ) -> None:
    data = f"{line('render01', keys['a'])}\n{line('*', keys['a'], '@revoked')}\n".encode()
    s = store(tmp_path, data)
    with pytest.raises(HostKeyRevoked, match=r"render01: host key ssh-ed25519 SHA256:\S+ is marked @revoked "
                       r"\(.*openssh0:2\); refusing it"):
        s.verify(target("render01"), keys["a"], accept_new=True)
    info = HostKeyInfo("render01", "render01", "ssh-ed25519", fingerprint(keys["a"]), keys["a"].get_base64())
    with pytest.raises(HostKeyRevoked):
        s.save(info)
    assert s.known_types(target("render01")) == []


def test_cert_authority_line_is_refused_with_a_clear_line(tmp_path: Path, keys: dict[str, paramiko.PKey]
                                                          ) -> None:
    s = store(tmp_path, f"{line('*.farm', keys['b'], '@cert-authority')}\n".encode())
    with pytest.raises(HostKeyUnknown) as info:
        s.verify(target("render01.farm"), keys["a"])
    message = info.value.message
    assert "vouched for only by a @cert-authority line" in message and "openssh0:1" in message
    assert "farmhand nodes trust render01.farm" in message and "\n" not in message


def test_save_forget_keep_other_lines_and_end_lines(tmp_path: Path, keys: dict[str, paramiko.PKey]) -> None:
    own = tmp_path / "own"
    own.write_bytes(b"garbage \xff line\n" + line("render09", keys["b"]).encode())  # no final newline
    s = HostKeyStore(own=own, openssh=[])
    info = HostKeyInfo("render01", "render01", "ssh-ed25519", fingerprint(keys["a"]), keys["a"].get_base64())
    s.save(info)
    assert own.read_bytes().split(b"\n")[1:] == [line("render09", keys["b"]).encode(),
                                                 line("render01", keys["a"]).encode(), b""]
    assert s.forget(target("render01")) and not s.forget(target("render01"))
    assert own.read_bytes().startswith(b"garbage \xff line\n")  # an unreadable line is left as it was
    assert own.stat().st_mode & 0o777 == 0o600


# ---------------------------------------------------------------- RSA: recorded ssh-rsa, negotiated SHA-2
def test_rsa_known_keys_ask_for_sha2_algorithms(tmp_path: Path, keys: dict[str, paramiko.PKey]) -> None:
    offered = list(paramiko.Transport._preferred_keys)
    assert "ssh-rsa" not in offered  # why the plain mapping once dropped RSA nodes
    order = preferred_key_types(["ssh-rsa"], offered)
    assert order[:2] == ["rsa-sha2-512", "rsa-sha2-256"] and sorted(order) == sorted(offered)
    assert preferred_key_types(["ssh-ed25519", "ssh-rsa"], offered)[:3] == [
        "ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256"]
    s = store(tmp_path, f"{line('render01', keys['rsa'])}\n".encode())
    assert s.known_types(target("render01")) == ["ssh-rsa"]
    s.verify(target("render01"), keys["rsa"])


# ---------------------------------------------------------------- fuzzing
_FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_pieces = st.sampled_from([b"render01", b"*", b"!x", b"|1|", b"|1|a|b", b"@revoked", b"@cert-authority",
                           b"ssh-ed25519", b"ssh-rsa", b"AAAAC3NzaC1lZDI1NTE5", b"#", b" ", b"\t", b",",
                           b"\xff", b"\x00", b"\r", b"[h]:22", b"=="])
_lines = st.lists(st.one_of(st.binary(max_size=40), _pieces), max_size=12).map(b"".join)


@_FUZZ
@given(st.lists(_lines, max_size=8))
def test_fuzz_reader_never_raises(lines: list[bytes]) -> None:
    for key in read_lines(lines, "fuzz"):
        assert key.key_type and key.blob
        key.matches("render01")


@_FUZZ
@given(st.lists(_lines, max_size=8), st.sampled_from(["render01", "[render01]:2222", "10.77.0.11", "Ünï"]))
def test_fuzz_verify_only_farmhand_errors(tmp_path: Path, keys: dict[str, paramiko.PKey], lines: list[bytes],
                                          host: str) -> None:
    s = store(tmp_path, b"\n".join([*lines, line("render01", keys["b"]).encode()]))
    errors: list[FarmhandError] = []
    for key in (keys["a"], keys["b"]):
        try:
            s.verify(target(host), key)
        except FarmhandError as exc:
            errors.append(exc)
    assert all("\n" not in e.message for e in errors)
