#!/usr/bin/env bash
# The README's test command: sets up everything (apt + venvs) and runs lint, types and every test,
# the Qt tests under both PySide6 and PySide2. Needs root (network namespaces for the sshd node lab): run as
# root, or as a user with sudo (asked once; files in the checkout stay the user's).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/as_root.sh
bash tools/setup.sh --pyside2
export QT_QPA_PLATFORM=offscreen
mkdir -p artifacts

echo "== ruff"
.venv/bin/ruff check .
echo "== import-linter (layer contracts)"
.venv/bin/lint-imports --no-cache
echo "== mypy (core, ui, houdini against types-houdini; Python 3.11, and 3.9 for what Houdini 19.5 loads)"
.venv/bin/mypy
.venv/bin/mypy --python-version 3.9
echo "== mypy (fake hou, node-side worker, installer, fake hrender against types-houdini; 3.11 and 3.9)"
for v in 3.11 3.9; do
  .venv/bin/mypy --strict --python-version "$v" tests/fakes/hou/fake_hou python/farmhand/houdini/worker.py \
    scripts/install_farmhand.py tests/fakes/hfs/hfs21.0.512/bin/hrender.py
done
echo "== pytest (PySide6)"
FARMHAND_QT_API=pyside6 .venv/bin/python -m pytest -q "$@"
echo "== pytest (PySide2, Qt tests)"
FARMHAND_QT_API=pyside2 .venv-pyside2/bin/python -m pytest -q -m ui tests/ui
