"""`farmhand nodes tag|untag|tags`, `farmhand limits set|list|rm`, `farmhand power set|list|rm`.

Tags name groups of nodes (a job asks ``submit --group gpu``); limits are named counters with a capacity
that running chunks hold (``submit --limit karma``); power rules say which idle nodes Farmhand may put
to sleep and wake again. Names are checked by :mod:`farmhand.labels`; every command takes ``--json``.
"""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import dataclass
from typing import Any, Callable, Optional

from farmhand import labels
from farmhand.cli import args as types
from farmhand.client import Client
from farmhand.display import format_duration, safe_text
from farmhand.errors import UsageError
from farmhand.jobs import JobSpec, to_jsonable
from farmhand.nodes.power import DEFAULT_BOOT_TIMEOUT, DEFAULT_RETRY, PowerRule
from farmhand.nodes.registry import NodeState, Registry
from farmhand.nodes.tags import auto_tags, group_names

__all__ = ["checked", "job_farm_line", "register"]

WEEK = 7 * 24 * 3600.0  # longest idle time, boot timeout or retry the CLI takes


def checked(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type`` from a :mod:`farmhand.labels` check (its message becomes argparse's)."""

    def check(text: str) -> Any:
        try:
            return parse(text)
        except UsageError as exc:
            raise argparse.ArgumentTypeError(exc.message) from None

    check.__name__ = getattr(parse, "__name__", "value").replace("_", " ")
    return check


def _subcommands(parser: argparse.ArgumentParser) -> Any:
    # argparse has no public way back to a parser's sub-commands; 'nodes' is built by farmhand.cli.nodes.
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def register(sub: Any) -> None:
    _register_tags(_subcommands(sub.choices["nodes"]))
    _register_limits(sub)
    _register_power(sub)


def _register_tags(nsub: Any) -> None:
    for name, summary, func in (("tag", "give a node tags (groups a job can ask for)", _tag),
                                ("untag", "take tags away from a node", _untag)):
        p = types.command(nsub, name, summary, f"farmhand nodes {name} render01 gpu lookdev")
        p.add_argument("node", metavar="HOST", help="the node (name or address)")
        p.add_argument("tags", nargs="+", metavar="TAG", type=checked(labels.tag),
                       help="letters, digits, '.', '_', '+', '-' (e.g. gpu, lookdev, fast)")
        p.add_argument("--json", action="store_true", help="the node's tags as JSON")
        p.set_defaults(func=func)
    p = types.command(nsub, "tags", "each node's tags (from its inventory and by hand) and the groups "
                      "that exist", "farmhand nodes tags", "farmhand nodes tags render01 --json")
    p.add_argument("nodes", nargs="*", metavar="HOST", help="these nodes (default: every node)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_tags)


def _register_limits(sub: Any) -> None:
    limits = types.command(sub, "limits", "named counters with a capacity that running chunks hold "
                           "(licence seats)", "farmhand limits set karma 4", "farmhand limits list")
    lsub = limits.add_subparsers(dest="limits_command", metavar="ACTION")
    lsub.required = True
    p = types.command(lsub, "set", "create a limit or change its capacity", "farmhand limits set karma 4",
                      "farmhand limits set gpu 1 --per-node")
    p.add_argument("name", metavar="NAME", type=checked(labels.limit_name), help="the limit (e.g. karma)")
    p.add_argument("capacity", metavar="N", type=types.count(0, labels.MAX_CAPACITY),
                   help="how many chunks may hold it at once (0 holds every job that takes it)")
    p.add_argument("--per-node", action="store_true", help="the capacity is per node, not for the farm")
    p.add_argument("--json", action="store_true", help="the limit as JSON")
    p.set_defaults(func=_limit_set)
    p = types.command(lsub, "list", "every limit, how many are in use and how many jobs wait",
                      "farmhand limits list")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_limit_list)
    p = types.command(lsub, "rm", "remove a limit (jobs taking it are no longer held by it)",
                      "farmhand limits rm karma")
    p.add_argument("name", metavar="NAME", type=checked(labels.limit_name), help="the limit to remove")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_limit_rm)


def _scope_options(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every node")
    which.add_argument("--node", metavar="HOST", help="one node")
    which.add_argument("--group", metavar="TAG", type=checked(labels.tag), help="the nodes with this tag")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _register_power(sub: Any) -> None:
    power = types.command(sub, "power", "put idle nodes to sleep and wake them when jobs need them",
                          "farmhand power set --all --idle 1800 --command 'systemctl suspend'",
                          "farmhand power list")
    psub = power.add_subparsers(dest="power_command", metavar="ACTION")
    psub.required = True
    p = types.command(psub, "set", "let Farmhand put idle nodes to sleep (off until you set a rule)",
                      "farmhand power set --all --idle 1800 --command 'systemctl suspend'",
                      "farmhand power set --group workstations --idle 3600 "
                      "--command 'sudo -n systemctl suspend' --boot-timeout 180")
    _scope_options(p)
    p.add_argument("--idle", type=types.seconds(WEEK), required=True, metavar="SECONDS",
                   help="seconds with nothing to do before a node is put to sleep")
    p.add_argument("--command", required=True, metavar="CMD",
                   help="what puts the node to sleep, run over SSH as separate arguments (never by a shell)")
    p.add_argument("--boot-timeout", type=types.seconds(WEEK), default=DEFAULT_BOOT_TIMEOUT,
                   metavar="SECONDS", help="how long a woken node has to answer SSH (default %(default)g)")
    p.add_argument("--retry", type=types.seconds(WEEK), default=DEFAULT_RETRY, metavar="SECONDS",
                   help="when to wake again a node that did not wake (default %(default)g)")
    p.set_defaults(func=_power_set)
    p = types.command(psub, "list", "power rules and each managed node's state", "farmhand power list")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_power_list)
    p = types.command(psub, "rm", "stop putting these nodes to sleep", "farmhand power rm --all")
    _scope_options(p)
    p.set_defaults(func=_power_rm)


def _out(args: argparse.Namespace, data: Any, text: str) -> int:
    if args.json:
        print(json.dumps(to_jsonable(data), indent=1, sort_keys=True))
    elif text:
        print(text)
    return 0


# --- tags ---------------------------------------------------------------------------------------------


def _tag(args: argparse.Namespace) -> int:
    return _retag(args, remove=False)


def _untag(args: argparse.Namespace) -> int:
    return _retag(args, remove=True)


def _retag(args: argparse.Namespace, remove: bool) -> int:
    registry = Registry()
    node = registry.tag(args.node, args.tags, remove=remove)
    manual = registry.manual_tags().get(node.name, ())
    data = {"node": node.name, "manual": list(manual), "inventory": sorted(auto_tags(node.inventory))}
    text = f"{safe_text(node.name)}: {' '.join(manual) or '(no tags given by hand)'}"
    return _out(args, data, text)


@dataclass(frozen=True)
class NodeTags:
    """One node's tags as ``farmhand nodes tags`` shows them."""

    node: str
    inventory: tuple[str, ...]  # read from its inventory
    manual: tuple[str, ...]  # given by hand
    used: bool  # trusted and enabled: its tags count as groups that exist


def _tags(args: argparse.Namespace) -> int:
    registry = Registry()
    manual = registry.manual_tags()
    nodes = [registry.get(n) for n in args.nodes] if args.nodes else registry.list()
    rows = [NodeTags(n.name, tuple(sorted(auto_tags(n.inventory))), manual.get(n.name, ()),
                     n.enabled and n.state is NodeState.TRUSTED) for n in nodes]
    groups = group_names((*r.inventory, *r.manual) for r in rows if r.used)
    lines = [f"{safe_text(r.node):<16} {' '.join(r.inventory) or '(not probed)'}"
             + (f"  + {' '.join(r.manual)}" if r.manual else "")
             + ("" if r.used else "  (not used: untrusted or disabled)") for r in rows]
    lines.append(f"groups: {', '.join(groups) or 'none'}; also cores>=N and ram>=N (GB)")
    return _out(args, {"nodes": rows, "groups": groups}, "\n".join(lines))


# --- limits -------------------------------------------------------------------------------------------


def _limit_set(args: argparse.Namespace) -> int:
    info = Client(autostart=False).farm.set_limit(args.name, args.capacity, per_node=args.per_node)
    where = " per node" if info.per_node else ""
    return _out(args, info, f"limit {info.name}: {info.capacity}{where}")


def _limit_list(args: argparse.Namespace) -> int:
    found = Client(autostart=False).farm.limits()
    lines = [f"{'LIMIT':<20} {'CAPACITY':>8} {'IN USE':>7} {'WAITING':>8}"] + [
        f"{i.name:<20} {i.capacity:>8} {i.in_use:>7} {i.waiting:>8}" + ("  per node" if i.per_node else "")
        for i in found]
    text = "\n".join(lines) if found else "no limits; create one with 'farmhand limits set NAME N'"
    return _out(args, found, text)


def _limit_rm(args: argparse.Namespace) -> int:
    Client(autostart=False).farm.remove_limit(args.name)
    return _out(args, {"removed": args.name}, f"limit {args.name} removed")


# --- power --------------------------------------------------------------------------------------------


def _scope(args: argparse.Namespace) -> str:
    if args.node:
        Registry().get(args.node)  # a typo in a node name is refused, not kept as a rule that never applies
        return f"node:{args.node}"
    return f"group:{args.group}" if args.group else "all"


def _power_set(args: argparse.Namespace) -> int:
    try:
        command = tuple(shlex.split(args.command))
    except ValueError as exc:
        raise UsageError(f"--command {args.command!r}: {exc}; check its quotes") from None
    rule = PowerRule(_scope(args), args.idle, command, boot_timeout=args.boot_timeout, retry=args.retry)
    Client(autostart=False).farm.set_power_rule(rule)
    text = (f"{rule.scope}: after {format_duration(rule.idle)} idle run {shlex.join(rule.command)}; "
            f"a woken node has {format_duration(rule.boot_timeout)} to answer SSH")
    return _out(args, rule, text)


def _power_list(args: argparse.Namespace) -> int:
    farm = Client(autostart=False).farm
    rules, states = farm.power_rules(), farm.node_power()
    lines = [f"{r.scope:<24} idle {format_duration(r.idle):>7}  boot {format_duration(r.boot_timeout):>6}  "
             f"{shlex.join(r.command)}" for r in rules]
    lines = lines or ["no power rules: Farmhand never puts a node to sleep"]
    lines += [f"  {safe_text(s.node):<16} {s.state.value:<12} {safe_text(s.message or '')}" for s in states]
    return _out(args, {"rules": rules, "nodes": states}, "\n".join(lines))


def _power_rm(args: argparse.Namespace) -> int:
    scope = _scope(args)
    Client(autostart=False).farm.remove_power_rule(scope)
    return _out(args, {"removed": scope}, f"power rule {scope} removed")


# --- a job's groups, limits and environment, for 'farmhand status' ------------------------------------


def job_farm_line(spec: JobSpec) -> Optional[str]:
    """``groups: gpu  limits: karma  env: OCIO=…`` for a job that has any, else None."""
    parts = []
    if spec.groups:
        parts.append(f"groups: {' '.join(spec.groups)}")
    if spec.limits:
        parts.append(f"limits: {' '.join(spec.limits)}")
    if spec.env:
        parts.append("env: " + " ".join(shlex.quote(f"{k}={v}") for k, v in spec.env))
    return safe_text("  ".join(parts)) if parts else None

