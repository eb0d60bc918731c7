"""The engine's pure modules must stay importable by Houdini 19.5/20.0's Python 3.9/3.10."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = [
    "python/farmhand/frames.py",
    "python/farmhand/presets/failures.py",
    "python/farmhand/presets/progress.py",
    "python/farmhand/presets/__init__.py",
    "python/farmhand/presets/model.py",
    "python/farmhand/presets/loader.py",
    "python/farmhand/presets/lines.py",
    "python/farmhand/presets/regexcheck.py",
    "python/farmhand/presets/validate.py",
    "python/farmhand/presets/worker_protocol.py",
    "python/farmhand/lab/demo_render.py",
]


@pytest.mark.parametrize("module", MODULES)
def test_parses_as_python_3_9(module: str) -> None:
    source = (ROOT / module).read_text(encoding="utf-8")
    tree = ast.parse(source, filename=module, feature_version=(3, 9))
    futures = [
        n.names[0].name for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"
    ]
    assert "annotations" in futures, (
        "annotations must stay strings at runtime (PEP 604 unions do not exist before 3.10)"
    )
    # Runtime (non-annotation) uses of "X | None" would break on 3.9: module-level aliases are the risk.
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.BinOp):
            assert not isinstance(node.value.op, ast.BitOr), f"{module}: a PEP 604 union evaluated at import"
