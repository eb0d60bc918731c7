"""The ``farmhand`` command line.

Each command group lives in its own module with a ``register(subparsers)`` function that adds its
parsers and sets ``func`` (taking the parsed namespace, returning an exit code).
Errors that Farmhand raises on purpose become one line on stderr and a non-zero exit (2 for bad input,
1 for everything else); anything else is a bug and keeps its traceback. Messages may quote remote text
(a node's error, a banner), so they are printed through :func:`farmhand.display.safe_text`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Optional

from farmhand import __version__
from farmhand.display import safe_text
from farmhand.errors import FarmhandError, UsageError

COMMAND_MODULES = (
    "farmhand.cli.scan",
    "farmhand.cli.nodes",
    "farmhand.cli.farm",  # after nodes: it adds 'nodes tag/untag/tags'
    "farmhand.cli.shares",
    "farmhand.cli.jobs",
    "farmhand.cli.lifecycle",
    "farmhand.cli.logs",
    "farmhand.cli.dispatcher",
    "farmhand.cli.demo",
    "farmhand.cli.monitor",
)


EXAMPLES = """\
examples:
  farmhand scan 10.0.0.0/24                 find SSH servers; they become "discovered" nodes
  farmhand nodes trust render01             check the host key fingerprint and trust it
  farmhand nodes probe                      inventory every trusted, enabled node
  farmhand submit --preset hrender --file /share/shot010/shot010_v012.hip --rop /out/mantra1 \\
                  --frames 1-240 --output '/share/shot010/render/beauty.$F4.exr'
  farmhand status 1 -f                      live per-node progress (Ctrl-C leaves the job running)
  farmhand logs 1 -f                        follow the renderer output

'farmhand COMMAND --help' shows each command's options and examples."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's default prints usage and exits 2; keep the exit code but make it one clear line.
        self.exit(2, f"farmhand: error: {safe_text(message)} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="farmhand", description="Agentless SSH render farm for Houdini.", epilog=EXAMPLES,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"farmhand {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


#: Options whose value may start with "-" (negative frames: ``--frames -10--1``); argparse would
#: otherwise read such a value as another option.
_DASH_VALUE_OPTIONS = ("--frames",)


def _join_dash_values(argv: Sequence[str]) -> list[str]:
    out: list[str] = []
    items = list(argv)
    i = 0
    while i < len(items):
        item = items[i]
        if item in _DASH_VALUE_OPTIONS and i + 1 < len(items) and items[i + 1].startswith("-"):
            out.append(f"{item}={items[i + 1]}")
            i += 2
            continue
        out.append(item)
        i += 1
    return out


def _parse(argv: Sequence[str]) -> argparse.Namespace | int:
    """The parsed arguments, or the exit status argparse chose (0 after --help, 2 after an error)."""
    try:
        return build_parser().parse_args(_join_dash_values(argv))
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else 2


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if isinstance(args, int):
        return args
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    # paramiko logs whole tracebacks for errors we translate and report ourselves.
    logging.getLogger("paramiko").setLevel(logging.CRITICAL if args.verbose < 2 else logging.DEBUG)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"farmhand: {safe_text(exc.message)}", file=sys.stderr)
        return 2
    except FarmhandError as exc:
        print(f"farmhand: {safe_text(exc.message)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("farmhand: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` or a closed pager: stop quietly, as other Unix tools do. Point stdout
        # at /dev/null so the interpreter's final flush does not report the same broken pipe again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
