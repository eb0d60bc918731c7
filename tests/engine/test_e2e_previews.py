"""Real EXR frames rendered by Blender on the lab's sshd nodes: each one is read whole before it counts as
done, a truncated one is rendered again, and every verified frame gets a preview the CLI can name.

Blender itself renders (half-float EXR, 2 nodes, one frame per chunk); a small wrapper given as the
preset's ``blender`` parameter cuts frame 3's file in half once, after Blender wrote it, as a node dying
while the file was being written would leave it.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from farmhand.engine import images, previews
from farmhand.jobs import FrameState, JobState

from .conftest import EngineFarm, assert_complete

pytestmark = [pytest.mark.lab, pytest.mark.slow]

BLENDER = shutil.which("blender") or "/usr/bin/blender"
EXR_SCENE = (
    "import bpy,sys; s=bpy.context.scene; s.render.engine='CYCLES'; s.cycles.samples=2; "
    "s.cycles.use_denoising=False; s.render.resolution_x,s.render.resolution_y=160,90; "
    "s.render.resolution_percentage=100; s.render.image_settings.file_format='OPEN_EXR'; "
    "s.render.image_settings.color_depth='16'; s.view_settings.view_transform='Standard'; "
    "bpy.ops.wm.save_as_mainfile(filepath=sys.argv[-1])"
)
TRUNCATING = """#!/bin/sh
# Blender, then frame 3's file cut in half, once (the mark remembers), as a dying node would leave it.
mine=0; prev=
for arg in "$@"; do [ "$prev" = -s ] && [ "$arg" = 3 ] && mine=1; prev=$arg; done
{blender} "$@"; status=$?
if [ $mine = 1 ] && [ ! -e {mark} ] && [ -e {target} ]; then
  touch {mark}; size=$(wc -c < {target}); head -c $((size / 2)) {target} > {mark}.cut
  mv {mark}.cut {target}; echo "truncated frame 3"
fi
exit $status
"""


def test_blender_exr_frames_are_read_whole_and_a_truncated_one_renders_again(
    engine_farm: Callable[..., EngineFarm],
) -> None:
    assert Path(BLENDER).exists(), "Blender is part of the test environment (tools/setup.sh installs it)"
    assert images.available(), "OpenImageIO is part of the test extra"
    farm = engine_farm(n=2)
    scene = farm.share / "exr scene.blend"
    subprocess.run([BLENDER, "-b", "--factory-startup", "--python-expr", EXR_SCENE, "--", str(scene)],
                   check=True, capture_output=True, timeout=120)
    out = farm.share / "exr out"
    wrapper = farm.share / "blender-truncating.sh"
    wrapper.write_text(TRUNCATING.format(blender=shlex.quote(BLENDER),
                                         mark=shlex.quote(str(farm.share / "truncated.mark")),
                                         target=shlex.quote(str(out / "beauty_0003.exr"))))
    wrapper.chmod(0o755)
    job = farm.submit("--preset", "blender", "--file", str(scene), "--frames", "1-6", "--chunk", "1",
                      "--output", str(out / "beauty_$F4.exr"), "--param", f"blender={wrapper}")
    snap = farm.wait(job, timeout=300)
    assert_complete(farm, snap)
    assert (farm.share / "truncated.mark").exists(), "the wrapper cut frame 3 once"
    for frame in range(1, 7):
        assert images.check_image(str(out / f"beauty_{frame:04d}.exr"))  # every file on the share is whole
    frame3 = next(f for f in snap.frames if f.frame == 3)
    assert frame3.state is FrameState.DONE and frame3.attempts == 1, farm.describe(job)
    unreadable = [e.message for e in snap.events if "not a readable image" in e.message]
    assert unreadable and "beauty_0003.exr" in unreadable[0], farm.describe(job)
    # Every verified frame got its preview, made by the dispatcher beside the job, never on the share.
    farm.wait_for(lambda: len(previews.listing(job)) == 6, timeout=30, what="six previews")
    assert not list(out.glob("*.jpg"))
    shown = farm.farmhand("preview", job).stdout.strip()
    assert Path(shown).parent == previews.job_dir(job) and Path(shown).stat().st_size > 500
    status = json.loads(farm.farmhand("status", job, "--json").stdout)
    assert status["state"] == JobState.DONE.value and status["preview"]["path"] == shown
