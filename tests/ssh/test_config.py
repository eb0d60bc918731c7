"""~/.ssh/config (HostName, User, Port, IdentityFile, ProxyJump, ProxyCommand) and ssh-agent use."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from farmhand.errors import AuthFailed, NodeUnreachable
from farmhand.lab import GATEWAY, LocalFarm
from farmhand.ssh import SSHExecutor

pytestmark = pytest.mark.lab


def _config(text: str) -> None:
    Path(os.path.expanduser("~/.ssh/config")).write_text(text)


def test_alias_user_port_identity_from_config(make_lab, farmhand_home: Path) -> None:  # type: ignore[no-untyped-def]
    farm: LocalFarm = make_lab(n=1, mode="loopback")
    node = farm.nodes[0]
    farm.trust()
    _config(f"Host box\n  HostName {node.address}\n  Port {node.port}\n  User {farm.user}\n"
            f"  IdentityFile {farm.identity_file}\n  ForwardAgent yes\n")
    with SSHExecutor() as ex:
        t = ex.target("box")
        assert (t.hostname, t.port, t.user) == (node.address, node.port, farm.user)
        res = ex.run("box", ["sh", "-c", 'echo "$SSH_CONNECTION"'])
    assert res.ok and res.stdout.split()[2:] == [node.address, str(node.port)]


def test_proxy_jump_reaches_a_node_only_the_gateway_can_see(make_lab, farmhand_home: Path) -> None:  # type: ignore[no-untyped-def]
    farm: LocalFarm = make_lab(n=2)
    farm.trust()
    a, b = farm.nodes
    # render02 accepts SSH only from render01: a direct connection is silently dropped.
    farm.run_on_node_checked(b.name, ["iptables", "-A", "INPUT", "-p", "tcp", "--dport", "22",
                                      "!", "-s", a.address, "-j", "DROP"])
    _config(f"Host {b.address}\n  ProxyJump {a.address}\n"
            f"Host *\n  IdentityFile {farm.identity_file}\n  User {farm.user}\n")
    with farm.inside(), SSHExecutor() as ex:
        res = ex.run(b.address, ["sh", "-c", 'echo "$SSH_CONNECTION"'])
        assert res.ok and res.stdout.split()[0] == a.address  # the session came from the gateway
    _config(f"Host *\n  IdentityFile {farm.identity_file}\n")
    from farmhand.ssh import Timeouts

    with farm.inside(), SSHExecutor(timeouts=Timeouts(connect=0.5)) as ex, \
            pytest.raises(NodeUnreachable, match="no answer"):
        ex.run(b.address, ["true"])


def test_proxy_command(make_lab, farmhand_home: Path) -> None:  # type: ignore[no-untyped-def]
    farm: LocalFarm = make_lab(n=2)
    farm.trust()
    a, b = farm.nodes
    ssh = (f"ssh -q -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
           f"-i {farm.identity_file} -l {farm.user}")
    _config(f"Host far\n  HostName {b.address}\n  ProxyCommand {ssh} -W %h:%p {a.address}\n"
            f"  IdentityFile {farm.identity_file}\n")
    with farm.inside(), SSHExecutor() as ex:
        res = ex.run("far", ["sh", "-c", 'echo "$SSH_CONNECTION"'])
    assert res.ok and res.stdout.split()[0] == a.address


def test_agent_is_used_but_never_forwarded(make_lab, farmhand_home: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    farm: LocalFarm = make_lab(n=1)
    farm.trust()
    sock = tmp_path / "agent.sock"
    agent = subprocess.run(["ssh-agent", "-a", str(sock), "-s"], capture_output=True, text=True, check=True)
    pid = int(agent.stdout.split("SSH_AGENT_PID=")[1].split(";")[0])
    try:
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(farm.identity_file)], env=env, check=True, capture_output=True)
        os.environ["SSH_AUTH_SOCK"] = str(sock)
        # No IdentityFile anywhere: the only way in is the agent's key. ForwardAgent is ignored.
        _config("Host *\n  ForwardAgent yes\n")
        with farm.inside(), SSHExecutor() as ex:
            res = ex.run(farm.nodes[0].address, ["sh", "-c", 'echo "agent=${SSH_AUTH_SOCK:-none}"'])
        assert res.ok and res.stdout.strip() == "agent=none"
    finally:
        del os.environ["SSH_AUTH_SOCK"]
        os.kill(pid, signal.SIGTERM)


def test_default_identity_files_like_ssh(make_lab, farmhand_home: Path) -> None:  # type: ignore[no-untyped-def]
    # No IdentityFile, no agent: ssh would offer ~/.ssh/id_ed25519, and so must Farmhand. A
    # passphrase-protected id_rsa before it in OpenSSH's order is skipped, not fatal.
    farm: LocalFarm = make_lab(n=1, mode="loopback")
    node = farm.nodes[0]
    farm.trust()
    ssh_dir = Path(os.path.expanduser("~/.ssh"))
    (ssh_dir / "id_ed25519").write_bytes(farm.identity_file.read_bytes())
    (ssh_dir / "id_ed25519").chmod(0o600)
    subprocess.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "pw", "-f", str(ssh_dir / "id_rsa")],
                   check=True, capture_output=True)
    _config(f"Host box\n  HostName {node.address}\n  Port {node.port}\n  User {farm.user}\n")
    with SSHExecutor() as ex:
        assert ex.target("box").identity_files == (str(ssh_dir / "id_rsa"), str(ssh_dir / "id_ed25519"))
        assert ex.run("box", ["true"]).ok
    (ssh_dir / "id_ed25519").unlink()
    with SSHExecutor() as ex, pytest.raises(AuthFailed, match="id_rsa is passphrase-protected: load it into"):
        ex.run("box", ["true"])


def _established_from(farm: LocalFarm, node: str) -> list[str]:
    """Peer addresses of the SSH connections the node's sshd holds right now."""
    out = farm.run_on_node_checked(node, ["ss", "-Htn", "state", "established", "( sport = :22 )"])
    return sorted(line.split()[-1].rsplit(":", 1)[0] for line in out.splitlines() if line.strip())


