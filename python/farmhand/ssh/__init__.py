"""Farmhand's SSH layer (paramiko): the :class:`farmhand.remote.Executor` implementation.

    from farmhand.ssh import SSHExecutor, fan_out
    with SSHExecutor(identity="~/.ssh/farm_ed25519") as ex:          # or resolve=registry.target
        res = ex.run("render01", ["hostname"])                        # RunResult(host, exit_code, ...)
        proc = ex.start("render01", ["hrender", ...], on_line=cb)     # SSHProcess; proc.wait_pgid()
        proc.close()                                                  # remote watchdog kills the group
        ex.kill_group("render01", pgid)                               # TERM, then KILL after a grace
        results = fan_out(hosts, lambda h: ex.run(h, ["uptime"]))     # host -> result | exception
        pool = ThreadPoolExecutor(max_workers=pool_size())            # grows with the farm, no fixed cap
        info = ex.fetch_host_key("render05"); ex.trust(info)          # `farmhand nodes trust`

Errors are :mod:`farmhand.errors` types naming the host: NodeUnreachable, AuthFailed, HostKeyUnknown,
HostKeyChanged, HostKeyRevoked, NodeError (e.g. "port 22 answers but not with SSH").
"""

from __future__ import annotations

from farmhand.ssh.connect import Timeouts
from farmhand.ssh.executor import SSHExecutor
from farmhand.ssh.fanout import FanOut, fan_out, pool_size
from farmhand.ssh.hostkeys import HostKeyInfo, HostKeyRevoked, HostKeyStore, fingerprint
from farmhand.ssh.process import SSHProcess
from farmhand.ssh.quoting import posix_join, powershell_join, powershell_quote
from farmhand.ssh.target import Target, resolve

__all__ = [
    "FanOut", "HostKeyInfo", "HostKeyRevoked", "HostKeyStore", "SSHExecutor", "SSHProcess", "Target",
    "Timeouts", "fan_out", "fingerprint", "pool_size", "posix_join", "powershell_join", "powershell_quote",
    "resolve",
]
