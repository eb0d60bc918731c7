"""The names a job asks for beside its frames: node groups, limits and environment variables.

One place checks them for every edge (the CLI, the client, presets, the panel, the Farmhand ROP), so a
name means the same wherever it was typed:

* a **tag** names a group of nodes: ``gpu``, ``houdini-21.0``, ``linux``, ``fast`` (lower case letters,
  digits, ``.``, ``_``, ``+``, ``-``). Nodes carry tags given by hand and tags read from their inventory
  (:mod:`farmhand.nodes.tags`), including the facts ``cores=N`` and ``ram=N``;
* a **group** is what a job asks for: a tag, or ``cores>=N`` / ``ram>=N`` (N whole cores, or GB of
  memory as the node reports it, in decimal GB rounded to the nearest, so a 64 GB machine is ``ram>=64``).
  A node serves a job when it matches every group the job and its preset ask for;
* a **limit** is a named counter with a capacity (licence seats): same spelling as a tag;
* an **environment variable** is ``NAME=VALUE`` with NAME matching ``[A-Za-z_][A-Za-z0-9_]*``; the value
  is any text without a NUL byte. Values travel to the node as one argument each (``env NAME=VALUE
  argv...``), never through a shell.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Collection, Iterable, Mapping
from typing import Callable, Optional, Union

from farmhand.errors import UsageError

_TAG = re.compile(r"^[a-z0-9][a-z0-9._+-]{0,62}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_FACT_GROUP = re.compile(r"^(cores|ram)\s*>=\s*([0-9]{1,6})$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@+-]{0,62}$")
#: Facts a node carries as ``NAME=N`` tags and a group compares with ``NAME>=N``.
FACTS = ("cores", "ram")
#: Largest capacity of a limit (a guard against typos, far beyond any licence pool).
MAX_CAPACITY = 100000
#: Longest environment value accepted (a command line has room for it on every OS Farmhand runs on).
MAX_ENV_VALUE = 16384

#: An environment as it may be given: pairs, a mapping, or ``NAME=VALUE`` strings.
EnvLike = Union[Mapping[str, str], Iterable[Union[str, tuple[str, str]]]]


def tag(text: str, what: str = "tag") -> str:
    """``text`` as a tag (stripped, lower case).

    Raises:
        UsageError: it is empty or uses other characters than letters, digits, ``.``, ``_``, ``+``, ``-``.
    """
    value = str(text).strip().lower()
    if not _TAG.match(value):
        raise UsageError(f"{what} {str(text)[:80]!r} is not valid: use letters, digits, '.', '_', '+' or '-' "
                         "(at most 63, starting with a letter or digit), e.g. gpu or houdini-21.0")
    return value


def account(text: str, what: str = "name") -> str:
    """``text`` as a fair-share account: a database login or a project name.

    Raises:
        UsageError: other characters than letters, digits, ``_ . @ + -``, or longer than 63.
    """
    value = str(text).strip()
    if not _ACCOUNT.match(value):
        raise UsageError(f"{what} {str(text)[:80]!r} is not valid: use letters, digits, '_', '.', '@', '+' "
                         "or '-' (at most 63, not starting with a punctuation mark)")
    return value


#: Largest fair-share weight (a guard against typos: 1000 times an even share).
MAX_WEIGHT = 1000.0


def share_weight(value: object) -> float:
    """``value`` as a fair-share weight: a number above 0 and at most :data:`MAX_WEIGHT` (1 is even).

    Raises:
        UsageError: anything else (one line).
    """
    try:
        weight = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        weight = float("nan")
    if not (math.isfinite(weight) and 0 < weight <= MAX_WEIGHT) or isinstance(value, bool):
        raise UsageError(f"share weight {str(value)[:40]!r}: give a number above 0 and at most "
                         f"{MAX_WEIGHT:g} (1 is an even share, 2 twice that)")
    return weight


def is_tag(text: str) -> bool:
    """``text`` is spelled as a tag (in any case)."""
    return bool(_TAG.match(str(text).strip().lower()))


def group(text: str) -> str:
    """``text`` as a group: a tag, or ``cores>=N`` / ``ram>=N`` written without spaces."""
    value = str(text).strip().lower()
    fact = _FACT_GROUP.match(value)
    if fact:
        return f"{fact.group(1)}>={int(fact.group(2))}"
    if "=" in value or "<" in value or ">" in value:
        raise UsageError(f"group {str(text)[:80]!r} is not valid: compare only cores>=N or ram>=N (GB), "
                         "or give a tag such as gpu")
    return tag(value, "group")


def limit_name(text: str) -> str:
    """``text`` as a limit name (spelled like a tag)."""
    return tag(text, "limit")


def capacity(value: object) -> int:
    """A limit's capacity: a whole number from 0 (hold every job taking it) to :data:`MAX_CAPACITY`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CAPACITY:
        raise UsageError(f"limit capacity {str(value)[:24]!r} is not valid: give a whole number from 0 to "
                         f"{MAX_CAPACITY} (0 holds every job that takes the limit)")
    return value


