"""Reading the golden renderer captures in tests/data/renderer_logs (``#|`` header + raw output)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

LOG_DIR = Path(__file__).resolve().parent.parent / "data" / "renderer_logs"


@dataclass(frozen=True)
class Capture:
    name: str
    header: dict[str, str]
    lines: list[str]

    @property
    def exit_code(self) -> Optional[int]:
        text = self.header.get("exit", "")
        return int(text) if text else None

    def listed(self, key: str) -> list[str]:
        return [item for item in self.header.get(key, "").split(",") if item]


def load(path: Path) -> Capture:
    header: dict[str, str] = {}
    lines: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#| ") and not lines:
            key, _, value = line[3:].partition(":")
            header[key.strip()] = value.strip()
        else:
            lines.append(line)
    return Capture(path.name, header, lines)


def all_captures() -> list[Path]:
    return sorted(LOG_DIR.glob("*.log"))
