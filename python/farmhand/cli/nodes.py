"""`farmhand nodes list|add|rm|enable|disable|trust|probe|wake` (all with --json)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from typing import Any, Optional

from farmhand import wol
from farmhand.errors import FarmhandError, HostKeyUnknown, UsageError
from farmhand.inventory import Inventory, probe_many
from farmhand.registry import Node, NodeState, Registry
from farmhand.ssh import HostKeyStore, SSHExecutor, Target


def register(sub: Any) -> None:
    nodes = sub.add_parser("nodes", help="the render nodes Farmhand knows")
    nsub = nodes.add_subparsers(dest="nodes_command", metavar="ACTION")
    nsub.required = True

    def cmd(name: str, helptext: str, func: Any, ssh: bool = False) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = nsub.add_parser(name, help=helptext, description=helptext)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        if ssh:
            p.add_argument("--identity", "-i",
                           help="private key file (default: IdentityFile in ~/.ssh/config)")
            p.add_argument("--user", "-l", help="login user (default: User in ~/.ssh/config)")
            p.add_argument("--port", "-p", type=int, help="SSH port (default: Port in ~/.ssh/config, or 22)")
        p.set_defaults(func=func)
        return p

    cmd("list", "list known nodes", _list)
    p = cmd("add", "add a node (host name, ~/.ssh/config alias or address)", _add, ssh=True)
    p.add_argument("name")
    p.add_argument("--address", help="address to connect to, if NAME is only a label")
    p = cmd("rm", "remove a node (and Farmhand's record of its host key)", _rm)
    p.add_argument("name")
    for name, value in (("enable", True), ("disable", False)):
        p = cmd(name, f"{name} a node for rendering", _enable)
        p.add_argument("name")
        p.set_defaults(enabled=value)
    p = cmd("trust", "show a node's host key fingerprint and trust it", _trust, ssh=True)
    p.add_argument("name")
    p.add_argument("--yes", "-y", action="store_true", help="trust without asking (for scripts)")
    p = cmd("probe", "inventory nodes over SSH (default: every trusted, enabled node)", _probe, ssh=True)
    p.add_argument("names", nargs="*", metavar="HOST")
    p.add_argument("--share", default=os.environ.get("FARMHAND_SHARE", ""),
                   help="report free space of this path on each node (default $FARMHAND_SHARE)")
    p.add_argument("--houdini-root", action="append", default=[], metavar="DIR",
                   help="extra directory holding hfs* installs (repeatable; also $FARMHAND_HOUDINI_ROOTS)")
    p.add_argument("--timeout", type=float, default=30.0)
    p = cmd("wake", "send a Wake-on-LAN packet to a node's recorded MAC", _wake)
    p.add_argument("name")
    p.add_argument("--broadcast", action="append", default=[], metavar="ADDR",
                   help="broadcast address to send to (default: 255.255.255.255 and the node's subnet)")


def _out(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        json.dump(data, sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
    elif text:
        print(text)


def _executor(reg: Registry, args: argparse.Namespace) -> SSHExecutor:
    def resolve(host: str) -> Target:
        t = reg.target(host)
        if args.user:
            t = replace(t, user=args.user)
        if args.port:
            t = replace(t, port=args.port)
        if args.identity:
            t = replace(t, identity_files=(os.path.expanduser(args.identity),), explicit_identity=True)
        return t

    return SSHExecutor(resolve=resolve)


def _summary(n: Node) -> str:
    inv = Inventory.from_dict(n.inventory) if n.inventory else None
    cores = f"{inv.cpus_logical}c" if inv else "-"
    ram = f"{inv.mem_total_mb / 1024:.0f}G" if inv else "-"
    hou = ",".join(h.version for h in inv.houdini) if inv and inv.houdini else "-"
    seen = time.strftime("%m-%d %H:%M", time.localtime(n.last_seen)) if n.last_seen else "-"
    err = f"  ! {n.last_error}" if n.last_error else ""
    return (f"{n.name:<18} {n.address:<16} {n.state.value:<10} {'yes' if n.enabled else 'no':<4} "
            f"{cores:>5} {ram:>5}  {hou:<16} {seen}{err}")


def _list(args: argparse.Namespace) -> int:
    nodes = Registry().list()
    header = (f"{'NAME':<18} {'ADDRESS':<16} {'STATE':<10} {'ON':<4} {'CPU':>5} {'RAM':>5}  "
              f"{'HOUDINI':<16} SEEN")
    text = "\n".join([header, *(_summary(n) for n in nodes)]) if nodes else \
        "no nodes yet: farmhand scan 10.0.0.0/24 or farmhand nodes add HOST"
    _out(args, [n.to_json() for n in nodes], text)
    return 0


def _add(args: argparse.Namespace) -> int:
    reg = Registry()
    target = reg.target(args.name)
    address = args.address or target.hostname
    known = HostKeyStore().known_types(replace(target, hostname=address))
    state = NodeState.TRUSTED if known else NodeState.DISCOVERED
    node = reg.add(args.name, address, port=args.port, user=args.user, identity=args.identity, state=state)
    hint = "" if node.state is NodeState.TRUSTED else f"; next: farmhand nodes trust {node.name}"
    _out(args, node.to_json(), f"added {node.name} ({node.address}, {node.state.value}){hint}")
    return 0


def _rm(args: argparse.Namespace) -> int:
    reg = Registry()
    target = reg.target(args.name)
    node = reg.remove(args.name)
    HostKeyStore().forget(target)
    _out(args, node.to_json(), f"removed {node.name}")
    return 0


def _enable(args: argparse.Namespace) -> int:
    node = Registry().set_enabled(args.name, args.enabled)
    _out(args, node.to_json(), f"{node.name} {'enabled' if node.enabled else 'disabled'}")
    return 0


def _trust(args: argparse.Namespace) -> int:
    reg = Registry()
    with _executor(reg, args) as ex:
        info = ex.fetch_host_key(args.name)
        try:
            ex.host_keys.verify(ex.target(args.name), _pkey(info))
            already = True
        except HostKeyUnknown:
            already = False
        if not already:
            if not args.yes:
                if not sys.stdin.isatty():
                    raise UsageError(
                        f"{args.name}: host key {info.key_type} {info.fingerprint} is not trusted; "
                        "check it and re-run with --yes to trust it non-interactively")
                answer = input(f"{args.name} ({info.host_key_name}) host key {info.key_type} "
                               f"{info.fingerprint}\nTrust this key? [y/N] ")
                if answer.strip().lower() not in ("y", "yes"):
                    raise UsageError(f"{args.name}: not trusted (answered no)")
            ex.trust(info)
    existing = reg.find(args.name)
    if existing is None:
        node = reg.add(args.name, ex.target(args.name).hostname, port=args.port, user=args.user,
                       identity=args.identity, state=NodeState.TRUSTED)
    else:
        node = reg.set_state(existing.name, NodeState.TRUSTED)
    data = {"node": node.to_json(), "fingerprint": info.fingerprint, "key_type": info.key_type,
            "already_trusted": already}
    _out(args, data, f"{node.name}: {info.key_type} {info.fingerprint} "
         f"{'was already trusted' if already else 'trusted'}")
    return 0


def _pkey(info: Any) -> Any:
    import base64

    import paramiko

    return paramiko.PKey.from_type_string(info.key_type, base64.b64decode(info.key_base64))


def _probe(args: argparse.Namespace) -> int:
    reg = Registry()
    names = list(dict.fromkeys(args.names)) or [
        n.name for n in reg.list(enabled=True, state=NodeState.TRUSTED)]
    if not names:
        raise UsageError("no trusted, enabled nodes to probe: farmhand nodes trust HOST first, or name hosts")
    env_roots = os.environ.get("FARMHAND_HOUDINI_ROOTS", "").split(os.pathsep)
    roots = [*args.houdini_root, *filter(None, env_roots)]
    with _executor(reg, args) as ex:
        results = probe_many(ex, names, share=args.share, extra_roots=roots)
    data: dict[str, Any] = {}
    lines: list[str] = []
    failed = 0
    for name, res in results.items():
        node: Optional[Node] = reg.find(name)
        if isinstance(res, BaseException):
            failed += 1
            msg = res.message if isinstance(res, FarmhandError) else f"{name}: {res}"
            if node is not None:
                reg.record_error(node.name, msg)
            print(f"farmhand: {msg}", file=sys.stderr)
            data[name] = {"error": msg}
            continue
        if node is not None:
            node = reg.record_inventory(node.name, res.to_dict())
        data[name] = res.to_dict()
        hou = ", ".join(h.version for h in res.houdini) or "none"
        gpus = ", ".join(g.name for g in res.gpus) or "no GPU"
        share = f"; share free {res.share_free_mb / 1024:.1f}G" if res.share_free_mb is not None else ""
        lines.append(f"{name:<18} {res.hostname:<16} {res.os:<7} {res.arch:<7} {res.cpus_logical:>3}c/"
                     f"{res.cpus_physical}p {res.mem_total_mb / 1024:5.1f}G  {gpus}; Houdini: {hou}{share}")
    _out(args, data, "\n".join(lines))
    return 1 if failed else 0


def _wake(args: argparse.Namespace) -> int:
    node = Registry().get(args.name)
    macs, sent = wol.wake_node(node, args.broadcast)
    _out(args, {"node": node.name, "macs": macs, "sent_to": sent},
         f"wake packet for {node.name} ({', '.join(macs)}) sent to {', '.join(sent)}")
    return 0
