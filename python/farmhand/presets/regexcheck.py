"""Preset regular expressions checked for catastrophic backtracking before they ever see a renderer's output.

Python's ``re`` backtracks, and the dispatcher runs every preset pattern over every output line inside
its step: one pattern that takes seconds on a long line (a scene can print anything) would stall the
whole farm. So every pattern is checked when its preset is loaded, in two ways:

* **statically**, on the parsed expression: a repeat nested in a repeat (``(a+)+``), alternatives under
  a repeat that can start with the same character (``(a|ab)*``), two repeats that can match the same
  text next to each other (``\\s*\\s*``, ``.+?\\s+``), and an unanchored pattern that starts with a
  repeat (``\\d+%``, ``.*x``: searched from every position of the line) are refused with advice;
* **by a probe** (user and studio presets): the pattern is timed on long adversarial lines built from its
  own fixed text and common fillers, growing from 1 to 16 KiB, and refused when one search takes longer
  than :data:`PROBE_LIMIT`. Each distinct pattern is probed once per process.

At run time a pattern only ever sees a line capped at :data:`farmhand.presets.lines.MAX_LINE_CHARS`.
"""

from __future__ import annotations

import functools
import importlib
import re
import time
import warnings
from collections.abc import Sequence
from typing import Any, Callable, Optional

from farmhand.presets.lines import one_line

#: The longest a single probe search may take, in seconds, before the pattern is refused.
PROBE_LIMIT = 0.02
#: Line lengths the probe tries, shortest first (a slow pattern is refused before the longest).
PROBE_SIZES = (1024, 4096, 16384)

_UNBOUNDED = 100  # a repeat allowing more than this many matches backtracks like * and +
_ZERO_WIDTH = {"AT", "ASSERT", "ASSERT_NOT"}
_REPEATS = {"MAX_REPEAT", "MIN_REPEAT"}
_SINGLE = {"LITERAL", "NOT_LITERAL", "ANY", "IN"}
_SAMPLE = "".join(chr(c) for c in range(128)) + "\u00a0\u00e9\u00df\u0663\u2003\u4e2d"
_CATEGORIES = {"CATEGORY_DIGIT": r"\d", "CATEGORY_NOT_DIGIT": r"\D", "CATEGORY_SPACE": r"\s",
               "CATEGORY_NOT_SPACE": r"\S", "CATEGORY_WORD": r"\w", "CATEGORY_NOT_WORD": r"\W"}
_FILLERS = (" ", "a", "0", ":", "-", "/", "\t", "a ")

NESTED = ("nests a repeat inside a repeat (like (a+)+), which can take exponential time on a long line; "
          "put a character the inner repeat cannot match between them, or drop one repeat")
ALTERNATIVES = ("repeats alternatives that can start with the same character (like (a|ab)*), which can "
                "take exponential time; make the alternatives start differently")
ADJACENT = ("has repeats next to each other that can match the same text (like \\s*\\s* or .+?\\s+), which "
            "backtracks badly on a long line; let one of them exclude the other's characters (\\S+, [^ ]*)")
LEADING = ("starts with a repeat (like \\d+ or .*) and is searched from every position of a line, which is "
           "slow on a long line; anchor it with ^ or start it with fixed text")

Items = Sequence[tuple[Any, Any]]


def _sre() -> Any:
    try:
        return importlib.import_module("re._parser")  # Python 3.11+
    except ImportError:
        return importlib.import_module("sre_parse")


def _name(op: Any) -> str:
    return str(getattr(op, "name", op))


