"""The ssh configuration as OpenSSH resolves it (``ssh -G``, run for real here), the paramiko fallback,
ProxyJump parsing and loops. No connection is made: only name resolution."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from farmhand.errors import ConfigError
from farmhand.ssh import SSHExecutor, Timeouts
from farmhand.ssh.sshconfig import expand_tokens, load_config, parse_g_output
from farmhand.ssh.target import Hop, parse_jumps, resolve

SSH = shutil.which("ssh")


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def config(farmhand_home: Path) -> Path:
    """``~/.ssh/config`` using Include, Match host, Host patterns and tokens."""
    ssh_dir = Path(os.path.expanduser("~/.ssh"))
    _write(ssh_dir / "farm.d" / "nodes.conf", "Host included\n  HostName 10.77.0.13\n  Port 2222\n")
    return _write(ssh_dir / "config", (
        f"Include {ssh_dir}/farm.d/*.conf\n"
        "Host 1?\n  HostName 10.77.0.%h\n  ProxyCommand nc %h %p\n"
        "Match host 10.77.0.12\n  User bob\n  IdentityFile %d/.ssh/bob_%h\n"
        "Host *\n  User alice\n"
    ))


def test_openssh_resolution_include_match_patterns_tokens(config: Path) -> None:
    if SSH is None:
        pytest.fail("OpenSSH's client (ssh) is missing: run tools/setup.sh")
    cfg = load_config()
    home = os.path.expanduser("~")
    inc = resolve("included", config=cfg)
    assert (inc.hostname, inc.port, inc.user) == ("10.77.0.13", 2222, "alice")  # paramiko misses Include
    eleven = resolve("11", config=cfg)
    assert (eleven.hostname, eleven.user, eleven.proxy_command) == ("10.77.0.11", "alice", "nc 10.77.0.11 22")
    twelve = resolve("12", config=cfg)  # Match host sees the HostName, after %h was substituted
    assert (twelve.user, twelve.identity_files) == ("bob", (f"{home}/.ssh/bob_10.77.0.12",))
    # The fallback parser reads the same file without Include: the host keeps its own name.
    assert resolve("included", config=load_config(ssh=None)).hostname == "included"


def test_bad_configuration_is_one_clear_line(farmhand_home: Path) -> None:
    _write(Path(os.path.expanduser("~/.ssh/config")), "Host x\n  NoSuchOption yes\n")
    with pytest.raises(ConfigError) as info:
        resolve("x", config=load_config(ssh=SSH or "ssh"))
    assert "Bad configuration option" in info.value.message and "\n" not in info.value.message
    with pytest.raises(ConfigError, match="invalid host name '-oProxyCommand=x'"):
        load_config(ssh=SSH or "ssh").lookup("-oProxyCommand=x")


def test_g_output_tokens_and_default_identities() -> None:
    text = ("hostname 10.0.0.5\nuser r\nport 2200\nproxycommand ssh -W %h:%p %r@gw %%\n"
            + "".join(f"identityfile ~/.ssh/{n}\n" for n in ("id_rsa", "id_ecdsa", "id_ecdsa_sk",
                                                             "id_ed25519", "id_ed25519_sk", "id_xmss")))
    got = parse_g_output(text, "alias")
    assert got["proxycommand"] == "ssh -W 10.0.0.5:2200 r@gw %"
    assert "identityfile" not in got  # ssh's default list: nothing configured
    assert parse_g_output("identityfile ~/.ssh/id_rsa\n", "h")["identityfile"] == [
        os.path.expanduser("~/.ssh/id_rsa")]
    assert expand_tokens("%h-%z-%", {"h": "x"}) == "x-%z-%"


def test_parse_jumps() -> None:
    assert parse_jumps("a, u@b:2222,[fe80::1]:23,ssh://c") == [
        Hop(None, "a", None), Hop("u", "b", 2222), Hop(None, "fe80::1", 23), Hop(None, "c", None)]
    assert [h.spec() for h in parse_jumps("u@b:2222,[fe80::1]:23")] == ["u@b:2222", "[fe80::1]:23"]
    for bad in ("a,,b", "a:99999", "@b", "a:x"):
        with pytest.raises(ConfigError, match="ProxyJump"):
            parse_jumps(bad)


@pytest.mark.parametrize("use_ssh", [True, False])
def test_proxy_jump_loop_is_an_error_not_a_hang(farmhand_home: Path, use_ssh: bool) -> None:
    _write(Path(os.path.expanduser("~/.ssh/config")),
           "Host a\n  HostName 10.77.0.11\n  ProxyJump b\nHost b\n  HostName 10.77.0.12\n  ProxyJump a\n")
    cfg = load_config(ssh=SSH if use_ssh else None)
    with SSHExecutor(resolve=lambda h: resolve(h, config=cfg), timeouts=Timeouts(connect=0.5)) as ex, \
            pytest.raises(ConfigError, match="leads back to itself"):
        ex.run("a", ["true"])
