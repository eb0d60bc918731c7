#!/usr/bin/env bash
# The README's first command: set up, then render a short sequence on a throwaway farm of local sshd nodes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/farmhand demo "$@"
