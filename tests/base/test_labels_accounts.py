"""Fair-share accounts and weights as users type them (labels.account, labels.share_weight)."""

from __future__ import annotations

from typing import Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from farmhand import labels
from farmhand.errors import UsageError


@pytest.mark.parametrize("name", ["alice", "show_x", "anna.k@studio", "a" * 63, "2024-show"])
def test_accounts_people_use(name: str) -> None:
    assert labels.account(f"  {name} ") == name


@pytest.mark.parametrize("name", ["", "-x", "a b", "x;y", "a" * 64, "é", "$(id)"])
def test_anything_else_is_one_line(name: str) -> None:
    with pytest.raises(UsageError) as caught:
        labels.account(name, "user")
    assert "\n" not in caught.value.message and caught.value.message.startswith("user ")


@pytest.mark.parametrize(("given_", "weight"), [("1", 1.0), ("0.5", 0.5), (2, 2.0), ("1000", 1000.0)])
def test_weights(given_: object, weight: float) -> None:
    assert labels.share_weight(given_) == weight


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf", "1001", "two", None, True, "1e400"])
def test_bad_weights(bad: object) -> None:
    with pytest.raises(UsageError, match="share weight"):
        labels.share_weight(bad)


def _outcome(text: str) -> tuple[Optional[str], Optional[str]]:
    try:
        return labels.account(text), None
    except UsageError as exc:
        return None, exc.message


@given(st.text(max_size=100))
def test_any_text_is_an_account_or_one_line(text: str) -> None:
    value, message = _outcome(text)
    if value is None:
        assert message is not None and "\n" not in message
    else:
        assert 1 <= len(value) <= 63 and value == value.strip()
