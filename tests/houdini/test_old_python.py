"""What runs inside Houdini 19.5/20.0 (Python 3.9/3.10) or on a node's hython must parse there too: the
glue, the node-side worker and the installer (the engine's check, applied to this area's files)."""

from __future__ import annotations

from pathlib import Path

import pytest

from base.test_old_python import test_parses_as_python_3_9 as parses_as_python_3_9

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(
    [p.relative_to(ROOT).as_posix() for p in (ROOT / "python" / "farmhand" / "houdini").glob("*.py")]
    + ["python/farmhand/houdini/worker.py", "scripts/install_farmhand.py"])


def test_the_list_covers_the_glue() -> None:
    assert "python/farmhand/houdini/entry.py" in MODULES and len(MODULES) >= 12


@pytest.mark.parametrize("module", MODULES)
def test_houdini_side_parses_as_python_3_9(module: str) -> None:
    parses_as_python_3_9(module)
