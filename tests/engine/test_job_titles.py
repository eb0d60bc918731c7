"""A job's default name says what it renders: the scene and ROP, or the command's program."""

from __future__ import annotations

import pytest

from farmhand.jobs import JobSpec


@pytest.mark.parametrize(
    ("kwargs", "title"),
    [
        ({"preset": "hrender", "file": "/share/shot010/shot010_v012.hip", "target": "/out/mantra1"},
         "shot010_v012.hip /out/mantra1"),
        ({"preset": "blender", "file": "/share/demo.blend"}, "demo.blend"),
        # The case: the last argument of a command line is never the name.
        ({"preset": "command",
          "command": "mycache --scene {file} --from {start} --to {end} /share/out/final"}, "mycache"),
        ({"preset": "command", "command": "python3 /opt/tools/cache.py {start} {end}",
          "file": "/share/sim.hip"}, "python3 cache.py sim.hip"),
        ({"preset": "command", "command": "FOO=1 /usr/bin/env BAR=2 hython -v /x/job.py {start}"},
         "hython job.py"),
        ({"preset": "command", "command": "python3 -u {file} {start}"}, "python3"),
        ({"preset": "command", "command": r"C:\tools\render.exe {start} {end}"}, "render.exe"),
        ({"preset": "command", "command": '"unclosed {start}'}, "unclosed"),
        ({"preset": "command", "command": "   "}, "command"),
        ({"preset": "demo"}, "demo"),
        ({"preset": "demo", "name": "shot010_beauty", "file": "/share/x.json"}, "shot010_beauty"),
    ],
)
def test_default_title(kwargs: dict[str, str], title: str) -> None:
    assert JobSpec(frames="1-10", **kwargs).title == title


def test_new_fields_round_trip_and_default_for_old_specs() -> None:
    spec = JobSpec(preset="demo", frames="1", on_end="notify.sh --loud", check_images=True)
    again = JobSpec.from_dict(spec.to_dict())
    assert again == spec
    old = {k: v for k, v in spec.to_dict().items() if k not in ("on_end", "check_images")}
    assert JobSpec.from_dict(old).on_end is None
    assert JobSpec.from_dict(old).check_images is None
