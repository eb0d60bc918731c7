"""`farmhand logs JOB`: a job's renderer output or the dispatcher's decisions, once or followed (``-f``).

Everything printed here was written by a renderer, a node or the dispatcher about them, so each line
passes through :func:`farmhand.display.safe_text`: an escape sequence in a render log is shown, never
obeyed by the terminal. ``--json`` prints one JSON array, or with ``-f`` one JSON object per line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any, Optional

from farmhand.cli import args as types
from farmhand.client import Client
from farmhand.display import safe_text
from farmhand.frames import Frame, format_frame
from farmhand.jobs import Event, LogLine, to_jsonable

#: Seconds between two reads while following a job that has nothing new.
FOLLOW_SECONDS = 0.5


def register(sub: Any) -> None:
    p = types.command(sub, "logs", "renderer output of a job (or, with --events, the dispatcher's decisions)",
                      "farmhand logs 7", "farmhand logs 7 --node render02 --frame 1012",
                      "farmhand logs 7 -f", "farmhand logs 7 --events --json")
    p.add_argument("job", metavar="JOB", type=types.job_id, help="job id (see 'farmhand jobs')")
    p.add_argument("--node", help="only this node")
    p.add_argument("--frame", type=types.frame, help="only lines written while this frame rendered")
    p.add_argument("--events", action="store_true",
                   help="the dispatcher's decisions instead of renderer output")
    p.add_argument("--follow", "-f", action="store_true",
                   help="keep printing new lines until the job ends (Ctrl-C stops only the following)")
    p.add_argument("--json", action="store_true", help="JSON: one array, or one object per line with -f")
    p.set_defaults(func=run)


def log_text(line: LogLine) -> str:
    frame = "" if line.frame is None else format_frame(line.frame)
    return f"{safe_text(line.node)} [{frame:>5}] {safe_text(line.text)}"


def event_text(e: Event) -> str:
    where = " ".join(
        x for x in (safe_text(e.node), "" if e.frame is None else f"frame {format_frame(e.frame)}") if x)
    stamp = time.strftime("%H:%M:%S", time.localtime(e.time))
    return f"{stamp} {safe_text(e.kind):<14} {where:<22} {safe_text(e.message)}"


def run(args: argparse.Namespace) -> int:
    client = Client(autostart=False)
    if args.follow:
        try:
            _follow(client, args)
        except KeyboardInterrupt:
            return 130
        return 0
    items: Sequence[Any] = (client.events(args.job, limit=100000) if args.events
                            else client.logs(args.job, args.node, args.frame))
    if args.json:
        print(json.dumps([to_jsonable(item) for item in items]))
    else:
        _print(items, args)
    if not items and not args.events:
        _say_why_empty(client, args)
    return 0


def _print(items: Iterable[Any], args: argparse.Namespace) -> None:
    for item in items:
        if args.json:
            print(json.dumps(to_jsonable(item)), flush=True)
        else:
            print(event_text(item) if args.events else log_text(item), flush=True)


def _say_why_empty(client: Client, args: argparse.Namespace) -> None:
    """A mistyped node or frame looks the same as a silent renderer: say which it is."""
    snap = client.job(args.job, events=0)
    nodes = sorted({f.node for f in snap.frames if f.node and f.node != "-"})
    filters: list[str] = []
    if args.node:
        filters.append(f"node {safe_text(args.node)!r}")
    if args.frame is not None:
        filters.append(f"frame {format_frame(args.frame)}")
    print(f"farmhand: no renderer output for job {args.job}"
          + (f" on {' and '.join(filters)}" if filters else " yet")
          + (f"; nodes that rendered it: {', '.join(safe_text(n) for n in nodes)}" if args.node and nodes
             else ""), file=sys.stderr)


class _NewLines:
    """Which of a growing log's lines were not printed yet, per node (each node's file only grows)."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def take(self, lines: Sequence[LogLine]) -> list[LogLine]:
        by_node: dict[str, list[LogLine]] = {}
        for line in lines:
            by_node.setdefault(line.node, []).append(line)
        fresh: list[LogLine] = []
        for node, mine in by_node.items():
            fresh.extend(mine[self.seen.get(node, 0):])
            self.seen[node] = len(mine)
        fresh.sort(key=lambda line: line.time)
        return fresh


def _follow(client: Client, args: argparse.Namespace) -> None:
    """Print what is new until the job has ended and its last lines are out."""
    logs, last_event = _NewLines(), 0
    frame: Optional[Frame] = args.frame
    while True:
        finished = client.job(args.job, events=0).state.finished
        if args.events:
            events = client.events(args.job, since=last_event, limit=100000)
            if events:
                last_event = events[-1].id
            _print(events, args)
        else:
            _print(logs.take(client.logs(args.job, args.node, frame)), args)
        if finished:  # read once more after the end, so nothing written just before it is missed
            return
        time.sleep(FOLLOW_SECONDS)
