#!/usr/bin/env bash
# Install everything Farmhand's demo and tests need on a fresh Debian machine (as root, or a user with sudo).
#   tools/setup.sh            system packages + the main virtualenv (.venv, PySide6)
#   tools/setup.sh --pyside2  also the PySide2 virtualenv (.venv-pyside2, Debian's PySide2 on /usr/bin/python3)
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

APT_PACKAGES=(openssh-server openssh-client iproute2 iptables nmap tcpdump procps util-linux mount blender
              python3-venv python3-pip libegl1 libgl1 libxkbcommon0 libfontconfig1 libdbus-1-3 libglib2.0-0
              postgresql)  # the team-farm tests start throwaway clusters (lab/pgcluster.py)
want_pyside2=0
[ "${1:-}" = "--pyside2" ] && want_pyside2=1
if [ "$want_pyside2" = 1 ]; then
  APT_PACKAGES+=(python3-pyside2.qtcore python3-pyside2.qtgui python3-pyside2.qtwidgets python3-pyside2.qttest)
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
$SUDO mkdir -p /run/sshd

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test,ui]'

if [ "$want_pyside2" = 1 ]; then
  # PySide2 has no wheels for Python 3.11; Debian builds it for its own python3, so this venv uses that
  # interpreter and sees the system packages.
  if [ ! -x .venv-pyside2/bin/python ]; then
    /usr/bin/python3 -m venv --system-site-packages .venv-pyside2
  fi
  .venv-pyside2/bin/python -m pip install -q 'pytest>=7' 'pytest-qt>=4.2,<4.5' 'paramiko>=5.1' 'hypothesis>=6.100' 'openimageio'  # 4.5 dropped PySide2
  .venv-pyside2/bin/python -m pip install -q --no-deps -e .
fi
echo "setup: ready"
