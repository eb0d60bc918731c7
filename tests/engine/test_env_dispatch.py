"""Environment per job and per preset on the simulated farm: ``env NAME=VALUE ... argv`` in front of the
render, the job over the preset, absolute paths mapped per node, names checked, nothing through a shell."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from farmhand.engine.farmrules import env_argv
from farmhand.errors import UsageError
from farmhand.jobs import JobSpec

from .fake_farm import NodeBehaviour
from .rig import Rig, assert_all_done

MakeRig = Callable[..., Rig]
DEMO = Path(__file__).resolve().parents[2] / "python/farmhand/presets/builtin/demo.toml"


def test_env_argv_keeps_every_value_one_argument() -> None:
    assert env_argv([], ["render", "-x"]) == ["render", "-x"]
    hostile = "$(touch PWNED); `id` 'q' \"dq\"\nline2"
    assert env_argv([("A", hostile), ("B", "")], ["render"]) == ["env", f"A={hostile}", "B=", "render"]
    # A program whose own name holds '=' would be read by env as one more variable.
    assert env_argv([("A", "1")], ["/opt/x=y/render", "-f"]) == \
        ["env", "A=1", "sh", "-c", 'exec "$@"', "sh", "/opt/x=y/render", "-f"]


def test_job_env_over_preset_env_reaches_each_chunk_with_paths_mapped(rig_for: MakeRig,
                                                                       farmhand_home: Path) -> None:
    rig = rig_for({"r1": NodeBehaviour(spf=0.5), "r2": NodeBehaviour(spf=0.5)})
    (farmhand_home / "pathmap.json").write_text(json.dumps(
        {"nodes": {"r2": [{"from": "/studio", "to": "/mnt/studio"}]}}))
    (farmhand_home / "presets").mkdir()
    (farmhand_home / "presets" / "lit.toml").write_text(
        DEMO.read_text() + '\n[env]\nOCIO = "/studio/aces/config.ocio"\nLEVEL = "preset"\n')
    job = rig.submit("1-8", preset="lit", chunk=2, env=("LEVEL=job", "SHOT=sh010 $(id)"))
    rig.drive(rig.finished(job))
    assert_all_done(rig, job)
    by_node = {p.host: p.inner for p in rig.fake.procs}
    assert by_node["r1"][:4] == ["env", "LEVEL=job", "OCIO=/studio/aces/config.ocio", "SHOT=sh010 $(id)"]
    assert by_node["r2"][:4] == ["env", "LEVEL=job", "OCIO=/mnt/studio/aces/config.ocio", "SHOT=sh010 $(id)"]
    assert rig.client.job(job).spec.env == (("LEVEL", "job"), ("SHOT", "sh010 $(id)"))


def test_no_env_no_prefix(rig_for: MakeRig) -> None:
    rig = rig_for({"r1": NodeBehaviour(spf=0.5)})
    job = rig.submit("1-2")
    rig.drive(rig.finished(job))
    assert all(p.inner[0] != "env" for p in rig.fake.procs)


@pytest.mark.parametrize("bad", ["1X=a", "A B=c", "A-B=c", "novalue", "A=\0"])
def test_bad_env_is_refused_in_one_line(bad: str) -> None:
    with pytest.raises(UsageError) as err:
        JobSpec(preset="demo", frames="1", env=(bad,))
    assert "\n" not in err.value.message


def test_env_survives_the_store_round_trip() -> None:
    spec = JobSpec(preset="demo", frames="1", env={"B": "2", "A": "x=y"}, groups=["GPU"], limits=["Karma"])
    data = spec.to_dict()
    assert data["env"] == {"A": "x=y", "B": "2"} and data["groups"] == ["gpu"] and data["limits"] == ["karma"]
    assert JobSpec.from_dict(json.loads(json.dumps(data))) == spec
