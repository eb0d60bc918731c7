"""Previews and the readable-image check, on real frames rendered by Blender (/usr/bin/blender).

Blender renders a small Cycles scene to a half-float EXR, a multi-layer EXR and a PNG; OpenImageIO adds a
real multi-part EXR (a depth part first, the beauty second) and an HDR image, and a truncated copy of the
EXR stands for a frame whose node died while writing it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from farmhand.engine import images, previews
from farmhand.engine.store import Store
from farmhand.jobs import FrameState, JobSpec

pytestmark = pytest.mark.slow

BLENDER = shutil.which("blender") or "/usr/bin/blender"
SCENE = """
import bpy
s = bpy.context.scene
s.render.engine = "CYCLES"; s.cycles.samples = 2; s.cycles.use_denoising = False
s.render.resolution_x, s.render.resolution_y, s.render.resolution_percentage = 320, 180, 100
if s.render.image_settings.file_format.startswith("OPEN_EXR"):
    s.render.image_settings.color_depth = "16"  # half float
s.view_settings.view_transform = "Standard"  # the PNG is the plain sRGB encoding of the EXR's values
"""


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    assert Path(BLENDER).exists(), "Blender is not installed: run tools/setup.sh (apt package blender)"
    root = tmp_path_factory.mktemp("blender frames")
    (root / "scene.py").write_text(SCENE)
    made = {}
    for name, kind in (("half", "OPEN_EXR"), ("layers", "OPEN_EXR_MULTILAYER"), ("png", "PNG")):
        # Blender reads its arguments in order: the format is set before the script looks at it.
        subprocess.run([BLENDER, "-b", "--factory-startup", "-o", str(root / f"{name}_####"), "-F", kind,
                        "--python", str(root / "scene.py"), "-f", "1"],
                       check=True, capture_output=True, timeout=180)
        made[name] = next(root.glob(f"{name}_0001.*"))
    made["parts"] = _multipart(made["half"], root / "parts.exr")
    data = made["half"].read_bytes()
    made["truncated"] = root / "truncated.exr"
    made["truncated"].write_bytes(data[: len(data) * 2 // 3])
    return made


def _multipart(beauty: Path, dest: Path) -> Path:
    """A two-part EXR as compositors write them: a depth part first, then the beauty part."""
    src = oiio.ImageBuf(str(beauty))
    rgba = src.get_pixels(oiio.HALF)
    h, w = rgba.shape[:2]
    depth = oiio.ImageSpec(w, h, 1, oiio.FLOAT)
    depth.channelnames = ("Z",)
    depth.attribute("name", "depth")
    colour = oiio.ImageSpec(w, h, 4, oiio.HALF)
    colour.channelnames = ("R", "G", "B", "A")
    colour.attribute("name", "rgba")
    out = oiio.ImageOutput.create(str(dest))
    assert out.open(str(dest), (depth, colour))
    assert out.write_image(np.full((h, w, 1), 1000.0, dtype=np.float32))
    assert out.open(str(dest), colour, "AppendSubimage")
    assert out.write_image(rgba)
    out.close()
    return dest


def _pixels(path: Path) -> np.ndarray:
    return oiio.ImageBuf(str(path)).get_pixels(oiio.FLOAT)


def test_blender_frames_are_whole_images_and_a_truncated_one_is_not(frames: dict[str, Path]) -> None:
    for name in ("half", "layers", "png", "parts"):
        assert images.check_image(str(frames[name]))
    assert oiio.ImageBuf(str(frames["half"])).spec().format == oiio.HALF
    with pytest.raises(images.ImageError, match="not a readable image"):
        images.check_image(str(frames["truncated"]))


@pytest.mark.parametrize("name", ["half", "layers", "png", "parts"])
def test_preview_is_256px_and_looks_like_the_frame(
        frames: dict[str, Path], name: str, tmp_path: Path) -> None:
    dest = images.make_preview(str(frames[name]), tmp_path / "p.jpg")
    shown = _pixels(dest)
    assert shown.shape == (144, 256, 3)
    # The preview of every variant shows the same render as the 8-bit PNG Blender wrote, scaled down
    # (the multi-part file's depth part, first in the file, is not what is shown).
    reference = _pixels(images.make_preview(str(frames["png"]), tmp_path / "ref.jpg"))
    assert abs(float(shown.mean()) - float(reference.mean())) < 0.03
    assert float(np.abs(shown - reference).mean()) < 0.05
    assert 0.1 < float(shown.mean()) < 0.9  # neither black nor white: linear light was encoded


def test_float_highlights_roll_off_instead_of_clipping(tmp_path: Path) -> None:
    source = tmp_path / "hdr.exr"
    values = np.array([0.18, 0.5, 1.0, 4.0, 50.0], dtype=np.float32)
    pixels = np.repeat(values, 20)[None, :, None].repeat(3, axis=2).repeat(10, axis=0)
    buf = oiio.ImageBuf(oiio.ImageSpec(100, 10, 3, oiio.HALF))
    buf.set_pixels(oiio.ROI(), pixels)
    assert buf.write(str(source))
    row = _pixels(images.make_preview(str(source), tmp_path / "p.jpg"))[5, :, 0]
    levels = [float(row[i * 20 + 10]) for i in range(5)]
    assert levels == sorted(levels) and len({round(v, 2) for v in levels}) == 5
    assert 0.40 < levels[0] < 0.52  # mid grey reads as mid grey (sRGB of 0.18 is 0.46)


def test_preview_of_something_else_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.exr"
    text.write_text("not an image")
    with pytest.raises(images.ImageError, match="not a readable image"):
        images.make_preview(str(text), tmp_path / "p.jpg")
    assert not (tmp_path / "p.jpg").exists()
    assert not images.is_image("/share/cache/sim.$F4.bgeo.sc")
    assert images.is_image("/share/render/beauty.1001.EXR")


def test_readable_answers_per_output_and_previews_the_good_one(
        farmhand_home: Path, frames: dict[str, Path]) -> None:
    check = previews.readable("3", 1001, [str(frames["truncated"]), str(frames["half"]), "/x/cache.bgeo.sc"])
    assert check.answers == [False, True, True]
    assert check.why is not None and "truncated.exr" in check.why
    found = previews.find("3")
    assert found is not None and found.frame == 1001
    assert found.path == farmhand_home / "previews/job-3/1001.jpg"


def test_sweep_makes_missing_previews_of_done_frames(farmhand_home: Path, frames: dict[str, Path]) -> None:
    store = Store()
    out = farmhand_home / "out"
    out.mkdir(parents=True)
    for frame in (1, 2, 3):
        shutil.copy(frames["half"], out / f"f.{frame:04d}.exr")
    job = store.insert_job(JobSpec(preset="demo", frames="1-3"), [1, 2, 3],
                           [str(out / f"f.{f:04d}.exr") for f in (1, 2, 3)])
    store.update_frames(job, [0, 2], state=FrameState.DONE)
    maker = previews.Previews(submit=lambda fn, *a: fn(*a), store=lambda: store)
    assert maker.sweep([job]) == 2
    assert sorted(p.name for p in previews.job_dir(job).glob("*.jpg")) == ["1.jpg", "3.jpg"]
    latest = json.loads((previews.job_dir(job) / previews.LATEST).read_text())
    assert latest == {"frame": 3}
    assert maker.sweep([job]) == 0  # nothing new: nothing made again
    store.update_frames(job, [1], state=FrameState.DONE)
    assert maker.sweep([job]) == 1
    assert previews.find(job, 2) is not None and previews.find(job, 7) is None
