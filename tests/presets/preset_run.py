"""A renderer's output read as the dispatcher reads it (line parser, failure classification, finish), and a
preset's command run locally (no SSH) to produce that output."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from typing import Optional

from farmhand.frames import Frame
from farmhand.presets import CommandContext, Preset
from farmhand.presets.failures import Failure, classify
from farmhand.presets.progress import Event, LineParser

#: How many last lines of output the classifier reads, as the dispatcher passes them.
TAIL = 40


def read_output(
    preset: Preset,
    lines: Sequence[tuple[str, str]],
    exit_code: Optional[int],
    sig: Optional[int] = None,
    *,
    frames: Sequence[Frame] = (),
    alf_scope: Optional[str] = None,
) -> tuple[LineParser, Optional[Failure], list[Event]]:
    """Feed ``(stream, line)`` pairs to a fresh parser, classify the exit and finish.

    Returns (parser, failure or None, every event the parser gave)."""
    parser = LineParser(preset, frames=frames, alf_scope=alf_scope)
    events = [e for stream, line in lines for e in parser.feed(stream, line)]
    failure = classify(preset.error_rules, exit_code, sig, parser.errors, [line for _, line in lines][-TAIL:])
    events += parser.finish(failure is None)
    return parser, failure, events


def run_preset(
    preset: Preset,
    ctx: CommandContext,
    *,
    frames: Sequence[Frame] = (),
    timeout: float = 60,
    env: Optional[Mapping[str, str]] = None,
) -> tuple[subprocess.CompletedProcess[str], LineParser, Optional[Failure], list[Event]]:
    """Run ``preset``'s command for ``ctx`` here and read its output: (process, parser, failure, events)."""
    proc = subprocess.run(preset.command(ctx), capture_output=True, text=True, timeout=timeout,
                          env=dict(env) if env is not None else None, check=False)
    lines = [("out", line) for line in proc.stdout.splitlines()]
    lines += [("err", line) for line in proc.stderr.splitlines()]
    code = proc.returncode if proc.returncode >= 0 else None
    sig = -proc.returncode if proc.returncode < 0 else None
    return (proc, *read_output(preset, lines, code, sig, frames=frames))
