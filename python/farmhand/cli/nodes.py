"""`farmhand nodes list|add|rm|enable|disable|trust|probe|wake` (all with --json).

Everything a node reported (inventory strings, error notes, host names) is shown escaped
(:func:`farmhand.ssh.quoting.printable`): a node must not be able to drive the artist's terminal.
JSON output escapes control characters by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from typing import Any

from farmhand.errors import UsageError
from farmhand.nodes import actions as nodeops
from farmhand.nodes.inventory import Inventory
from farmhand.nodes.registry import Node, NodeState, Registry, display_names
from farmhand.ssh import SSHExecutor, Target
from farmhand.ssh.quoting import printable


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
    p.add_argument("--share", default=nodeops.default_share(),
                   help="report free space of this path on each node (default $FARMHAND_SHARE)")
    p.add_argument("--houdini-root", action="append", default=[], metavar="DIR",
                   help="extra directory holding hfs* installs (repeatable; also $FARMHAND_HOUDINI_ROOTS)")
    p.add_argument("--timeout", type=float, default=nodeops.PROBE_TIMEOUT,
                   help="seconds each node's inventory may take (default %(default)s)")
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


def _summary(n: Node, shown: str) -> str:
    inv = Inventory.from_dict(n.inventory) if n.inventory else None
    cores = f"{inv.cpus_logical}c" if inv else "-"
    ram = f"{inv.mem_total_mb / 1024:.0f}G" if inv else "-"
    hou = printable(",".join(h.version for h in inv.houdini), 60) if inv and inv.houdini else "-"
    seen = time.strftime("%m-%d %H:%M", time.localtime(n.last_seen)) if n.last_seen else "-"
    err = f"  ! {printable(n.last_error, 300)}" if n.last_error else ""
    return (f"{printable(shown):<18} {printable(n.address):<16} {n.state.value:<10} "
            f"{'yes' if n.enabled else 'no':<4} {cores:>5} {ram:>5}  {hou:<16} {seen}{err}")


def _list(args: argparse.Namespace) -> int:
    nodes = Registry().list()
    header = (f"{'NAME':<18} {'ADDRESS':<16} {'STATE':<10} {'ON':<4} {'CPU':>5} {'RAM':>5}  "
              f"{'HOUDINI':<16} SEEN")
    shown = display_names(nodes)
    text = "\n".join([header, *(_summary(n, shown[n.name]) for n in nodes)]) if nodes else \
        "no nodes yet: farmhand scan 10.0.0.0/24 or farmhand nodes add HOST"
    _out(args, [{**n.to_json(), "shown_as": shown[n.name]} for n in nodes], text)
    return 0


def _add(args: argparse.Namespace) -> int:
    node = nodeops.add(Registry(), args.name, args.address, port=args.port, user=args.user,
                       identity=args.identity)
    hint = "" if node.state is NodeState.TRUSTED else f"; next: farmhand nodes trust {node.name}"
    _out(args, node.to_json(), f"added {printable(node.name)} ({printable(node.address)}, "
                               f"{node.state.value}){printable(hint)}")
    return 0


def _rm(args: argparse.Namespace) -> int:
    node = nodeops.remove(Registry(), args.name)
    _out(args, node.to_json(), f"removed {printable(node.name)}")
    return 0


def _enable(args: argparse.Namespace) -> int:
    node = Registry().set_enabled(args.name, args.enabled)
    _out(args, node.to_json(), f"{printable(node.name)} {'enabled' if node.enabled else 'disabled'}")
    return 0


def _trust(args: argparse.Namespace) -> int:
    def confirm(key: nodeops.HostKeyCheck) -> bool:
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise UsageError(
                f"{printable(args.name)}: host key {key.shown} is not trusted; "
                "check it and re-run with --yes to trust it non-interactively")
        answer = input(f"{printable(args.name)} ({printable(key.info.host_key_name)}) host key {key.shown}\n"
                       "Trust this key? [y/N] ")
        return answer.strip().lower() in ("y", "yes")

    reg = Registry()
    with _executor(reg, args) as ex:
        node, key = nodeops.trust(reg, ex, args.name, confirm=confirm, port=args.port, user=args.user,
                                  identity=args.identity)
    data = {"node": node.to_json(), "fingerprint": key.info.fingerprint, "key_type": key.info.key_type,
            "already_trusted": key.trusted}
    _out(args, data, f"{printable(node.name)}: {key.shown} "
                     f"{'was already trusted' if key.trusted else 'trusted'}")
    return 0


def _probe(args: argparse.Namespace) -> int:
    if not args.timeout > 0:
        raise UsageError(f"invalid --timeout {args.timeout:g}: give the seconds one node may take, e.g. 30")
    reg = Registry()
    names = list(dict.fromkeys(args.names)) or [
        n.name for n in reg.list(enabled=True, state=NodeState.TRUSTED)]
    if not names:
        raise UsageError("no trusted, enabled nodes to probe: farmhand nodes trust HOST first, or name hosts")
    with _executor(reg, args) as ex:
        results = nodeops.probe(reg, ex, names, share=args.share,
                                extra_roots=nodeops.houdini_roots(args.houdini_root), timeout=args.timeout)
    data: dict[str, Any] = {}
    lines: list[str] = []
    failed = 0
    for name, res in results.items():
        if isinstance(res, BaseException):
            failed += 1
            msg = nodeops.error_message(name, res)
            print(f"farmhand: {printable(msg, 1000)}", file=sys.stderr)
            data[name] = {"error": msg}
            continue
        data[name] = res.to_dict()
        lines.append(_probe_line(name, res))
    _out(args, data, "\n".join(lines))
    return 1 if failed else 0


def _probe_line(name: str, res: Inventory) -> str:
    """One node's inventory on one line; every string in it came from the node."""
    hou = ", ".join(h.version for h in res.houdini) or "none"
    gpus = ", ".join(g.name for g in res.gpus) or "no GPU"
    share = f"; share free {res.share_free_mb / 1024:.1f}G" if res.share_free_mb is not None else ""
    return (f"{printable(name):<18} {printable(res.hostname, 64):<16} {printable(res.os, 32):<7} "
            f"{printable(res.arch, 32):<7} {res.cpus_logical:>3}c/{res.cpus_physical}p "
            f"{res.mem_total_mb / 1024:5.1f}G  {printable(gpus, 200)}; Houdini: {printable(hou, 200)}{share}")


def _wake(args: argparse.Namespace) -> int:
    node, macs, sent = nodeops.wake(Registry(), args.name, args.broadcast)
    _out(args, {"node": node.name, "macs": macs, "sent_to": sent},
         f"wake packet for {printable(node.name)} ({printable(', '.join(macs))}) sent to {', '.join(sent)}")
    return 0
