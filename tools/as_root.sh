# Sourced by tools/demo.sh and tools/test.sh: both need root (the demo farm and the test lab are network
# namespaces). Run as root, they just go on. Run as a user, they ask sudo once, and every file root
# creates in this checkout (virtualenvs, caches, artifacts, the demo's state) is given back to that user
# when they end, so nothing root-owned is left behind. Without root and without sudo: one line, exit 1.
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    echo "$(basename "$0"): needs root for network namespaces; asking sudo" >&2
    exec sudo --preserve-env=CI,COLUMNS,FARMHAND_QT_API bash "$0" "$@"
  fi
  echo "$(basename "$0"): needs root (network namespaces) and sudo is not installed: run it as root" >&2
  exit 1
fi

give_back_to_user() {
  if [ -n "${SUDO_UID:-}" ] && [ "${SUDO_UID}" != 0 ]; then
    find . -xdev -user 0 -exec chown -h "${SUDO_UID}:${SUDO_GID:-$SUDO_UID}" {} + 2>/dev/null || true
  fi
}
trap give_back_to_user EXIT
