"""`farmhand shares [set|rm]`: fair-share weights on a farm database (a wrangler's setting).

Among jobs of equal priority each account (a user, or a project with a weight of its own) holds nodes
in proportion to its weight; everyone without one has weight 1. Artists may list the weights; the
database lets only wranglers change them (docs/team.md, "Fair share").
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from farmhand import labels
from farmhand.cli import args as types
from farmhand.cli.farm import checked
from farmhand.client import Client
from farmhand.display import safe_text
from farmhand.jobs import to_jsonable

__all__ = ["register"]


def register(sub: Any) -> None:
    shares = types.command(sub, "shares", "fair-share weights of users and projects on a farm database",
                           "farmhand shares\nfarmhand shares set alice 2\nfarmhand shares set --project "
                           "show_x 3\nfarmhand shares rm alice")
    shares.add_argument("--json", action="store_true", help="machine-readable output")
    shares.set_defaults(func=_list)
    ssub = shares.add_subparsers(dest="shares_command", metavar="COMMAND")
    p = types.command(ssub, "set", "give a user or a project a weight (1 is an even share)",
                      "farmhand shares set alice 2")
    p.add_argument("name", type=checked(labels.account), help="the user's database login, or the project")
    p.add_argument("weight", type=checked(labels.share_weight),
                   help="the weight: 2 is twice an even share, 0.5 half")
    _common(p)
    p.set_defaults(func=_set)
    p = types.command(ssub, "preempt", "let dispatchers stop running chunks to give nodes to users below "
                      "their share (off by default: only free nodes are handed out)",
                      "farmhand shares preempt on")
    p.add_argument("state", choices=("on", "off"), help="on: chunks may be stopped; off: never")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_preempt)
    p = types.command(ssub, "rm", "back to an even share", "farmhand shares rm alice")
    p.add_argument("name", type=checked(labels.account), help="the user's database login, or the project")
    _common(p)
    p.set_defaults(func=_rm)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--project", action="store_true", help="NAME is a project (FARMHAND_PROJECT), not a user")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _kind(args: argparse.Namespace) -> str:
    return "project" if args.project else "user"


def _list(args: argparse.Namespace) -> int:
    client = Client(autostart=False)
    found = client.shares()
    preempt = client.preempting()
    if args.json:
        print(json.dumps({"shares": to_jsonable(found), "preempt": preempt}))
        return 0
    if not found:
        print("no weights set: every user and project has an even share (weight 1)")
    else:
        print(f"{'KIND':<8} {'NAME':<24} WEIGHT")
        for share in found:
            print(f"{share.kind:<8} {safe_text(share.name):<24} {share.weight:g}")
    print("pre-emption: " + ("on (running chunks may be stopped to give users their share)" if preempt else
                             "off (only free nodes are handed out)"))
    return 0


def _preempt(args: argparse.Namespace) -> int:
    on = args.state == "on"
    Client(autostart=False).set_preempting(on)
    print(json.dumps({"preempt": on}) if args.json else f"pre-emption for fair share: {args.state}")
    return 0


def _set(args: argparse.Namespace) -> int:
    share = Client(autostart=False).set_share(_kind(args), args.name, args.weight)
    if args.json:
        print(json.dumps(to_jsonable(share)))
    else:
        print(f"{share.kind} {safe_text(share.name)}: weight {share.weight:g}")
    return 0


def _rm(args: argparse.Namespace) -> int:
    gone = Client(autostart=False).remove_share(_kind(args), args.name)
    if args.json:
        print(json.dumps({"removed": gone}))
    else:
        print(f"{_kind(args)} {safe_text(args.name)}: " + ("back to an even share" if gone else
                                                          "had no weight of its own"))
    return 0
