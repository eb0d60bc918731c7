"""The preset record and how it turns one chunk of work into an argv.

A preset is data: an argv template whose placeholders (``{file}``, ``{start}``, ...) are replaced by
values, plus the regular expressions that read the renderer's output. Nothing here ever builds a shell
line: every template element stays one argument, and the SSH layer quotes each one for the node.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import cached_property
from typing import Optional, Union

from farmhand.errors import ConfigError, UsageError
from farmhand.frames import Frame, contiguous_runs, format_frame, normalise, run_count, to_hash_padding
from farmhand.presets.failures import ErrorRules, FailureKind

#: One argv element, or an optional group (a tuple) that is left out when any placeholder in it has no value.
ArgTemplate = Union[str, tuple[str, ...]]

PLACEHOLDERS = ("file", "target", "start", "end", "step", "frame", "count", "output", "hfs", "farmhand")
FRAME_PLACEHOLDERS = frozenset({"start", "end", "step", "frame", "count"})

# What to tell the user when a required placeholder has no value.
_HINTS = {
    "file": "a scene file (--file)",
    "target": "a target such as a ROP path (--rop)",
    "output": "an output pattern (--output)",
    "hfs": "a Houdini install on the node (none found in its inventory)",
    "farmhand": "Farmhand's package directory as the node sees it (node-side scripts live in it)",
}

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


class PresetMode(str, Enum):
    CHUNK = "chunk"    # one process per chunk of frames
    WORKER = "worker"  # one persistent process per node, frames streamed to it (worker_protocol)


class ProgressScope(str, Enum):
    FRAME = "frame"  # each percentage is of the current frame (Mantra, husk, Blender samples)
    RANGE = "range"  # each percentage is of the whole range the process renders (geometry ROPs)


class OutputSyntax(str, Enum):
    AS_IS = "as_is"  # the renderer understands $F4 / #### itself (Houdini, husk)
    HASH = "hash"    # $F4 is rewritten to #### (Blender)


def placeholders_in(text: str) -> list[str]:
    """The placeholder names used in one template element (``{{`` and ``}}`` are literal braces)."""
    return [m.group(1) for m in _TOKEN.finditer(text) if m.group(1)]


def _fill(text: str, values: Mapping[str, Optional[str]]) -> str:
    def sub(match: re.Match[str]) -> str:
        whole = match.group(0)
        if whole == "{{":
            return "{"
        if whole == "}}":
            return "}"
        value = values.get(match.group(1))
        return "" if value is None else value

    return _TOKEN.sub(sub, text)


@dataclass(frozen=True)
class CommandContext:
    """The values for one chunk on one node.

    ``hfs`` is the node's Houdini install directory and ``farmhand`` Farmhand's package
    directory (node-side scripts: ``houdini/worker.py``, ``lab/demo_render.py``) as the node sees it; both are
    chosen by the caller. ``extra`` fills a preset's own ``params`` (e.g. ``seconds_per_frame``).
    """

    file: Optional[str] = None
    target: Optional[str] = None
    start: Frame = 1
    end: Frame = 1
    step: Frame = 1
    frames: tuple[Frame, ...] = ()
    output: Optional[str] = None
    hfs: Optional[str] = None
    farmhand: Optional[str] = None
    extra: Mapping[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def for_frames(cls, frames: Sequence[Frame], **values: object) -> CommandContext:
        """A context for a chunk whose frames form one ``start..end`` by ``step`` run.

        Raises:
            UsageError: the frames need more than one run (split the chunk with ``contiguous_runs``).
        """
        runs = contiguous_runs(frames)
        if len(runs) != 1:
            raise UsageError(f"frames {','.join(format_frame(f) for f in frames)} are not one evenly "
                             "stepped run; split the chunk with farmhand.frames.contiguous_runs")
        start, end, step = runs[0]
        ordered = tuple(sorted({normalise(f) for f in frames}))
        return cls(start=start, end=end, step=step, frames=ordered, **values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Preset:
    """A renderer preset. See ``docs/presets.md`` for the TOML form of every field."""

    name: str
    description: str
    argv: tuple[ArgTemplate, ...]
    splittable: bool = True
    mode: PresetMode = PresetMode.CHUNK
    needs_houdini: bool = False
    progress_scope: ProgressScope = ProgressScope.FRAME
    progress_patterns: tuple[str, ...] = ()
    frame_start_patterns: tuple[str, ...] = ()
    frame_done_patterns: tuple[str, ...] = ()
    output_patterns: tuple[str, ...] = ()
    error_patterns: tuple[tuple[str, FailureKind], ...] = ()
    exit_zero_is_not_success_when: tuple[str, ...] = ()
    output_syntax: OutputSyntax = OutputSyntax.AS_IS
    integer_frames: bool = False
    integer_step: bool = False
    #: False for renderers that cannot be given a negative frame (Blender reads "-s -2" as relative).
    negative_frames: bool = True
    #: The preset's own placeholders and their defaults (None = no default: optional groups drop out).
    params: tuple[tuple[str, Optional[str]], ...] = ()
    #: True for the ``command`` preset, whose argv comes from the user at submit time.
    needs_command: bool = False
    #: Its outputs are images: verification reads them whole by default (``JobSpec.check_images``).
    outputs_images: bool = False
    #: Node groups every node must be in for this preset (Karma XPU: ``gpu``), added to a job's own.
    groups: tuple[str, ...] = ()
    #: Limits each chunk of this preset holds (a renderer's licence), added to a job's own.
    limits: tuple[str, ...] = ()
    #: Environment for the renderer (sorted NAME, VALUE pairs); a job's ``env`` overrides a name.
    env: tuple[tuple[str, str], ...] = ()
    source: str = "builtin"

    @cached_property
    def error_rules(self) -> ErrorRules:
        """This preset's error patterns and exit-0 rules, compiled, as the output parser and
        :func:`~farmhand.presets.failures.classify` use them."""
        return ErrorRules(self.error_patterns, self.exit_zero_is_not_success_when)

    # --- what the template uses ----------------------------------------------------------------

    def used_placeholders(self) -> frozenset[str]:
        names: set[str] = set()
        for arg in self.argv:
            for part in (arg,) if isinstance(arg, str) else arg:
                names.update(placeholders_in(part))
        return frozenset(names)

    @property
    def per_frame(self) -> bool:
        """The command renders exactly one ``{frame}``: the dispatcher must use chunks of one frame."""
        used = self.used_placeholders()
        return "frame" in used and not ({"start", "end", "count"} & used)

    def with_command(self, template: str) -> Preset:
        """This preset with ``template`` (a command line, split like a shell line) as its argv.

        Placeholders stay whole arguments (``{file}``) or parts of one (``--out={output}``); the line is
        never given to a shell. A template without frame placeholders cannot be split across nodes.

        Raises:
            UsageError: the template is empty, badly quoted, or uses an unknown placeholder.
        """
        try:
            args = shlex.split(template, comments=False, posix=True)
        except ValueError as exc:
            raise UsageError(f"command template {template!r}: {exc}; check its quotes") from None
        if not args:
            raise UsageError("command template is empty; give the command line to run, e.g. "
                             "'render --scene {file} --frames {start} {end}'")
        known = set(PLACEHOLDERS) | {name for name, _ in self.params}
        for arg in args:
            for name in placeholders_in(arg):
                if name not in known:
                    raise UsageError(f"command template: unknown placeholder {{{name}}}; use one of "
                                     + " ".join(f"{{{p}}}" for p in PLACEHOLDERS))
        updated = replace(self, argv=tuple(args), needs_command=False)
        if not (updated.used_placeholders() & FRAME_PLACEHOLDERS):
            updated = replace(updated, splittable=False)
        return updated

    # --- building the argv -----------------------------------------------------------------------

    def _values(self, ctx: CommandContext) -> dict[str, Optional[str]]:
        fractional = [f for f in (ctx.start, ctx.end) if not isinstance(normalise(f), int)]
        if self.integer_frames and fractional:
            raise UsageError(f"preset {self.name} renders whole frames only; "
                             f"frame {format_frame(fractional[0])} is fractional")
        if not self.negative_frames and min(normalise(ctx.start), normalise(ctx.end)) < 0:
            lowest = format_frame(min(normalise(ctx.start), normalise(ctx.end)))
            raise UsageError(f"preset {self.name} cannot render negative frames (its renderer reads a "
                             f"leading '-' as relative); frame {lowest} is negative")
        for label, path in (("scene file", ctx.file), ("output pattern", ctx.output)):
            # A renderer would read a leading '-' as an option, whatever quoting protects it from the shell.
            if path and path.startswith("-"):
                raise UsageError(f"{label} {path!r} starts with '-'; give an absolute path")
        if (self.integer_frames or self.integer_step) and not isinstance(normalise(ctx.step), int):
            raise UsageError(f"preset {self.name} needs a whole-number frame step, "
                             f"not {format_frame(ctx.step)}")
        output = ctx.output
        if output and self.output_syntax is OutputSyntax.HASH:
            output = to_hash_padding(output)
        single = normalise(ctx.start) == normalise(ctx.end)
        values: dict[str, Optional[str]] = dict(self.params)
        values.update({
            "file": ctx.file or None,
            "target": ctx.target or None,
            "start": format_frame(ctx.start),
            "end": format_frame(ctx.end),
            "step": format_frame(ctx.step),
            "frame": format_frame(ctx.start) if single else None,
            "count": str(run_count(ctx.start, ctx.end, ctx.step)),
            "output": output or None,
            "hfs": ctx.hfs or None,
            "farmhand": ctx.farmhand or None,
        })
        declared = {name for name, _ in self.params}
        for key, value in ctx.extra.items():
            # Only the preset's own parameters: a job value can never replace {file} or {hfs}.
            if key in declared:
                values[key] = value if value != "" else None
        return values

    def command(self, ctx: CommandContext) -> list[str]:
        """The argv to run on a node for one chunk.

        Raises:
            UsageError: a required value is missing (the message says which flag gives it), or the
                frames do not suit the renderer.
        """
        if self.needs_command:
            raise UsageError(f"preset {self.name} needs a command line template (--command TEMPLATE)")
        if normalise(ctx.end) < normalise(ctx.start) or normalise(ctx.step) <= 0:
            raise UsageError(f"chunk {format_frame(ctx.start)}-{format_frame(ctx.end)}"
                             f"x{format_frame(ctx.step)} is not a valid range")
        values = self._values(ctx)
        argv: list[str] = []
        for arg in self.argv:
            if isinstance(arg, str):
                for name in placeholders_in(arg):
                    if values.get(name) is None:
                        if name == "frame":
                            raise UsageError(f"preset {self.name} renders one {{frame}} per command; "
                                             f"chunk {format_frame(ctx.start)}-{format_frame(ctx.end)} "
                                             "has several frames")
                        hint = _HINTS.get(name, f"a value for {{{name}}}")
                        raise UsageError(f"preset {self.name} needs {hint}")
                argv.append(_fill(arg, values))
            elif all(values.get(n) is not None for part in arg for n in placeholders_in(part)):
                argv.extend(_fill(part, values) for part in arg)
        if not argv:
            raise ConfigError(f"preset {self.name} ({self.source}): argv is empty")
        return argv

    def check_job(self, frames: Sequence[Frame], *, file: Optional[str] = None, target: Optional[str] = None,
                  output: Optional[str] = None, params: Optional[Mapping[str, str]] = None) -> None:
        """Fail fast at submit time with the error a chunk would hit later on a node.

        The node-side values (``{hfs}``, ``{farmhand}``) are chosen by the dispatcher and not checked here.

        Raises:
            UsageError: unknown parameter, missing value, frames the renderer cannot take, or frames a
                non-splittable preset cannot render in one process.
        """
        declared = [name for name, _ in self.params]
        for key in params or {}:
            if key not in declared:
                known = ", ".join(declared) if declared else "none"
                raise UsageError(f"preset {self.name} has no parameter {key!r}; its parameters: {known}")
        runs = contiguous_runs(frames)
        if not runs:
            raise UsageError("the job has no frames; give a frame range such as 1-240")
        if len(runs) > 1 and not self.splittable and self.mode is PresetMode.CHUNK:
            raise UsageError(f"preset {self.name} renders the whole range in one process; give one evenly "
                             "stepped range such as 1-240 or 1-240x2")
        for start, end, step in runs:
            pieces = [(f, f, 1) for f in (start, end)] if self.per_frame else [(start, end, step)]
            for a, b, c in pieces:
                self.command(CommandContext(file=file, target=target, start=a, end=b, step=c, output=output,
                                            hfs="/node/hfs", farmhand="/share/farmhand",
                                            extra=dict(params or {})))

    def shell_line(self, ctx: CommandContext) -> str:
        """The command as a copy-pasteable, quoted shell line (for logs and ``farmhand logs``)."""
        return " ".join(shlex.quote(a) for a in self.command(ctx))
