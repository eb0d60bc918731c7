"""Host keys against real sshd nodes: RSA-only and RSA+ed25519 nodes known by their ssh-rsa key,
revoked keys, @cert-authority lines, and a broken ~/.ssh/known_hosts that must not fail open."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import write_ssh_config
from farmhand.errors import HostKeyChanged, HostKeyUnknown
from farmhand.lab import LocalFarm
from farmhand.nodes import actions as nodeops
from farmhand.nodes.registry import Registry
from farmhand.ssh import HostKeyRevoked, SSHExecutor, Timeouts

pytestmark = pytest.mark.lab


def _openssh_known_hosts(text: bytes) -> Path:
    path = Path(os.path.expanduser("~/.ssh/known_hosts"))
    path.write_bytes(text)
    return path


def _executor(farm: LocalFarm, **kw: object) -> SSHExecutor:
    with farm.inside():
        return SSHExecutor(timeouts=Timeouts(connect=1.0, banner=2.0), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("types", [("rsa",), ("ed25519", "rsa")])
def test_a_node_known_by_its_rsa_key_is_not_changed(make_lab, farmhand_home: Path,  # type: ignore[no-untyped-def]
                                                    types: tuple[str, ...]) -> None:
    farm: LocalFarm = make_lab(n=1, host_key_types=types)
    write_ssh_config(farm)
    (rsa_line,) = farm.known_hosts_lines("rsa")
    _openssh_known_hosts(f"{rsa_line}\n".encode())
    ex = _executor(farm)
    with farm.inside():
        assert ex.run("render01", ["echo", "ok"]).stdout == "ok\n"
        # `nodes trust` looks at the same key type: already trusted, nothing written.
        assert ex.fetch_host_key("render01").key_type == "ssh-rsa"
        check = nodeops.check_host_key(ex, "render01")
        assert check.trusted
        node, _ = nodeops.trust(Registry(), ex, "render01")
    ex.close()
    assert node.state.value == "trusted"
    assert not (farmhand_home / "known_hosts").exists()


def test_revoked_key_fails_with_a_clear_line(make_lab, farmhand_home: Path) -> None:  # type: ignore[no-untyped-def]
    farm: LocalFarm = make_lab(n=1)
    write_ssh_config(farm)
    farm.trust()
    (known,) = farm.known_hosts_lines()
    _, key_type, key = known.split()
    _openssh_known_hosts(f"@revoked * {key_type} {key}\n".encode())
    ex = _executor(farm, accept_new=True)
    with farm.inside(), pytest.raises(HostKeyRevoked) as info:
        ex.run("render01", ["true"])
    ex.close()
    message = info.value.message
    assert message.startswith("render01: host key ssh-ed25519 SHA256:") and "is marked @revoked" in message
    assert "known_hosts:1" in message and "\n" not in message


def test_cert_authority_only_is_refused_not_raised(make_lab, farmhand_home: Path) -> None:  # type: ignore[no-untyped-def]
    farm: LocalFarm = make_lab(n=1)
    write_ssh_config(farm)
    ca = farm.root / "host_ca"
    import subprocess

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ca)], check=True)
    ca_type, ca_key = Path(f"{ca}.pub").read_text().split()[:2]
    _openssh_known_hosts(f"@cert-authority 10.77.0.* {ca_type} {ca_key}\n".encode())
    ex = _executor(farm)
    with farm.inside(), pytest.raises(HostKeyUnknown, match="vouched for only by a @cert-authority line"):
        ex.run("render01", ["true"])
    ex.close()


def test_garbage_in_known_hosts_does_not_fail_open(make_lab, farmhand_home: Path) -> None:  # type: ignore[no-untyped-def]
    farm: LocalFarm = make_lab(n=1)
    write_ssh_config(farm)
    (known,) = farm.known_hosts_lines()
    _openssh_known_hosts(b"\xff\xfe not UTF-8 at all\n" + known.encode() + b"\n")
    farm.change_host_key("render01")
    ex = _executor(farm, accept_new=True)
    with farm.inside(), pytest.raises(HostKeyChanged, match=r"HOST KEY CHANGED for 10\.77\.0\.11"):
        ex.run("render01", ["true"])
    ex.close()
    assert not (farmhand_home / "known_hosts").exists()  # accept-new recorded nothing
