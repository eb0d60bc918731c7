"""Bring up a lab by hand: ``python -m farmhand.lab [-n 4] [--mode netns|loopback]``.

Prints the nodes, trusts their host keys in a fresh FARMHAND_HOME, writes an ssh_config for them, and
(netns mode) the command that opens a shell inside the lab namespace. Ctrl-C (or SIGTERM/SIGHUP) tears
everything down.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from farmhand.lab import LocalFarm
from farmhand.lab.farm import Mode


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m farmhand.lab", description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=4, help="number of nodes (default 4)")
    default_mode = "netns" if os.geteuid() == 0 else "loopback"
    ap.add_argument("--mode", choices=("netns", "loopback"), default=default_mode)
    args = ap.parse_args()
    # `kill`, a closed terminal or a CI timeout tear the lab down like Ctrl-C (atexit alone would not run).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    home = Path(tempfile.mkdtemp(prefix="farmhand-lab-home-"))
    os.environ["FARMHAND_HOME"] = str(home)
    try:
        return _serve(args.n, args.mode, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _serve(n: int, mode: Mode, home: Path) -> int:
    # The interrupt may come at any point, even while the lab starts or is being announced: the
    # context manager tears down whatever exists by then.
    try:
        with LocalFarm(n=n, mode=mode) as farm:
            _announce(farm, mode, home)
            signal.pause()
    except KeyboardInterrupt:
        pass
    return 0


def _announce(farm: LocalFarm, mode: Mode, home: Path) -> None:
    farm.trust()
    config = home / "ssh_config"
    config.write_text(farm.ssh_config_text())
    out = sys.stdout
    out.write(f"lab up ({mode}); FARMHAND_HOME={home}\n")
    for node in farm.nodes:
        out.write(f"  {node.name:<10} {node.address}:{node.port}  hostname {node.hostname}\n")
    out.write(f"shared directory: {farm.share_dir}\n")
    out.write(f"ssh config: {config} (ssh -F {config} render01, from the lab shell)\n")
    if mode == "netns":
        out.write(f"shell in the lab: ip netns exec {farm.lab_ns} env FARMHAND_HOME={home} bash\n")
    out.write("Ctrl-C to tear down\n")
    out.flush()


if __name__ == "__main__":
    sys.exit(main())
