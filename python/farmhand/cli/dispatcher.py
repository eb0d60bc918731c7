"""`farmhand dispatcher`: run the dispatcher in the foreground, or ask the running one to stop.

The one command outside :mod:`farmhand.client` that imports the engine: it *is* the dispatcher process.
"""

from __future__ import annotations

import argparse
from typing import Any

from farmhand.client import Client


def register(sub: Any) -> None:
    p = sub.add_parser("dispatcher", help="run the dispatcher in the foreground")
    p.add_argument("--quiet-if-running", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--stop", action="store_true", help="ask the running dispatcher to exit")
    p.set_defaults(func=_dispatcher)


def _dispatcher(args: argparse.Namespace) -> int:
    from farmhand.engine import process as dispatcher_process

    if args.stop:
        stopped = Client(autostart=False).stop_dispatcher()
        print("dispatcher stopped" if stopped else "dispatcher did not stop in time")
        return 0 if stopped else 1
    return dispatcher_process.serve(quiet_if_running=args.quiet_if_running)
