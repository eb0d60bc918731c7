"""Per-node path mapping in the dispatcher: each node's command names the scene, output and scripts the
way that node sees them (FARMHAND_HOME/pathmap.json: general rules and per-node rules), and outputs are
checked on the node under its own name for them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from farmhand.jobs import JobState

from .fake_farm import NodeBehaviour
from .rig import REPO, Rig


def _arg(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_scene_output_scripts_and_path_params_are_mapped_per_node(
    farmhand_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # an unmapped Windows path would land here as a relative directory
    farm_view = tmp_path / "farm"  # the share as most nodes mount it
    mac_view = tmp_path / "Volumes" / "proj"  # the same share as node "mac" mounts it
    (farm_view / "renders").mkdir(parents=True)
    mac_view.parent.mkdir(parents=True)
    mac_view.symlink_to(farm_view)
    share_scripts = tmp_path / "share" / "farmhand"  # the share copy of the package
    share_scripts.mkdir(parents=True)
    farmhand_home.mkdir(parents=True, exist_ok=True)
    (farmhand_home / "pathmap.json").write_text(json.dumps({
        "rules": [{"from": "P:/", "to": f"{farm_view}/"},
                  {"from": str(REPO / "python" / "farmhand"), "to": str(share_scripts)}],
        "nodes": {"mac": [{"from": f"{farm_view}/", "to": f"{mac_view}/"}]},
    }))
    rig = Rig(farmhand_home, {"lin": NodeBehaviour(spf=1.0), "mac": NodeBehaviour(spf=1.0)})
    # The submitter (a Windows workstation) names everything on P:; this machine cannot see P:, so
    # every output is checked on the node that rendered it.
    job = rig.submit("1-12", file="P:\\proj\\shot.hip", output="P:/renders/beauty.$F4.png",
                     params=(("speed_file", "P:/proj/speeds.json"), ("seconds_per_frame", "1")))
    rig.drive(rig.finished(job))
    snap = rig.snap(job)
    assert snap.state is JobState.DONE, [e.message for e in snap.events][-8:]
    assert snap.spec.file == "P:\\proj\\shot.hip"  # the job keeps the submitter's names
    by_host = {p.host: p.inner for p in rig.fake.procs}
    assert {p.require for p in rig.fake.procs} == {str(share_scripts)}  # checked on the node first
    assert set(by_host) == {"lin", "mac"}
    expected = {"lin": farm_view, "mac": mac_view}
    for host, argv in by_host.items():
        root = expected[host]
        assert _arg(argv, "--scene") == f"{root}/proj/shot.hip"
        assert _arg(argv, "--output") == f"{root}/renders/beauty.$F4.png"
        assert _arg(argv, "--speed-file") == f"{root}/proj/speeds.json"
        assert _arg(argv, "--seconds-per-frame") == "1"
        assert argv[1] == f"{share_scripts}/lab/demo_render.py"
    checks = [(host, argv[4:]) for host, argv in rig.fake.runs if "farmhand-verify" in argv]
    assert checks and all(p.startswith(str(expected[host])) for host, paths in checks for p in paths)
    assert sorted(p.name for p in (farm_view / "renders").iterdir()) == [
        f"beauty.{f:04d}.png" for f in range(1, 13)
    ]
    assert not (tmp_path / "P:").exists()


def test_a_node_that_cannot_see_the_scripts_is_blocked_with_what_to_set(farmhand_home: Path) -> None:
    rig = Rig(farmhand_home, {"a": NodeBehaviour(), "b": NodeBehaviour()})
    rig.dispatcher.state.node_package = "/nowhere/farmhand/scripts"
    job = rig.submit("1-4")
    rig.drive(rig.finished(job))
    snap = rig.snap(job)
    assert snap.state is JobState.FAILED
    error = snap.summary.error or ""
    assert "cannot see Farmhand's node scripts at /nowhere/farmhand/scripts: set FARMHAND_NODE_PACKAGE" \
        in error
    assert all(f.attempts == 0 and f.error_kind is None for f in snap.frames)  # no frame is to blame
    assert {e.node for e in snap.events if e.kind == "scripts_missing"} == {"a", "b"}
    assert rig.fake.rendered == []


def test_a_broken_pathmap_keeps_the_previous_one_and_says_why(farmhand_home: Path) -> None:
    farmhand_home.mkdir(parents=True, exist_ok=True)
    (farmhand_home / "pathmap.json").write_text(json.dumps({"rules": [{"from": "/a"}]}))
    rig = Rig(farmhand_home, {"n": NodeBehaviour()})
    rig.drive(lambda: True)
    events = rig.client.events()
    assert any(e.kind == "pathmap" and "'from' and 'to'" in e.message and "keeping" in e.message
               for e in events)
