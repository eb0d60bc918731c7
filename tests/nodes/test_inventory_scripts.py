"""Run the real POSIX inventory script with FAKE platform tools (macOS branch; nvidia-smi on Linux).

The fakes (written into a temp dir at the front of PATH) print the documented output formats of
uname, sw_vers, sysctl, vm_stat, ifconfig and system_profiler on an Apple-silicon Mac, so the awk/sh of
the Darwin branch is executed for real and its output goes through the same parser.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from farmhand.nodes.inventory import parse, posix_argv

FAKES = {
    "uname": 'case "$1" in -s) echo Darwin;; -r) echo 23.4.0;; -m) echo arm64;; *) echo mini;; esac',
    "hostname": "echo mini-03.local",
    "sw_vers": "echo 14.4.1",
    "sysctl": ('case "$2" in hw.logicalcpu) echo 8;; hw.physicalcpu) echo 4;; hw.memsize) echo 17179869184;; '
               'vm.loadavg) echo "{ 1.93 2.11 2.25 }";; esac'),
    "vm_stat": """cat <<'X'
Mach Virtual Memory Statistics: (page size of 16384 bytes)
Pages free:                               12288.
Pages active:                            234567.
Pages inactive:                          200000.
Pages speculative:                         3456.
Pages wired down:                         98765.
X""",
    "ifconfig": """printf '%s\\n' 'lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384' \
'	inet 127.0.0.1 netmask 0xff000000' \
'en0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500' \
'	ether f0:2f:4b:0a:1b:2c' \
'	inet6 fe80::1c2b:aa:bb:cc%en0 prefixlen 64 secured scopeid 0xb' \
'	inet 10.0.0.63 netmask 0xffffff00 broadcast 10.0.0.255' \
'	status: active' \
'en1: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500' \
'	ether 36:5a:10:aa:bb:01' \
'	inet 192.168.7.20 netmask 0xfffffc00 broadcast 192.168.7.255'""",
    "system_profiler": """printf '%s\\n' 'Graphics/Displays:' '' '    Apple M2:' '' \
'      Chipset Model: Apple M2' '      Type: GPU' '      Total Number of Cores: 10'""",
}


def test_darwin_branch_with_fake_macos_tools(tmp_path: Path) -> None:
    bin_dir = tmp_path / "fake-macos-bin"
    bin_dir.mkdir()
    for name, body in FAKES.items():
        path = bin_dir / name
        path.write_text("#!/bin/sh\n" + body + "\n")
        path.chmod(0o755)
    root = tmp_path / "sw"
    (root / "hfs20.5.332").mkdir(parents=True)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    proc = subprocess.run(posix_argv(str(tmp_path), [str(root)]), env=env, capture_output=True, text=True,
                          check=True)
    inv = parse(proc.stdout)
    assert (inv.hostname, inv.os, inv.kernel, inv.arch) == ("mini-03.local", "Darwin", "23.4.0", "arm64")
    assert inv.os_name == "macOS 14.4.1"
    assert (inv.cpus_logical, inv.cpus_physical, inv.mem_total_mb) == (8, 4, 16384)
    assert inv.mem_available_mb == (12288 + 200000 + 3456) * 16384 // 1024 // 1024
    assert inv.load == (1.93, 2.11, 2.25)
    assert {(i.name, i.mac, i.ipv4) for i in inv.interfaces} == {
        ("en0", "f0:2f:4b:0a:1b:2c", ("10.0.0.63/24",)), ("en1", "36:5a:10:aa:bb:01", ("192.168.7.20/22",))}
    assert [g.name for g in inv.gpus] == ["Apple M2"]
    assert [(h.path, h.version) for h in inv.houdini] == [(str(root / "hfs20.5.332"), "20.5.332")]
    assert inv.share_path == str(tmp_path) and (inv.share_free_mb or 0) > 0


def test_linux_branch_with_a_fake_nvidia_smi(tmp_path: Path) -> None:
    """The Linux branch for real on this machine, plus a FAKE nvidia-smi printing its CSV format."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"
    smi.write_text("#!/bin/sh\nprintf '%s\\n' 'NVIDIA RTX A6000, 49140, 550.54.15' "
                   "'NVIDIA GeForce RTX 4090, 24564, 550.54.15'\n")
    smi.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    inv = parse(subprocess.run(posix_argv(), env=env, capture_output=True, text=True, check=True).stdout)
    assert inv.os == "Linux" and inv.cpus_logical == os.cpu_count()
    assert [(g.name, g.memory_mb, g.driver) for g in inv.gpus] == [
        ("NVIDIA RTX A6000", 49140, "550.54.15"), ("NVIDIA GeForce RTX 4090", 24564, "550.54.15")]
    assert inv.mem_total_mb > 0 and inv.share_path is None


def test_houdini_found_once_through_version_links(tmp_path: Path) -> None:
    # Houdini's Linux installer links /opt/hfs21.0 -> hfs21.0.512: one install, reported under its own
    # path and full version. A build elsewhere linked into a search root counts too.
    root, elsewhere = tmp_path / "sidefx", tmp_path / "share" / "hfs20.5.332"
    (root / "hfs21.0.512" / "bin").mkdir(parents=True)
    (root / "hfs21.0").symlink_to(root / "hfs21.0.512")
    (elsewhere / "bin").mkdir(parents=True)
    (root / "hfs20.5").symlink_to(elsewhere)
    out = subprocess.run(posix_argv("", [str(root), str(root)]), capture_output=True, text=True, check=True)
    found = sorted((h.version, h.path) for h in parse(out.stdout).houdini)
    assert [v for v, _ in found] == ["20.5.332", "21.0.512"]
    assert dict(found)["20.5.332"] == str(elsewhere) and dict(found)["21.0.512"] == str(root / "hfs21.0.512")