def test_proxy_jump_chain_uses_every_hop_and_keeps_the_jumps(make_lab, farmhand_home: Path) -> None:  # type: ignore[no-untyped-def]
    farm: LocalFarm = make_lab(n=3)
    farm.trust()
    a, b, c = farm.nodes
    # c accepts SSH only from b, b only from a: the only way to c is a, then b.
    for node, via in ((c, b), (b, a)):
        farm.run_on_node_checked(node.name, ["iptables", "-A", "INPUT", "-p", "tcp", "--dport", "22",
                                             "!", "-s", via.address, "-j", "DROP"])
    _config(f"Host far\n  HostName {c.address}\n  ProxyJump {a.address},{b.address}\n"
            f"Host *\n  IdentityFile {farm.identity_file}\n  User {farm.user}\n")
    with farm.inside(), SSHExecutor() as ex:
        res = ex.run("far", ["sh", "-c", 'echo "$SSH_CONNECTION"'])
        assert res.ok and res.stdout.split()[0] == b.address  # the last hop carried the session
        assert _established_from(farm, b.name) == [a.address]  # and b was reached through a
        jumps = ex.connections.jump_hosts
        first_hop = ex.connection(a.address)
        # Reconnecting the node (dropped, or its connection found dead) reuses both jump connections.
        for _ in range(3):
            ex.drop("far")
            assert ex.run("far", ["true"]).ok
            ex.connection("far").close()
            assert ex.run("far", ["echo", "back"]).stdout == "back\n"
        assert ex.connections.jump_hosts == jumps and ex.connection(a.address) is first_hop
        assert _established_from(farm, a.name) == [GATEWAY]
        assert _established_from(farm, b.name) == [a.address]


def test_include_match_patterns_and_tokens_against_the_lab(make_lab, farmhand_home: Path) -> None:  # type: ignore[no-untyped-def]
    farm: LocalFarm = make_lab(n=3)
    farm.trust()
    a, b, c = farm.nodes
    ssh_dir = Path(os.path.expanduser("~/.ssh"))
    (ssh_dir / "farm.d").mkdir()
    (ssh_dir / "farm.d" / "third.conf").write_text(f"Host third\n  HostName {c.address}\n")
    ssh = (f"ssh -q -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
           f"-i {farm.identity_file} -l {farm.user}")
    _config(f"Include {ssh_dir}/farm.d/*.conf\n"
            "Host 1?\n  HostName 10.77.0.%h\n"                          # 11 -> 10.77.0.11
            f"Match host {b.address}\n  ProxyCommand {ssh} -W %h:%p {a.address}\n"
            f"Host *\n  IdentityFile {farm.identity_file}\n  User {farm.user}\n")
    with farm.inside(), SSHExecutor() as ex:
        def came_from(host: str) -> str:
            res = ex.run(host, ["sh", "-c", 'echo "$SSH_CONNECTION"'])
            assert res.ok, res
            return res.stdout.split()[0]

        assert came_from("11") == GATEWAY  # Host pattern + %h
        assert came_from("12") == a.address  # Match host after HostName; %h/%p in ProxyCommand
        assert came_from("third") == GATEWAY  # defined only in an included file
