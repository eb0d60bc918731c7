"""The TOML-subset reader used when neither tomllib nor tomli exists (Houdini 19.5/20.0 Pythons)."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomllib

from farmhand.errors import ConfigError
from farmhand.presets import list_presets, load_preset, loader, minitoml

SAMPLE = r'''
# comment
name = "x"   # trailing comment
"quoted key" = 'lit\eral'
escapes = "tab\there \"q\" \\ \u00e9 \U0001F600"
script = """
""" # not allowed below; replaced in the test
nums = [1, -2, +3, 4.5, 1e3, 1_000]
flags = [true, false]
nested = [
  "a",   # comment inside
  ["b", "c"],
  [],
]
[table]
key = 'v'
[table.sub]
deep = 1
'''


def sample() -> str:
    return SAMPLE.replace(
        'script = """\n""" # not allowed below; replaced in the test', "script = '''\nline 1 $1 \"$2\"\n'''"
    )


def test_matches_tomllib() -> None:
    assert minitoml.loads(sample()) == tomllib.loads(sample())


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('a = "open\n', 1, "unterminated string"),
        ("a = '''never closed", 1, "unterminated"),
        ("\n\na = [1, 2\n", 4, "expected , or ]"),
        ("a = 1\na = 2\n", 2, "defined twice"),
        ("a.b = 1\n", 1, "dotted keys"),
        ("[[t]]\n", 1, "arrays of tables"),
        ('a = """x"""\n', 1, '""" strings'),
        ("a = nope\n", 1, "expected a string"),
        ("a = 1 2\n", 1, "after the value"),
        ('a = "\\q"\n', 1, "unknown escape"),
        ("= 1\n", 1, "expected a key"),
        ("a = 1\n[a]\n", 2, "already a value"),
    ],
)
def test_errors_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(minitoml.TomlSubsetError) as info:
        minitoml.loads(text)
    assert info.value.line == line and fragment in str(info.value)


def test_presets_load_without_tomllib(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with_tomllib = list_presets(search_dirs=[])
    monkeypatch.setattr(loader, "_LOADS", None)
    assert list_presets(search_dirs=[]) == with_tomllib
    (tmp_path / "fancy.toml").write_text('argv = ["x"]\n[[errors]]\nlicence = ["x"]\n')
    with pytest.raises(ConfigError, match=r"fancy\.toml: line 2: arrays of tables .*pip install tomli"):
        load_preset("fancy", search_dirs=[tmp_path])
    (tmp_path / "simple.toml").write_text('argv = ["x", "{file}"]\n')
    assert load_preset("simple", search_dirs=[tmp_path]).argv == ("x", "{file}")
