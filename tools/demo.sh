#!/usr/bin/env bash
# The README's first command: set up, then render a short sequence on a throwaway farm of local sshd nodes.
# Works as root (sudo not needed) or as a user with sudo (files in the checkout stay the user's).
set -euo pipefail
cd "$(dirname "$0")/.."
. tools/as_root.sh
bash tools/setup.sh
.venv/bin/farmhand demo "$@"