class _Analysis:
    """The static checks over one parsed pattern (characters approximated by a sample alphabet)."""

    def __init__(self, pattern: str, flags: int) -> None:
        self.tree = _sre().parse(pattern)
        literals = {chr(av) for op, av in self._walk(self.tree) if _name(op) == "LITERAL"}
        self.universe = frozenset(_SAMPLE) | frozenset(literals)
        self.ignorecase = bool(flags & re.IGNORECASE)

    def _walk(self, items: Items) -> list[tuple[Any, Any]]:
        found: list[tuple[Any, Any]] = []
        for op, av in items:
            found.append((op, av))
            for sub in self._children(op, av):
                found.extend(self._walk(sub))
        return found

    @staticmethod
    def _children(op: Any, av: Any) -> list[Items]:
        name = _name(op)
        if name in _REPEATS or name == "POSSESSIVE_REPEAT":
            return [av[2]]
        if name == "SUBPATTERN":
            return [av[-1]]
        if name in ("ASSERT", "ASSERT_NOT"):
            return [av[1]]
        if name == "BRANCH":
            return list(av[1])
        if name == "ATOMIC_GROUP":
            return [av]
        if name == "GROUPREF_EXISTS":
            return [p for p in av[1:] if p is not None]
        return []

    def flat(self, items: Items) -> list[tuple[Any, Any]]:
        """``items`` with plain groups opened (a group does not change what its contents match)."""
        out: list[tuple[Any, Any]] = []
        for op, av in items:
            if _name(op) == "SUBPATTERN":
                out.extend(self.flat(av[-1]))
            else:
                out.append((op, av))
        return out

    # --- characters -------------------------------------------------------------------------------

    def single(self, op: Any, av: Any) -> Optional[frozenset[str]]:
        """The characters a one-character item can match, or None for any other item."""
        name = _name(op)
        if name == "LITERAL":
            chars = frozenset({chr(av)})
        elif name == "NOT_LITERAL":
            chars = self.universe - {chr(av)}
        elif name == "ANY":
            chars = self.universe - {"\n"}
        elif name == "IN":
            chars = self._charset(av)
        else:
            return None
        if self.ignorecase:
            chars = frozenset(c for c in self.universe if {c, c.lower(), c.upper()} & chars)
        return chars

    def _charset(self, items: Items) -> frozenset[str]:
        chars: set[str] = set()
        negate = False
        for op, av in items:
            name = _name(op)
            if name == "NEGATE":
                negate = True
            elif name == "LITERAL":
                chars.add(chr(av))
            elif name == "RANGE":
                chars.update(c for c in self.universe if av[0] <= ord(c) <= av[1])
            elif name == "CATEGORY":
                regex = _CATEGORIES.get(_name(av))
                chars.update(c for c in self.universe if regex is None or re.fullmatch(regex, c))
        return self.universe - chars if negate else frozenset(chars)

    def consumed(self, items: Items) -> frozenset[str]:
        """Every character ``items`` can consume (lookarounds consume nothing)."""
        chars: set[str] = set()
        for op, av in items:
            name = _name(op)
            single = self.single(op, av)
            if single is not None:
                chars |= single
            elif name == "GROUPREF":
                return self.universe
            elif name not in ("ASSERT", "ASSERT_NOT"):
                for sub in self._children(op, av):
                    chars |= self.consumed(sub)
        return frozenset(chars)

    def first(self, items: Items) -> frozenset[str]:
        """The characters a match of ``items`` can start with."""
        chars: set[str] = set()
        for op, av in self.flat(items):
            name = _name(op)
            single = self.single(op, av)
            if name in _ZERO_WIDTH:
                continue
            if single is not None:
                return frozenset(chars | single)
            if name in _REPEATS:
                chars |= self.first(av[2])
                if av[0] == 0:
                    continue
                return frozenset(chars)
            if name == "BRANCH":
                return frozenset(chars.union(*(self.first(alt) for alt in av[1])))
            return self.universe
        return frozenset(chars)

    # --- the rules ----------------------------------------------------------------------------------

    def passable(self, items: Items, chars: frozenset[str]) -> bool:
        """True when ``items`` can be matched by nothing or by characters from ``chars`` only."""
        for op, av in self.flat(items):
            name = _name(op)
            single = self.single(op, av)
            if name in _ZERO_WIDTH or (single is not None and single <= chars):
                continue
            if name in _REPEATS and (av[0] == 0 or self.passable(av[2], chars)):
                continue
            if name == "BRANCH" and any(self.passable(alt, chars) for alt in av[1]):
                continue
            return False
        return True

    def reaches_overlap(self, items: Items, chars: frozenset[str]) -> bool:
        """True when, reading on through ``items`` over a run of one character from ``chars``, an
        unbounded repeat that can match that character comes up: the two repeats share the run, and
        backtracking tries every way of splitting it."""
        for op, av in self.flat(items):
            name = _name(op)
            single = self.single(op, av)
            if name in _ZERO_WIDTH:
                continue
            if single is not None:
                chars = chars & single  # the run must be of characters every item in between matches
                if not chars:
                    return False
                continue
            if name in _REPEATS:
                if av[1] > _UNBOUNDED and self.consumed(av[2]) & chars:
                    return True
                if self.reaches_overlap(av[2], chars):
                    return True
                if av[0] == 0 or self.passable(av[2], chars):
                    continue
                return False
            if name == "BRANCH":
                if any(self.reaches_overlap(alt, chars) for alt in av[1]):
                    return True
                if any(self.passable(alt, chars) for alt in av[1]):
                    continue
            return False
        return False

    def _repeat_problem(self, body: Items, after: Items) -> Optional[str]:
        """What is wrong with an unbounded repeat of ``body`` followed by ``after``, if anything."""
        flat = self.flat(body)
        inner = [av for op, av in self._walk(flat) if _name(op) in _REPEATS and av[1] > _UNBOUNDED]
        if inner:
            inner_chars = frozenset().union(*(self.consumed(av[2]) for av in inner))
            separators = [s for s in (self.single(op, av) for op, av in flat) if s is not None]
            if not any(not (s & inner_chars) for s in separators):
                return NESTED
        for op, av in flat:
            if _name(op) == "BRANCH":
                starts = [self.first(alt) for alt in av[1]]
                if any(a & b for i, a in enumerate(starts) for b in starts[i + 1:]):
                    return ALTERNATIVES
        if self.reaches_overlap(after, self.consumed(flat)):
            return ADJACENT
        return None

    def sequence_problem(self, items: Items) -> Optional[str]:
        """The first problem in one sequence or anything nested in it."""
        flat = self.flat(items)
        for index, (op, av) in enumerate(flat):
            name = _name(op)
            if name in _REPEATS and av[1] > _UNBOUNDED:
                problem = self._repeat_problem(av[2], flat[index + 1:])
                if problem:
                    return problem
            for sub in self._children(op, av):
                problem = self.sequence_problem(sub)
                if problem:
                    return problem
        return None

    def leads_with_repeat(self, items: Items) -> bool:
        """True when an unbounded repeat can be the first thing the pattern matches (and no ``^``)."""
        for op, av in self.flat(items):
            name = _name(op)
            if name == "AT" and _name(av) in ("AT_BEGINNING", "AT_BEGINNING_STRING"):
                return False
            if name in _ZERO_WIDTH:
                continue
            if name in _REPEATS:
                if av[1] > _UNBOUNDED or self.leads_with_repeat(av[2]):
                    return True
                if av[0] == 0:
                    continue
                return False
            if name == "BRANCH":
                return any(self.leads_with_repeat(alt) for alt in av[1])
            return False
        return False


