"""ChunkPolicy: every spelling of a chunk policy (--chunk, menus, stored specs) read in one place."""

from __future__ import annotations

import json

import pytest

from farmhand.errors import UsageError
from farmhand.jobs import ChunkMode, ChunkPolicy, JobSpec


@pytest.mark.parametrize(
    ("text", "mode", "frames"),
    [("auto", ChunkMode.ADAPTIVE, None), ("Adaptive", ChunkMode.ADAPTIVE, None),
     ("single", ChunkMode.SINGLE, 1), ("1", ChunkMode.SINGLE, 1), (" 12 ", ChunkMode.FIXED, 12)],
)
def test_parse_reads_the_command_line_spelling(text: str, mode: ChunkMode, frames: int | None) -> None:
    policy = ChunkPolicy.parse(text)
    assert (policy.mode, policy.frames) == (mode, frames)


@pytest.mark.parametrize("text", ["0", "-3", "2.5", "lots", "fixed", ""])
def test_parse_refuses_anything_else_in_one_line(text: str) -> None:
    with pytest.raises(UsageError, match="is not valid; use 'auto' or a whole number of frames") as err:
        ChunkPolicy.parse(text)
    assert "\n" not in err.value.message


def test_menu_settings_become_the_same_policies() -> None:
    assert ChunkPolicy.from_setting("auto", 7) == ChunkPolicy()
    assert ChunkPolicy.from_setting("adaptive") == ChunkPolicy()
    assert ChunkPolicy.from_setting("fixed", 8) == ChunkPolicy.fixed(8)
    assert ChunkPolicy.from_setting("single", 8) == ChunkPolicy.fixed(1)
    assert ChunkPolicy.from_setting(ChunkMode.FIXED, 3).frames == 3  # an enum member works too
    with pytest.raises(UsageError, match="chunk policy 'greedy' is not valid"):
        ChunkPolicy.from_setting("greedy")
    with pytest.raises(UsageError, match="chunk size 0"):
        ChunkPolicy.from_setting("fixed", 0)


def test_equal_meaning_compares_equal() -> None:
    assert ChunkPolicy(ChunkMode.FIXED, 1) == ChunkPolicy(ChunkMode.SINGLE)
    assert ChunkPolicy(ChunkMode.ADAPTIVE, 9) == ChunkPolicy()
    assert len({ChunkPolicy.fixed(1), ChunkPolicy(ChunkMode.SINGLE), ChunkPolicy.of(1)}) == 1


def test_a_job_spec_keeps_a_policy_and_stores_the_plain_spelling() -> None:
    spec = JobSpec(preset="demo", frames="1-9", chunk=4)  # type: ignore[arg-type] # the stored spelling
    assert spec.chunk == ChunkPolicy.fixed(4) and spec.chunk.frames == 4
    data = spec.to_dict()
    assert data["chunk"] == 4
    assert JobSpec.from_dict(json.loads(json.dumps(data))) == spec
    assert JobSpec(preset="demo", frames="1").to_dict()["chunk"] == "auto"
    assert str(ChunkPolicy()) == "auto" and str(ChunkPolicy.fixed(6)) == "6"
    with pytest.raises(UsageError, match="chunk size"):
        JobSpec(preset="demo", frames="1", chunk=0)  # type: ignore[arg-type]
