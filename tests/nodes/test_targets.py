"""Scan targets: what a user may type or paste, fuzzed. Only one-line UsageErrors may come out.

Host names are resolved by a stand-in resolver here, so fuzzing never sends a DNS query anywhere.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from farmhand.errors import UsageError
from farmhand.nodes.targets import count, iter_addresses, parse_one, parse_targets


def _nowhere(name: str) -> str:
    """A resolver that knows one name (and fails like the system's for every other)."""
    if name == "render01.farm":
        return "10.0.0.21"
    raise OSError(f"no such host {name}")


def test_host_names_resolve_through_the_resolver_given() -> None:
    assert parse_one("render01.farm", resolve=_nowhere) == (int(ipaddress.IPv4Address("10.0.0.21")),) * 2
    with pytest.raises(UsageError, match=r"cannot resolve scan target 'render02\.farm'"):
        parse_one("render02.farm", resolve=_nowhere)


@pytest.mark.parametrize(("text", "message"), [
    ("10.0.0.1\n; rm -rf ~", "invalid scan target '10.0.0.1\\\\x0a; rm -rf ~'"),  # escaped, one line
    ("\x1b]0;owned\x07", "invalid scan target '\\\\x1b]0;owned\\\\x07'"),
    ("١٠.0.0.1", "invalid scan target"),  # Arabic-Indic digits pass str.isdigit(), not IPv4
    ("10.0.0.0/²4", "invalid scan target"),
    ("x" * 1000, "too long"),
])
def test_hostile_targets_are_one_escaped_line(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as info:
        parse_targets([text], resolve=_nowhere)
    assert "\n" not in info.value.message and "\x1b" not in info.value.message


_PIECES = [*"0123456789./-:, ", "255", "10.0.0.", "/24", "-", "١", "²", "\n", "\x00", "\x1b", "render",
           ".farm"]
_ip_like = st.lists(st.sampled_from(_PIECES), max_size=20).map("".join)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_ip_like, st.text(max_size=30)), min_size=1, max_size=4))
def test_fuzz_targets_give_spans_or_one_line_usage_errors(targets: list[str]) -> None:
    try:
        spans = parse_targets(targets, resolve=_nowhere)
    except UsageError as exc:
        error: UsageError = exc
    else:
        _check(targets, spans)
        return
    assert "\n" not in error.message and "\x1b" not in error.message


def _check(targets: list[str], spans: list[tuple[int, int]]) -> None:
    assert len(spans) == len(targets)
    for first, last in spans:
        assert 0 <= first <= last <= 2**32 - 1
    assert count(spans) >= 1
    assert next(iter_addresses(spans))  # expands lazily, whatever the size