def static_problem(pattern: str) -> Optional[str]:
    """Why ``pattern`` (a valid regular expression) may backtrack catastrophically, or None."""
    analysis = _Analysis(pattern, re.compile(pattern).flags)
    problem = analysis.sequence_problem(analysis.tree)
    if problem is None and analysis.leads_with_repeat(analysis.tree):
        problem = LEADING
    return problem


# --- the probe --------------------------------------------------------------------------------------


def _literal_runs(pattern: str) -> list[str]:
    """The pattern's fixed pieces of text (adversarial lines are built from them), longest first."""
    runs: list[str] = []

    def visit(items: Items) -> None:
        current = ""
        for op, av in items:
            if _name(op) == "LITERAL":
                current += chr(av)
                continue
            if current:
                runs.append(current)
            current = ""
            for sub in _Analysis._children(op, av):
                visit(sub)
        if current:
            runs.append(current)

    visit(_sre().parse(pattern))
    return sorted(set(runs), key=len, reverse=True)[:6]


def _repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def probe_lines(pattern: str, size: int) -> list[str]:
    """Long lines of ``size`` characters that are hard for ``pattern``: fillers, and its own text
    repeated or followed by fillers."""
    runs = _literal_runs(pattern)
    texts = [_repeat(f, size) for f in _FILLERS]
    for run in runs:
        texts.append(_repeat(run, size))
        texts.extend(run + _repeat(f, size - len(run)) for f in _FILLERS[:4])
        if runs[0] != run:
            texts.append(runs[0] + _repeat(run, size - len(runs[0])))
    return texts


def probe(pattern: str, clock: Callable[[], float] = time.perf_counter) -> Optional[str]:
    """Why ``pattern`` is too slow on long adversarial lines (see :data:`PROBE_LIMIT`), or None."""
    compiled = re.compile(pattern)
    for size in PROBE_SIZES:
        for text in probe_lines(pattern, size):
            took = _timed(compiled, text, clock)
            if took > PROBE_LIMIT:
                took = min(took, _timed(compiled, text, clock))  # once more: the machine may be busy
            if took > PROBE_LIMIT:
                return (f"takes {took * 1000:.0f} ms on a {size}-character line like {text[:20]!r}...; "
                        "anchor it with ^, start it with fixed text, or bound its repeats ({0,200})")
    return None


def _timed(compiled: re.Pattern[str], text: str, clock: Callable[[], float]) -> float:
    start = clock()
    compiled.search(text)
    return clock() - start


@functools.lru_cache(maxsize=1024)
def problem(pattern: str, run_probe: bool = True) -> Optional[str]:
    """Why ``pattern`` cannot be a preset pattern, or None: it does not compile, a static check refuses
    it, or (with ``run_probe``) it is slow on long lines. The answer is one line, for a ConfigError."""
    try:
        with warnings.catch_warnings():  # "possible nested set" and the like: the pattern still works
            warnings.simplefilter("ignore")
            re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError) as exc:
        return f"is not a valid regular expression ({one_line(str(exc), 200)})"
    try:
        found = static_problem(pattern)
    except RecursionError:
        return "is nested too deeply to check"
    if found is None and run_probe:
        found = probe(pattern)
    return found