def names(values: Iterable[str], check: Callable[[str], str]) -> tuple[str, ...]:
    """Each value checked with ``check``, duplicates dropped, in the order first given."""
    if isinstance(values, str):
        values = [values]
    return tuple(dict.fromkeys(check(v) for v in values))


def env_pair(name: str, value: str) -> tuple[str, str]:
    """One checked environment variable.

    Raises:
        UsageError: the name is not ``[A-Za-z_][A-Za-z0-9_]*``, or the value holds a NUL byte or is
            longer than :data:`MAX_ENV_VALUE`.
    """
    name, value = str(name), str(value)
    if not _ENV_NAME.match(name):
        raise UsageError(f"environment variable name {name[:80]!r} is not valid: use letters, digits and "
                         "'_', not starting with a digit (e.g. OCIO or HOUDINI_MAXTHREADS)")
    if "\0" in value:
        raise UsageError(f"environment variable {name}: the value holds a NUL byte, which no program "
                         "can receive")
    if len(value) > MAX_ENV_VALUE:
        raise UsageError(f"environment variable {name}: the value is longer than {MAX_ENV_VALUE} characters")
    return name, value


def parse_env(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` (as ``--env`` takes it) as a checked pair; the value may be empty or hold ``=``."""
    name, eq, value = str(text).partition("=")
    if not eq:
        raise UsageError(f"environment {str(text)[:80]!r}: write NAME=VALUE, "
                         "e.g. OCIO=/share/aces/config.ocio")
    return env_pair(name, value)


def env(values: Optional[EnvLike]) -> tuple[tuple[str, str], ...]:
    """An environment as sorted, checked pairs; a name given twice keeps its last value."""
    if not values:
        return ()
    items: Iterable[Union[str, tuple[str, str]]] = values.items() if isinstance(values, Mapping) else values
    table: dict[str, str] = {}
    for item in items:
        name, value = parse_env(item) if isinstance(item, str) else env_pair(*item)
        table[name] = value
    return tuple(sorted(table.items()))


def groups_text(text: str) -> tuple[str, ...]:
    """Groups typed in one field (the panel, the Farmhand ROP), separated by commas or spaces."""
    return names(str(text).replace(",", " ").split(), group)


def env_text(text: str) -> tuple[tuple[str, str], ...]:
    """An environment typed in one field: ``NAME=VALUE`` items split like a shell line (quote a value
    holding spaces: ``SHOT='sh 010'``); nothing is ever run by a shell."""
    try:
        items = shlex.split(str(text))
    except ValueError as exc:
        raise UsageError(f"environment {str(text)[:80]!r}: {exc}; check its quotes") from None
    return env(items)


def fact(name: str, value: int) -> str:
    """A node fact as the tag it carries (``cores=16``)."""
    return f"{name}={int(value)}"


def group_matches(wanted: str, tags: Collection[str]) -> bool:
    """The node with ``tags`` is in group ``wanted`` (a tag it carries, or a fact at least as large)."""
    fact_group = _FACT_GROUP.match(wanted)
    if fact_group is None:
        return wanted in tags
    prefix, least = fact_group.group(1) + "=", int(fact_group.group(2))
    return any(t.startswith(prefix) and t[len(prefix):].isdigit() and int(t[len(prefix):]) >= least
               for t in tags)


def groups_match(wanted: Iterable[str], tags: Collection[str]) -> bool:
    """The node matches every group in ``wanted`` (no groups: every node does)."""
    return all(group_matches(g, tags) for g in wanted)


def is_fact(text: str) -> bool:
    """``text`` is a fact tag (``cores=16``) rather than a group name people pick from a menu."""
    return "=" in text

