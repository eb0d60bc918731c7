"""Why a chunk failed, decided from its exit status and output, and what the scheduler should do about it.

:func:`classify` is pure: it looks at the preset's :class:`ErrorRules`, the exit code or signal, the
:class:`ErrorLine` events the :class:`farmhand.presets.progress.LineParser` found, and the tail of the
output. The *policy* flags on a :class:`Failure` (retry on the same node? blame the node? deterministic?)
are defaults per kind; the dispatcher decides the counts (how many nodes must agree before a deterministic
failure fails the job).
"""

from __future__ import annotations

import re
import signal as signal_module
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Optional, Union

from farmhand.presets.lines import clean_line, one_line


class FailureKind(str, Enum):
    LICENCE = "licence"
    MISSING_FILE = "missing_file"
    SCENE_LOAD = "scene_load"
    BAD_COMMAND = "bad_command"
    CRASH = "crash"
    OOM = "oom"
    UNREACHABLE = "unreachable"
    STALLED = "stalled"
    DISK_FULL = "disk_full"
    OUTPUT_MISSING = "output_missing"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ErrorLine:
    """An output line (or a worker's error event) that names a failure of ``kind``."""

    kind: FailureKind
    message: str


@dataclass(frozen=True)
class Failure:
    """One classified failure.

    Attributes:
        kind: what went wrong.
        message: one line for the user (the renderer's own error line when there is one).
        retry_same_node: the node itself is fine; trying it again (after ``backoff_seconds``) is sensible.
        blame_node: count this against the node (blocklisting it for the job after N failures).
        deterministic: the job itself is at fault (missing file, broken scene): once several nodes agree,
            fail the job instead of retrying forever.
        backoff_seconds: suggested wait before the retry (licences come back when someone frees one).
    """

    kind: FailureKind
    message: str
    retry_same_node: bool
    blame_node: bool
    deterministic: bool
    backoff_seconds: float = 0.0


# kind -> (retry_same_node, blame_node, deterministic, backoff_seconds)
_POLICY: dict[FailureKind, tuple[bool, bool, bool, float]] = {
    FailureKind.LICENCE: (True, False, False, 30.0),
    FailureKind.MISSING_FILE: (False, False, True, 0.0),
    FailureKind.SCENE_LOAD: (False, False, True, 0.0),
    FailureKind.BAD_COMMAND: (False, False, True, 0.0),
    FailureKind.CRASH: (False, True, False, 0.0),
    FailureKind.OOM: (False, True, False, 0.0),
    FailureKind.UNREACHABLE: (False, True, False, 0.0),
    FailureKind.STALLED: (False, True, False, 0.0),
    FailureKind.DISK_FULL: (False, True, False, 10.0),
    # A frame reported done without its file is usually a wrong output pattern (the same on every node),
    # so it is deterministic; a node that cannot write would show up as disk_full or missing_file.
    FailureKind.OUTPUT_MISSING: (False, False, True, 0.0),
    FailureKind.CANCELLED: (False, False, False, 0.0),
    FailureKind.UNKNOWN: (False, True, False, 0.0),
}


def failure(kind: Union[FailureKind, str], message: str) -> Failure:
    """A :class:`Failure` of ``kind`` with the default policy (for failures the dispatcher detects itself:
    stalled, unreachable, output_missing, cancelled)."""
    kind = FailureKind(kind)
    retry_same, blame, deterministic, backoff = _POLICY[kind]
    text = one_line(message) or kind.value.replace("_", " ")  # never an empty message
    return Failure(kind, text, retry_same, blame, deterministic, backoff)


#: Lines that mean the same thing whichever renderer printed them; a preset's own patterns are tried first.
COMMON_ERROR_PATTERNS: tuple[tuple[str, FailureKind], ...] = (
    (r"No licen[cs]es? could be found", FailureKind.LICENCE),
    (r"Please check for a valid licen[cs]e server", FailureKind.LICENCE),
    (r"No space left on device|Disk quota exceeded", FailureKind.DISK_FULL),
    (r"\bMemoryError\b|std::bad_alloc|[Oo]ut of memory|Cannot allocate memory", FailureKind.OOM),
    (r"^(?:.*: )?Killed$", FailureKind.OOM),
    (r"Segmentation fault|SIGSEGV|core dumped", FailureKind.CRASH),
)

_SEVERITY = (
    # When several kinds show up in one run, the most specific cause wins: a licence error explains a
    # later traceback; a missing file explains a scene that failed to load.
    FailureKind.LICENCE,
    FailureKind.DISK_FULL,
    FailureKind.OOM,
    FailureKind.MISSING_FILE,
    FailureKind.SCENE_LOAD,
    FailureKind.BAD_COMMAND,
    FailureKind.CRASH,
    FailureKind.UNKNOWN,
)

_OOM_SIGNALS = {"KILL"}
_EXPLAINS_EXIT = (FailureKind.LICENCE, FailureKind.DISK_FULL, FailureKind.MISSING_FILE,
                  FailureKind.SCENE_LOAD, FailureKind.BAD_COMMAND)
_CANCEL_SIGNALS = {"TERM", "INT", "HUP"}


def signal_name(value: Union[str, int, None]) -> Optional[str]:
    """``"SEGV"`` for ``11``, ``"SIGSEGV"`` or ``"SEGV"``; None for None or an unknown number."""
    if value is None:
        return None
    if isinstance(value, int):
        try:
            return signal_module.Signals(value).name[3:]
        except ValueError:
            return None
    text = value.strip().upper()
    return text[3:] if text.startswith("SIG") else text


