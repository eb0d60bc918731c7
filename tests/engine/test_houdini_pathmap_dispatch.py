"""Path mapping reaches Houdini on the node: the dispatcher sets ``HOUDINI_PATHMAP`` for each node, built
from the same path-map rules it maps the .hip with, in the environment of every Houdini preset's command
(so absolute paths saved inside the scene resolve on that node too)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from farmhand.engine.state import FarmNode
from farmhand.pathmap import from_dict, houdini_pathmap

from .fake_farm import NodeBehaviour
from .rig import Rig, assert_all_done

MakeRig = Callable[..., Rig]
DEMO = Path(__file__).resolve().parents[2] / "python/farmhand/presets/builtin/demo.toml"
PATHMAP = {"rules": [{"from": "P:/", "to": "/mnt/projects/"}],
           "nodes": {"mac": [{"from": "/mnt/projects/", "to": "/Volumes/projects/"}]}}


def _houdini_rig(rig_for: MakeRig, home: Path, pathmap: dict[str, object], env: str = "") -> Rig:
    """Two nodes with a Houdini build, and ``houdini-demo``: the demo renderer as a Houdini preset."""
    rig = rig_for({"lin": NodeBehaviour(spf=0.5), "mac": NodeBehaviour(spf=0.5)})
    rig.farm = [FarmNode(n, 4, houdini=(("21.0.512", f"/opt/hfs21.0.512-{n}"),)) for n in ("lin", "mac")]
    (home / "pathmap.json").write_text(json.dumps(pathmap))
    (home / "presets").mkdir()
    text = DEMO.read_text()
    assert "needs_houdini = false\n" in text
    (home / "presets" / "houdini-demo.toml").write_text(
        text.replace("needs_houdini = false\n", "needs_houdini = true\n") + env)
    return rig


def _env_of(argv: list[str]) -> dict[str, str]:
    assert argv[0] == "env", argv
    pairs = [a.split("=", 1) for a in argv[1:] if "=" in a and not a.startswith("/")]
    return {k: v for k, v in pairs}


def test_each_node_gets_houdini_pathmap_from_the_path_map(rig_for: MakeRig, farmhand_home: Path) -> None:
    rig = _houdini_rig(rig_for, farmhand_home, PATHMAP)
    job = rig.submit("1-8", preset="houdini-demo", chunk=2)
    rig.drive(rig.finished(job))
    assert_all_done(rig, job)
    seen = {p.host: json.loads(_env_of(p.inner)["HOUDINI_PATHMAP"]) for p in rig.fake.procs}
    assert seen["lin"] == {"P:/": "/mnt/projects/", "P:\\": "/mnt/projects/"}
    assert seen["mac"] == {"/mnt/projects/": "/Volumes/projects/", "P:/": "/Volumes/projects/",
                           "P:\\": "/Volumes/projects/"}
    assert seen["mac"] == json.loads(houdini_pathmap(from_dict(PATHMAP), "mac"))  # the core's builder


def test_not_for_other_presets_nor_without_rules_nor_over_a_given_value(rig_for: MakeRig,
                                                                        farmhand_home: Path) -> None:
    rig = _houdini_rig(rig_for, farmhand_home, PATHMAP, env='\n[env]\nHOUDINI_PATHMAP = "{}"\n')
    plain = rig.submit("1-2", preset="demo")
    given = rig.submit("3-4", preset="houdini-demo")
    rig.drive(lambda: all(rig.finished(j)() for j in (plain, given)))
    for job in (plain, given):
        assert_all_done(rig, job)
    commands = [p.inner for p in rig.fake.procs]
    assert [c for c in commands if c[0] != "env"]  # the demo preset's chunks: no environment at all
    assert {_env_of(c)["HOUDINI_PATHMAP"] for c in commands if c[0] == "env"} == {"{}"}  # the preset's own


def test_no_rules_no_houdini_pathmap(rig_for: MakeRig, farmhand_home: Path) -> None:
    rig = _houdini_rig(rig_for, farmhand_home, {"shares": ["/mnt/projects"]})
    job = rig.submit("1-2", preset="houdini-demo")
    rig.drive(rig.finished(job))
    assert_all_done(rig, job)
    assert all("HOUDINI_PATHMAP" not in " ".join(p.inner) for p in rig.fake.procs)
