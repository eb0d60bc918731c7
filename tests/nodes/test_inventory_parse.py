"""Inventory parsing against golden captures in tests/data (real Linux; hand-made macOS/Windows/GPU)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from farmhand.nodes.inventory import Inventory, InventoryParseError, parse, posix_argv, windows_command
from farmhand.nodes.inventory.scripts import BEGIN, END, POSIX_SCRIPT

DATA = Path(__file__).resolve().parents[1] / "data"


def load(name: str) -> Inventory:
    return parse((DATA / name).read_text())


def test_real_linux_lab_capture_ignores_rc_noise() -> None:
    inv = load("inventory_linux_lab_render01.txt")
    assert inv.hostname == "render01"  # not "evil", printed by the rc file before the marker
    assert inv.os == "Linux" and inv.arch == "x86_64"
    assert inv.os_name.startswith("Debian GNU/Linux 12")
    assert inv.cpus_logical == 2 and inv.cpus_physical == 2
    assert inv.mem_total_mb == 24731708 // 1024 and inv.mem_available_mb == 24273716 // 1024
    assert inv.load == (0.48, 0.44, 0.24)
    assert [(i.name, i.ipv4) for i in inv.interfaces] == [("eth0", ("10.77.0.11/24",))]
    assert inv.macs == ["1e:71:9a:cb:bf:e1"]
    assert [(h.path, h.version) for h in inv.houdini] == [("/tmp/fh-lab/sw/hfs20.5.332", "20.5.332")]
    assert inv.share_path == "/tmp/fh-lab/share" and inv.share_free_mb == 82098728 // 1024
    assert inv.gpus == ()


def test_linux_with_gpus_and_several_houdini_builds() -> None:
    inv = load("inventory_linux_gpu_handmade.txt")
    assert inv.cpus_logical == 64 and inv.cpus_physical == 32
    assert [(g.name, g.memory_mb, g.driver) for g in inv.gpus] == [
        ("NVIDIA RTX A6000", 49140, "550.54.15"), ("NVIDIA GeForce RTX 4090", 24564, "550.54.15")]
    assert [h.version for h in inv.houdini] == ["19.5.805", "20.5.332"]  # sorted, duplicate dropped
    assert "3c:ec:ef:12:34:56" in inv.macs  # upper case normalised
    assert dict((i.name, i.ipv4) for i in inv.interfaces)["eno1"] == ("10.0.0.57/24",)
    assert inv.share_free_mb == 5242880000 // 1024


def test_macos_capture() -> None:
    inv = load("inventory_macos_handmade.txt")
    assert inv.os == "Darwin" and inv.arch == "arm64" and inv.cpus_physical == 8
    assert dict((i.name, i.ipv4) for i in inv.interfaces)["en0"] == ("10.0.0.63/24",)  # hex netmask
    assert inv.houdini[0].version == "20.5.332"
    assert inv.houdini[0].path.endswith("/Versions/20.5.332/Resources")
    assert inv.gpus[0].name == "Apple M2" and inv.gpus[0].memory_mb is None


def test_windows_capture() -> None:
    inv = load("inventory_windows_handmade.txt")
    assert inv.os == "Windows" and inv.cpus_logical == 24 and inv.cpus_physical == 12
    assert "d8:bb:c1:01:02:03" in inv.macs
    assert inv.houdini[0].path == r"C:\Program Files\Side Effects Software\Houdini 20.5.332"
    assert inv.load == (0.25 * 24,)
    assert inv.share_path == "P:\\"


def test_round_trip_through_json_dict() -> None:
    import json

    inv = load("inventory_linux_gpu_handmade.txt")
    assert Inventory.from_dict(json.loads(json.dumps(inv.to_dict()))) == inv


@pytest.mark.parametrize("text", ["", "hostname=x\nos=Linux\n", f"{BEGIN}\nhostname=x\nos=Linux\n",
                                  f"{BEGIN}\nkernel=1\n{END}\n"])
def test_truncated_or_missing_output_is_an_error(text: str) -> None:
    with pytest.raises(InventoryParseError):
        parse(text)


def test_posix_argv_passes_values_as_arguments() -> None:
    argv = posix_argv("/mnt/my share's", ["/opt/x y"])
    assert argv[:3] == ["sh", "-c", POSIX_SCRIPT]
    assert argv[3:] == ["sh", "/mnt/my share's", "/opt/x y"]


def test_windows_command_is_encoded_powershell() -> None:
    cmd = windows_command("P:\\it's", ["D:\\Houdini builds"])
    prefix = "powershell -NoProfile -NonInteractive -EncodedCommand "
    assert cmd.startswith(prefix)
    script = base64.b64decode(cmd[len(prefix):]).decode("utf-16-le")
    assert "$Share = 'P:\\it''s'" in script
    assert "$ExtraRoots = @('D:\\Houdini builds')" in script
    assert BEGIN in script and END in script
    assert "Side Effects Software" in script and "Get-NetAdapter" in script


def test_posix_script_is_valid_sh() -> None:
    import subprocess

    assert subprocess.run(["sh", "-n", "-c", POSIX_SCRIPT]).returncode == 0


_KEYS = ["hostname", "os", "cpus_logical", "cpus_physical", "mem_total_kb", "load", "load_percent", "gpu",
         "houdini", "iface", "ipv4", "share_free_kb"]
_VALUES = ["inf", "-inf", "nan", "1e400", "9" * 5000, "x|y|z", "eth0 mac=00:11:22:33:44:55",
           "eth0 10.0.0.5/24", "", "|", "\x1b]0;t\x07", "٣", "-3", "0.5 0.6 nan"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_KEYS), st.one_of(st.sampled_from(_VALUES), st.text(max_size=20))),
                max_size=20))
def test_fuzz_node_output_parses_or_fails_cleanly(lines: list[tuple[str, str]]) -> None:
    """What a broken or hostile node prints: a sane Inventory (finite numbers, valid JSON) or one
    InventoryParseError, never anything else."""
    import json

    text = "\n".join([BEGIN, "hostname=n", "os=Linux", *(f"{k}={v}" for k, v in lines), END])
    try:
        inv = parse(text)
    except InventoryParseError:
        return
    json.dumps(inv.to_dict(), allow_nan=False)  # the registry stores it as JSON
    assert inv.cpus_logical >= 0 and inv.mem_total_mb >= 0
    assert Inventory.from_dict(inv.to_dict()) == inv
