"""A small TOML-subset reader for Pythons without ``tomllib`` (Houdini 19.5/20.0 ship Python 3.9/3.10).

Farmhand prefers ``tomllib`` (3.11+) or ``tomli``; this reader only runs when neither is importable, so
the built-in presets still load inside an older hython. It reads what preset files use: comments,
``[table]`` headers, ``key = value`` with bare or quoted keys, basic and literal strings (single- and
multi-line), booleans, integers, floats and (nested, multi-line) arrays. Anything else raises
:class:`TomlSubsetError` naming the line. The tests check it gives the same result as ``tomllib`` on
every built-in preset.
"""

from __future__ import annotations

import re
from typing import Any

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_NUMBER = re.compile(r"[+-]?(?:\d[\d_]*)(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?")
_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


class TomlSubsetError(ValueError):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text.replace("\r\n", "\n")
        self.pos = 0

    @property
    def line(self) -> int:
        return self.text.count("\n", 0, self.pos) + 1

    def fail(self, message: str) -> TomlSubsetError:
        return TomlSubsetError(message, self.line)

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos:self.pos + n]

    def skip_space(self, newlines: bool = False) -> None:
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in " \t" or (newlines and ch == "\n"):
                self.pos += 1
            elif ch == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            else:
                return

    def end_of_line(self) -> None:
        self.skip_space()
        if self.pos < len(self.text) and self.text[self.pos] != "\n":
            raise self.fail(f"unexpected {self.text[self.pos]!r} after the value")

    def key(self) -> str:
        if self.peek() in ('"', "'"):
            return self.string()
        match = _BARE_KEY.match(self.text, self.pos)
        if not match:
            raise self.fail("expected a key")
        self.pos = match.end()
        return match.group(0)

    def string(self) -> str:
        if self.peek(3) == "'''":
            end = self.text.find("'''", self.pos + 3)
            if end < 0:
                raise self.fail("unterminated ''' string")
            body = self.text[self.pos + 3:end]
            self.pos = end + 3
            return body[1:] if body.startswith("\n") else body
        if self.peek(3) == '"""':
            raise self.fail('""" strings are not supported here; use \'\'\' or install tomli')
        quote = self.peek()
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(self.text) or self.text[self.pos] == "\n":
                raise self.fail("unterminated string")
            ch = self.text[self.pos]
            self.pos += 1
            if ch == quote:
                return "".join(out)
            if ch == "\\" and quote == '"':
                esc = self.text[self.pos:self.pos + 1]
                self.pos += 1
                if esc in _ESCAPES:
                    out.append(_ESCAPES[esc])
                elif esc in ("u", "U"):
                    width = 4 if esc == "u" else 8
                    digits = self.text[self.pos:self.pos + width]
                    try:
                        out.append(chr(int(digits, 16)))
                    except ValueError:
                        raise self.fail(f"bad \\{esc} escape") from None
                    self.pos += width
                else:
                    raise self.fail(f"unknown escape \\{esc}")
            else:
                out.append(ch)

    def value(self) -> Any:
        ch = self.peek()
        if ch in ('"', "'"):
            return self.string()
        if ch == "[":
            return self.array()
        for word, result in (("true", True), ("false", False)):
            if self.text.startswith(word, self.pos):
                self.pos += len(word)
                return result
        match = _NUMBER.match(self.text, self.pos)
        if match and match.group(0) not in ("+", "-"):
            self.pos = match.end()
            text = match.group(0).replace("_", "")
            if any(c in text for c in ".eE"):
                return float(text)
            return int(text)
        raise self.fail("expected a string, number, boolean or array")

    def array(self) -> list[Any]:
        self.pos += 1
        items: list[Any] = []
        while True:
            self.skip_space(newlines=True)
            if self.peek() == "]":
                self.pos += 1
                return items
            items.append(self.value())
            self.skip_space(newlines=True)
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() != "]":
                raise self.fail("expected , or ] in the array")


def loads(text: str) -> dict[str, Any]:
    """Parse ``text`` (the subset above) into nested dicts, like ``tomllib.loads``."""
    reader = _Reader(text)
    root: dict[str, Any] = {}
    table = root
    while True:
        reader.skip_space(newlines=True)
        if reader.pos >= len(reader.text):
            return root
        if reader.peek() == "[":
            if reader.peek(2) == "[[":
                raise reader.fail("arrays of tables are not supported here; install tomli")
            reader.pos += 1
            reader.skip_space()
            names = [reader.key()]
            reader.skip_space()
            while reader.peek() == ".":
                reader.pos += 1
                reader.skip_space()
                names.append(reader.key())
                reader.skip_space()
            if reader.peek() != "]":
                raise reader.fail("expected ] after the table name")
            reader.pos += 1
            reader.end_of_line()
            table = root
            for name in names:
                nxt = table.setdefault(name, {})
                if not isinstance(nxt, dict):
                    raise reader.fail(f"{name} is already a value, not a table")
                table = nxt
            continue
        key = reader.key()
        reader.skip_space()
        if reader.peek() == ".":
            raise reader.fail("dotted keys are not supported here; use a [table]")
        if reader.peek() != "=":
            raise reader.fail(f"expected = after {key}")
        reader.pos += 1
        reader.skip_space()
        if key in table:
            raise reader.fail(f"{key} is defined twice")
        table[key] = reader.value()
        reader.end_of_line()
