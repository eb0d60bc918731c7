"""Path mapping and preflight findings (pure: no hou)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from farmhand.display import Severity
from farmhand.errors import ConfigError
from farmhand.houdini import pathmap
from farmhand.houdini.pathmap import PathMap, PathRule
from farmhand.houdini.preflight import Fix, NodeFacts, SceneFacts, blocking, check


def test_normalise_windows_paths() -> None:
    assert pathmap.normalise("p:\\shots\\a.hip") == "P:/shots/a.hip"
    assert pathmap.normalise("//server/share//x") == "//server/share/x"
    assert pathmap.normalise("/a//b") == "/a/b"


def test_rules_map_prefixes_and_drive_letters_per_node() -> None:
    pmap = PathMap(
        shares=("/mnt/projects",),
        rules=(PathRule("P:/", "/mnt/projects/"),),
        node_rules={"mac01": (PathRule("/mnt/projects", "/Volumes/projects"),)},
    )
    assert pmap.to_node("p:\\shot\\a.hip") == "/mnt/projects/shot/a.hip"
    assert pmap.to_node("/mnt/projects/shot/a.hip", "mac01") == "/Volumes/projects/shot/a.hip"
    assert pmap.to_node("/mnt/projects/shot/a.hip", "linux01") == "/mnt/projects/shot/a.hip"
    assert pmap.to_node("/mnt/projectsX/a.hip", "mac01") == "/mnt/projectsX/a.hip"  # whole components only
    assert pmap.visible("/mnt/projects/a.hip") is True
    assert pmap.visible("P:/a.hip") is True
    assert pmap.visible("/home/me/a.hip") is False


def test_visibility_without_configuration_flags_only_local_looking_paths() -> None:
    pmap = PathMap()
    assert pmap.visible("/tmp/a.hip") is False
    assert pmap.visible("/mnt/share/a.hip") is None


def test_load_reports_bad_files_in_one_line(tmp_path: Path) -> None:
    good = tmp_path / "pathmap.json"
    good.write_text(json.dumps({"shares": ["/share"], "rules": [{"from": "S:/", "to": "/share/"}],
                                "nodes": {"n1": [{"from": "/share", "to": "/mnt/share"}]}}))
    loaded = pathmap.load(good)
    assert loaded.shares == ("/share",)
    assert loaded.to_node("/share/x", "n1") == "/mnt/share/x"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rules": [{"from": "/a"}]}))
    with pytest.raises(ConfigError, match="'from' and 'to'"):
        pathmap.load(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ConfigError, match="cannot read"):
        pathmap.load(broken)
    assert pathmap.load(tmp_path / "missing.json") == PathMap()


def _scene(tmp_path: Path, **changes: object) -> SceneFacts:
    out = tmp_path / "share" / "render"
    values: dict[str, object] = dict(hip_path=str(tmp_path / "share" / "shot.hip"),
                                     houdini_version="21.0.512", unsaved=False, untitled=False,
                                     outputs=(str(out / "a.0001.exr"),), file_refs=())
    values.update(changes)
    return SceneFacts(**values)  # type: ignore[arg-type]


NODES = [NodeFacts("n1", houdini=("21.0.512",)), NodeFacts("n2", houdini=("20.5.487",))]


def codes(findings: list) -> set[str]:  # type: ignore[type-arg]
    return {f.code for f in findings}


def test_clean_scene_has_no_blocking_findings(tmp_path: Path) -> None:
    pmap = PathMap(shares=(str(tmp_path / "share"),))
    findings = check(_scene(tmp_path), NODES, pmap)
    assert blocking(findings) == []
    assert codes(findings) == set()


def test_unsaved_and_untitled_scenes(tmp_path: Path) -> None:
    pmap = PathMap(shares=(str(tmp_path),))
    unsaved = check(_scene(tmp_path, unsaved=True), NODES, pmap)
    assert [f.code for f in blocking(unsaved)] == ["unsaved"]
    assert unsaved[0].fixes == (Fix.SAVE, Fix.SAVE_NEW_VERSION)
    assert "save" in unsaved[0].action
    assert [f.code for f in check(_scene(tmp_path, untitled=True), NODES, pmap)] == ["untitled"]


def test_hip_and_refs_outside_the_share(tmp_path: Path) -> None:
    pmap = PathMap(shares=("/mnt/projects",))
    findings = check(_scene(tmp_path, file_refs=(("/obj/f/file", "/home/me/tex.rat"),
                                                 ("/obj/g/file", "/mnt/projects/ok.bgeo"))), NODES, pmap)
    by_code = {f.code: f for f in findings}
    assert by_code["hip_not_shared"].severity is Severity.ERROR
    assert "/mnt/projects" in by_code["hip_not_shared"].action
    assert "/home/me/tex.rat" in by_code["refs_outside"].message
    assert "ok.bgeo" not in by_code["refs_outside"].message
    assert by_code["output_not_shared"].severity is Severity.WARNING


def test_output_directory_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "share" / "render"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the output folder should be")
    findings = check(_scene(tmp_path), NODES, PathMap(shares=(str(tmp_path),)))
    assert [f.code for f in blocking(findings)] == ["output_not_writable"]
    if os.geteuid() != 0:  # root can write anywhere; the file-in-the-way case above holds for everyone
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert "not writable" in check(_scene(tmp_path, outputs=(str(locked / "a.exr"),)), NODES,
                                       PathMap())[0].message


def test_node_builds_trust_and_enablement(tmp_path: Path) -> None:
    pmap = PathMap(shares=(str(tmp_path),))
    scene = _scene(tmp_path)
    assert codes(check(scene, [NodeFacts("n2", houdini=("21.0.400",))], pmap)) == {"build_mismatch"}
    none = check(scene, [NodeFacts("n2", houdini=("20.5.487",))], pmap)
    assert [f.code for f in blocking(none)] == ["no_matching_build"]
    assert "20.5.487" in none[0].message
    untrusted = check(scene, [NodeFacts("n1", trusted=False, houdini=("21.0.512",)), NODES[0]], pmap)
    assert codes(untrusted) == {"untrusted"}
    assert [f.code for f in check(scene, [NodeFacts("n1", enabled=False)], pmap)] == ["no_nodes"]
    assert [f.code for f in check(scene, [], pmap)] == ["no_nodes"]
    chosen = check(scene, NODES, pmap, chosen=["n2", "ghost"])
    assert codes(chosen) == {"unknown_nodes", "no_matching_build"}


def test_to_node_applies_node_rules_then_general_rules_then_node_rules_on_the_result() -> None:
    pmap = pathmap.from_dict({
        "rules": [{"from": "P:/", "to": "/mnt/p/"}],
        "nodes": {"mac01": [{"from": "/mnt/p/", "to": "/Volumes/p/"}],
                  "win01": [{"from": "P:/", "to": "//fs/p/"}]},
    })
    assert pmap.to_node("P:\\shot\\a.hip", "lin01") == "/mnt/p/shot/a.hip"
    assert pmap.to_node("p:/shot/a.hip", "mac01") == "/Volumes/p/shot/a.hip"  # general, then its own
    assert pmap.to_node("/mnt/p/shot/a.hip", "mac01") == "/Volumes/p/shot/a.hip"
    assert pmap.to_node("P:/shot/a.hip", "win01") == "//fs/p/shot/a.hip"  # its own rule first
    assert pmap.to_node("/share/a.hip", "mac01") == "/share/a.hip"


def test_houdini_pathmap_is_built_from_the_same_rules() -> None:
    """HOUDINI_PATHMAP for a node maps what the .hip names to what that node names, rule for rule, so
    absolute paths inside the .hip resolve on the node as the .hip's own path does."""
    import json

    from farmhand import pathmap as core
    from farmhand.houdini import pathmap as glue
    from farmhand.pathmap import houdini_pathmap

    assert glue.houdini_pathmap is core.houdini_pathmap  # one builder, in the core the dispatcher uses
    pmap = PathMap(shares=("P:/",), rules=(PathRule("P:/", "/mnt/projects/"),),
                   node_rules={"mac01": (PathRule("/mnt/projects/", "/Volumes/projects/"),)})
    linux = json.loads(houdini_pathmap(pmap, "render01"))
    assert linux == {"P:/": "/mnt/projects/", "P:\\": "/mnt/projects/"}
    assert pmap.to_node("P:/shot/tex/a.rat", "render01") == linux["P:/"] + "shot/tex/a.rat"
    mac = json.loads(houdini_pathmap(pmap, "mac01"))
    assert mac["P:/"] == "/Volumes/projects/" and mac["/mnt/projects/"] == "/Volumes/projects/"
    assert houdini_pathmap(PathMap(shares=("/mnt/projects",)), "render01") == ""
