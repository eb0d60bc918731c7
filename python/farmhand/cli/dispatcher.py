"""`farmhand dispatcher`: run the dispatcher in the foreground, or ask the running one to stop.

The one command outside :mod:`farmhand.client` that imports the engine: it *is* the dispatcher process.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from farmhand.cli import args as types
from farmhand.client import Client


def register(sub: Any) -> None:
    p = types.command(sub, "dispatcher", "run the dispatcher in the foreground (job commands start it too)",
                      "farmhand dispatcher", "farmhand dispatcher --stop")
    p.add_argument("--quiet-if-running", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--stop", action="store_true", help="ask the running dispatcher to exit")
    p.set_defaults(func=_dispatcher)


def _dispatcher(args: argparse.Namespace) -> int:
    from farmhand.engine import process as dispatcher_process

    if args.stop:
        if not Client(autostart=False).stop_dispatcher():
            print("farmhand: the dispatcher did not stop in time; see dispatcher.log in FARMHAND_HOME",
                  file=sys.stderr)
            return 1
        print("dispatcher stopped")
        return 0
    return dispatcher_process.serve(quiet_if_running=args.quiet_if_running)
