"""Environment end to end on real sshd nodes: the preset's env and the job's --env reach the renderer's
process on every node exactly (a hostile value is data, never run), the job's value over the preset's."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from .conftest import EngineFarm, assert_complete

pytestmark = [pytest.mark.lab, pytest.mark.slow]

Make = Callable[..., EngineFarm]
COMMAND = Path(__file__).resolve().parents[2] / "python/farmhand/presets/builtin/command.toml"


def test_preset_and_job_environment_reach_the_renderer(engine_farm: Make) -> None:
    farm = engine_farm(n=2)
    (farm.home / "presets").mkdir()
    (farm.home / "presets" / "envcmd.toml").write_text(
        COMMAND.read_text() + '\n[env]\nLEVEL = "preset"\nOCIO = "/share/aces/config.ocio"\n')
    script = farm.share / "show_env.sh"
    script.write_text('mkdir -p "$(dirname "$1")"\n'
                      'printf "%s|%s|%s|%s\\n" "$LEVEL" "$OCIO" "$SHOT" "$(hostname)" > "$1"\n'
                      'echo "Saved: \'$1\'"\n')
    hostile = "sh010 $(touch PWNED) ; `touch PWNED2` 'q' \"dq\""
    job = farm.submit("--preset", "envcmd", "--command", f"sh {script} {farm.share}/env/f{{frame}}.txt",
                      "--frames", "1-6", "--chunk", "1", "--output", str(farm.share / "env" / "f$F.txt"),
                      "--env", "LEVEL=job", "--env", f"SHOT={hostile}")
    snap = farm.wait(job)
    assert_complete(farm, snap)
    hosts = set()
    for frame in range(1, 7):
        level, ocio, shot, host = (farm.share / "env" / f"f{frame}.txt").read_text().rstrip("\n").split("|")
        assert (level, ocio, shot) == ("job", "/share/aces/config.ocio", hostile)
        hosts.add(host)
    assert hosts == {"render01", "render02"}
    places = (farm.share, Path.cwd(), Path.home())
    assert not any((d / name).exists() for d in places for name in ("PWNED", "PWNED2"))
    status = farm.farmhand("status", job).stdout
    assert "env: LEVEL=job 'SHOT=sh010" in status