def _signal_from_exit(exit_code: Optional[int]) -> Optional[str]:
    # A shell reports a child killed by signal n as exit status 128+n.
    if exit_code is not None and 128 < exit_code < 128 + 65:
        return signal_name(exit_code - 128)
    return None


@dataclass(frozen=True)
class ErrorRules:
    """What a preset says about a run's output (``Preset.error_rules``).

    Attributes:
        patterns: ``(regex, kind)`` pairs naming failures; tried before :data:`COMMON_ERROR_PATTERNS`.
        not_success: regexes for lines that make even exit status 0 a failure (hrender exits 0 when the
            ROP failed).
    """

    patterns: tuple[tuple[str, FailureKind], ...] = ()
    not_success: tuple[str, ...] = ()
    _errors: tuple[tuple[re.Pattern[str], FailureKind], ...] = field(init=False, repr=False, compare=False)
    _spoilers: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        errors = tuple((re.compile(p), kind) for p, kind in self.patterns + COMMON_ERROR_PATTERNS)
        object.__setattr__(self, "_errors", errors)
        object.__setattr__(self, "_spoilers", tuple(re.compile(p) for p in self.not_success))

    def kind_of(self, line: str) -> Optional[FailureKind]:
        """The kind of the first error pattern found in ``line`` (a cleaned line), else None."""
        for pattern, kind in self._errors:
            if pattern.search(line):
                return kind
        return None

    def spoils_success(self, line: str) -> bool:
        """True when ``line`` makes a run that exited 0 a failure."""
        return any(p.search(line) for p in self._spoilers)


def _lines(tail: Union[str, Sequence[str]]) -> list[str]:
    chunks = [tail] if isinstance(tail, str) else tail
    return [clean_line(line) for chunk in chunks for line in chunk.splitlines()]


def _worst(found: Sequence[tuple[FailureKind, str]]) -> Optional[tuple[FailureKind, str]]:
    if not found:
        return None
    return min(found, key=lambda item: _SEVERITY.index(item[0]) if item[0] in _SEVERITY else len(_SEVERITY))


def classify(
    rules: ErrorRules,
    exit_code: Optional[int],
    signal: Union[str, int, None],
    error_lines: Sequence[ErrorLine],
    tail: Union[str, Sequence[str]] = (),
    *,
    cancelled: bool = False,
) -> Optional[Failure]:
    """Classify one finished run; None means it succeeded.

    Args:
        rules: the preset's error patterns and exit-0 rules (``preset.error_rules``).
        exit_code: the exit status, None when the process died from a signal or the connection dropped.
        signal: the signal that killed it (``"SEGV"``, ``"SIGKILL"`` or a number), if any.
        error_lines: the :class:`ErrorLine` events seen while it ran.
        tail: the last lines of its output (searched again, in case the parser saw only part of it).
        cancelled: the dispatcher stopped it on purpose.
    """
    if cancelled:
        return failure(FailureKind.CANCELLED, "cancelled")
    sig = signal_name(signal) or _signal_from_exit(exit_code)
    if exit_code is None and sig is None:
        return failure(FailureKind.UNREACHABLE,
                       "the connection to the node was lost before the render finished")
    tail_lines = _lines(tail)
    found = [(FailureKind(e.kind), e.message) for e in error_lines]
    for line in tail_lines:
        kind = rules.kind_of(line)
        if kind is not None:
            found.append((kind, line.strip()))
    if exit_code == 0 and sig is None:
        return _exited_zero(rules, tail_lines, found)
    return _failed(exit_code, sig, _worst(found), tail_lines)


def _exited_zero(rules: ErrorRules, tail_lines: Sequence[str],
                 found: Sequence[tuple[FailureKind, str]]) -> Optional[Failure]:
    not_ok = [line for line in [*tail_lines, *(m for _, m in found)] if rules.spoils_success(line)]
    if not not_ok:
        return None
    worst = _worst(found)
    if worst is not None:
        return failure(worst[0], f"exited 0 but reported: {worst[1]}")
    return failure(FailureKind.UNKNOWN, f"exited 0 but reported: {not_ok[0].strip()}")


def _failed(exit_code: Optional[int], sig: Optional[str], worst: Optional[tuple[FailureKind, str]],
            tail_lines: Sequence[str]) -> Failure:
    # The printed cause beats the bare status, except that a licence or disk message must not be hidden
    # by the crash it caused, and a kill is OOM only when nothing more specific was printed.
    if worst is not None and worst[0] in _EXPLAINS_EXIT:
        return failure(worst[0], worst[1])
    if worst is not None and worst[0] is FailureKind.OOM:
        return failure(FailureKind.OOM, f"out of memory: {worst[1]}")
    if sig in _OOM_SIGNALS:
        return failure(FailureKind.OOM, f"out of memory: killed by SIG{sig}")
    if sig is not None:
        status = f"exit status {exit_code}, " if exit_code is not None else ""
        verb = "was terminated" if sig in _CANCEL_SIGNALS else "crashed"
        message = f"the renderer {verb} ({status}SIG{sig})"
        return failure(FailureKind.CRASH, message + (f": {worst[1]}" if worst is not None else ""))
    if worst is not None:
        return failure(worst[0], worst[1])
    last = next((line.strip() for line in reversed(tail_lines) if line.strip()), "")
    return failure(FailureKind.UNKNOWN, f"exit status {exit_code}" + (f": {last}" if last else ""))


def with_message(result: Failure, message: str) -> Failure:
    """The same failure with another message (the dispatcher adds the host and frames)."""
    return replace(result, message=one_line(message))
