"""Node groups: tag and group spelling (farmhand.labels), tags read from real inventory captures, and
tags given by hand in the registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from farmhand import labels
from farmhand.errors import UsageError
from farmhand.nodes.inventory import parse
from farmhand.nodes.registry import Registry
from farmhand.nodes.tags import auto_tags, group_names, houdini_tags, node_tags, unmatched

DATA = Path(__file__).resolve().parents[1] / "data"


def _inventory(name: str) -> dict[str, object]:
    return parse((DATA / name).read_text()).to_dict()


def test_gpu_workstation_capture_gives_os_arch_gpu_houdini_and_facts() -> None:
    tags = auto_tags(_inventory("inventory_linux_gpu_handmade.txt"))
    # 263842332 kB = 270.2 GB; 64 logical cores; builds 19.5.805 and 20.5.332.
    assert tags == {"linux", "x86_64", "gpu", "houdini-19", "houdini-19.5", "houdini-19.5.805",
                    "houdini-20", "houdini-20.5", "houdini-20.5.332", "cores=64", "ram=270"}


def test_macos_and_windows_captures_name_their_os() -> None:
    assert "macos" in auto_tags(_inventory("inventory_macos_handmade.txt"))
    windows = auto_tags(_inventory("inventory_windows_handmade.txt"))
    assert "windows" in windows and "linux" not in windows


def test_no_inventory_no_tags_and_odd_values_are_ignored() -> None:
    assert auto_tags(None) == frozenset()
    odd = {"os": "Plan9", "arch": "x y", "cpus_logical": True, "mem_total_mb": -5, "gpus": [],
           "houdini": [{"version": "unknown"}, "not a dict"]}
    assert auto_tags(odd) == frozenset()
    assert houdini_tags("21.0") == ["houdini-21", "houdini-21.0"]


@pytest.mark.parametrize(("text", "canonical"), [
    ("GPU", "gpu"), (" houdini-21.0 ", "houdini-21.0"), ("cores >= 16", "cores>=16"), ("RAM>=064", "ram>=64"),
])
def test_groups_are_normalised(text: str, canonical: str) -> None:
    assert labels.group(text) == canonical


@pytest.mark.parametrize("text", ["", "-gpu", "gpu node", "cores>16", "ram<=4", "cpu>=2", "a" * 64, "x=1",
                                  "ü"])
def test_bad_groups_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(UsageError) as err:
        labels.group(text)
    assert "\n" not in err.value.message and "group" in err.value.message


def test_facts_compare_as_numbers() -> None:
    tags = {"linux", "cores=16", "ram=64"}
    assert labels.groups_match(["linux", "cores>=16", "ram>=32"], tags)
    assert not labels.group_matches("cores>=17", tags)
    assert not labels.group_matches("cores>=2", {"linux"})  # no fact: not in the group
    assert labels.groups_match([], set())


def test_a_menu_offers_tags_not_facts_and_unmatched_names_the_missing_group() -> None:
    sets = [{"linux", "gpu", "cores=8"}, {"linux", "cores=32"}]
    assert group_names(sets) == ["gpu", "linux"]
    assert unmatched(["linux"], sets) is None and unmatched(["cores>=32"], sets) is None
    message = unmatched(["houdini-21.0"], sets) or ""
    assert "group houdini-21.0" in message and "gpu, linux" in message
    together = unmatched(["gpu", "cores>=32"], sets) or ""
    assert "gpu + cores>=32 together" in together
    assert "groups that exist: none" in (unmatched(["gpu"], []) or "")


def test_environment_names_values_and_last_one_wins() -> None:
    assert labels.env(["B=2", "A=x=y", ("B", "3")]) == (("A", "x=y"), ("B", "3"))
    assert labels.env({"EMPTY": ""}) == (("EMPTY", ""),)
    for bad in ("1A=x", "A-B=x", "novalue", "A=\0"):
        with pytest.raises(UsageError):
            labels.env([bad])


def test_registry_keeps_manual_tags_through_rename_and_drops_them_with_the_node(farmhand_home: Path) -> None:
    reg = Registry()
    reg.record_discovered("10.0.0.9", "SSH-2.0-x")
    reg.tag("10.0.0.9", ["Fast", "fast", "lookdev"])
    reg.add("render09", "10.0.0.9")  # the scanned address gets its name: the tags follow
    assert reg.manual_tags() == {"render09": ("fast", "lookdev")}
    reg.tag("render09", ["lookdev"], remove=True)
    assert reg.manual_tags() == {"render09": ("fast",)}
    assert node_tags({"os": "Linux"}, reg.manual_tags()["render09"]) == {"linux", "fast"}
    with pytest.raises(UsageError):
        reg.tag("render09", ["bad tag"])
    reg.remove("render09")
    assert reg.manual_tags() == {}
