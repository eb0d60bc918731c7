"""The fake Houdini install behaves like the documented real one (so engine tests exercise real formats)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Optional

import fake_hou
import pytest

from farmhand.engine import images
from farmhand.presets import CommandContext, load_preset
from farmhand.presets.failures import Failure, classify
from farmhand.presets.progress import LineParser

from .conftest import FAKE_HFS

SETUP_AND_RUN = ('cd "$1" && . ./houdini_setup_bash && shift && cd "$0" && '
                 'exec hython "$HFS/bin/hrender.py" "$@"')


def hrender(cwd: Path, *args: str, hfs: Path = FAKE_HFS) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-c", SETUP_AND_RUN, str(cwd), str(hfs), *args], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def shot(tmp_path: Path) -> Path:
    return fake_hou.write_scene(tmp_path / "my shot.hip", [
        {"path": "/out/cache", "type": "geometry",
         "parms": {"trange": 1, "f1": 1, "f2": 3, "alfprogress": 1}},
        {"path": "/out/mantra1", "type": "ifd", "inputs": ["/out/cache"],
         "parms": {"vm_alfprogress": 1, "vm_picture": "$HIP/render/$OS.$F4.exr"},
         "failures": [{"kind": "licence", "frames": [7]}, {"kind": "missing_file", "frames": [8],
                                                           "path": "$HIP/tex/gone.rat"}]},
        {"path": "/out/karma1", "type": "karma"},
    ])


def test_setup_prints_the_banner_and_exports_hfs(tmp_path: Path, hfs: Path) -> None:
    build = hfs.name[len("hfs"):]
    done = subprocess.run(["bash", "-c", 'cd "$0" && . ./houdini_setup_bash && echo "HFS=$HFS" && '
                           'command -v hython && '
                           'hython -c "import hou; print(hou.applicationVersionString(), '
                           'hou.isUIAvailable(), hasattr(hou, \'ui\'), hou.hipFile.hasUnsavedChanges())"',
                           str(hfs)], capture_output=True, text=True, timeout=30)
    lines = done.stdout.splitlines()
    assert lines[0] == f"The Houdini {build} environment has been initialized."
    assert lines[1] == f"HFS={hfs}"
    assert lines[2] == f"{hfs}/bin/hython"
    assert lines[3] == f"{build} False False True"  # hython: no hou.ui, and always "unsaved"
    quiet = subprocess.run(["bash", "-c", 'cd "$0" && . ./houdini_setup_bash -q && echo ok', str(hfs)],
                           capture_output=True, text=True, timeout=30)
    assert quiet.stdout == "ok\n"
    elsewhere = subprocess.run(["bash", "-c", 'cd "$0" && . "$1/houdini_setup_bash"', str(tmp_path),
                                str(hfs)], capture_output=True, text=True, timeout=30)
    assert elsewhere.returncode != 0 and "cd to the Houdini installation directory" in elsewhere.stdout


PYTHON_VERSION = "print('%d.%d' % sys.version_info[:2])"


def _python_named(name: str) -> str | None:
    """A real interpreter called ``name`` on this machine (PATH or pyenv), as the fake install looks."""
    import os
    import shutil

    candidates = [shutil.which(name)]
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += [str(p) for p in sorted(root.glob(f"versions/*/bin/{name}"))]
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", ""], capture_output=True).returncode == 0:
            return candidate
    return None


def test_each_install_is_its_release(hfs: Path) -> None:
    """hython reports the build of its directory, has that release's hou API (no hou.OpNode before 20.0)
    and runs under the bundled Python of that release: the real interpreter of that version when this
    machine has one, else the system python3 (the fake cannot conjure a Python that is not installed)."""
    build = hfs.name[len("hfs"):]
    release = fake_hou.release(build)
    code = ("import sys, hou; print(hou.applicationVersion()); print(hasattr(hou, 'OpNode')); "
            f"{PYTHON_VERSION}")
    done = subprocess.run([str(hfs / "bin" / "hython"), "-c", code], capture_output=True, text=True,
                          timeout=30)
    version, has_op_node, python = done.stdout.splitlines()
    assert version == str(release.version)
    assert has_op_node == str("OpNode" not in release.absent)
    bundled = hfs / "python" / "bin" / f"python{release.python}"
    assert bundled.exists()
    if _python_named(f"python{release.python}"):
        assert python == release.python
    else:
        system = subprocess.run(["/usr/bin/python3", "-c", f"import sys; {PYTHON_VERSION}"],
                                capture_output=True, text=True, timeout=30).stdout.strip()
        assert python == system


def test_range_render_writes_frames_with_progress_and_inputs_first(shot: Path) -> None:
    done = hrender(shot.parent, "-e", "-f", "1", "2", "-i", "1", "-v", "-d", "mantra1", str(shot))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    starts = [line.split("  ", 1)[1] for line in lines if line[:2].isdigit() and " frame " in line]
    # the input renders the frames requested (1-2), not its own range (1-3): Houdini's rule
    assert starts == ["cache frame 1", "cache frame 2", "mantra1 frame 1", "mantra1 frame 2"]
    assert lines.count("ALF_PROGRESS 100%") == 1 + 2  # the cache's range end, each Mantra frame's end
    written = sorted(p.name for p in (shot.parent / "render").iterdir())
    assert written == ["mantra1.0001.exr", "mantra1.0002.exr"]
    # Real (tiny) OpenEXR files, as a renderer writes: the dispatcher reads every output image whole.
    one, two = (images.check_image(str(p)) for p in sorted((shot.parent / "render").iterdir()))
    assert one[0].spec().width == 4 and one[0].getpixel(0, 0) != two[0].getpixel(0, 0)


def husk(hfs: Path, cwd: Path, usd: str, start: int, end: int, output: str,
         ) -> tuple[subprocess.CompletedProcess[str], Optional[Failure], LineParser]:
    """The built-in husk preset's command, run here against the fake install ``hfs``."""
    preset = load_preset("husk", search_dirs=[])
    ctx = CommandContext(file=usd, target="/Render/rendersettings", start=start, end=end, output=output,
                         hfs=str(hfs))
    done = subprocess.run(preset.command(ctx), capture_output=True, text=True, timeout=60, cwd=cwd)
    lines = [("out", line) for line in done.stdout.splitlines()] + [
        ("err", line) for line in done.stderr.splitlines()]
    parser = LineParser(preset, frames=list(range(start, end + 1)))
    for stream, line in lines:
        parser.feed(stream, line)
    failure = classify(preset.error_rules, done.returncode, None, parser.errors, [x for _, x in lines][-40:])
    return done, failure, parser


def test_husk_renders_a_usd_file_as_the_husk_preset_runs_it(tmp_path: Path, hfs: Path) -> None:
    usd = tmp_path / "usd" / "shot.usd"
    usd.parent.mkdir()
    usd.write_text("FAKE HOUDINI OUTPUT rop=/out/farmhand_usd_export frame=1\n")
    out = tmp_path / "render dir" / "shot.$F4.exr"
    done, failure, parser = husk(hfs, tmp_path, str(usd), 3, 5, str(out))
    assert failure is None and done.returncode == 0, done.stdout
    assert parser.done == [3, 4, 5]  # told apart by ALF progress (-Va1), as the preset documents
    for frame in (3, 4, 5):
        assert images.check_image(str(out.parent / f"shot.{frame:04d}.exr"))


def test_husk_before_20_5_exits_0_after_an_error_and_the_preset_still_fails(tmp_path: Path,
                                                                              hfs: Path) -> None:
    done, failure, _parser = husk(hfs, tmp_path, str(tmp_path / "gone.usd"), 1, 1, str(tmp_path / "x.exr"))
    release = tuple(int(p) for p in hfs.name[len("hfs"):].split(".")[:2])
    assert done.returncode == (0 if release < (20, 5) else 1)
    assert failure is not None and "Unable to open" in done.stdout


def test_licence_failure_exits_zero_without_output(shot: Path) -> None:
    """The documented trap: the ROP failed, hrender still exits 0."""
    done = hrender(shot.parent, "-e", "-f", "7", "7", "-v", "-d", "/out/mantra1", str(shot))
    assert done.returncode == 0
    assert "No licenses could be found to run this application." in done.stderr
    assert not (shot.parent / "render" / "mantra1.0007.exr").exists()


def test_missing_file_raises_and_exits_one(shot: Path) -> None:
    done = hrender(shot.parent, "-e", "-f", "8", "8", "-d", "mantra1", str(shot))
    assert done.returncode == 1
    assert "hou.OperationFailed: The attempted operation failed." in done.stderr
    assert f"Unable to open file: {shot.parent}/tex/gone.rat" in done.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("-e", "-f", "1", "2", "-x", "-d", "mantra1"), "Error: Unknown argument(s): -x"),
    (("-f", "1", "2", "-d", "mantra1"), "Error: Cannot specify frame range without -e."),
    (("-e", "-f", "5", "1", "-d", "mantra1"), "Error: Start frame cannot be greater than end frame."),
    (("-e", "-f", "1", "2"), "Error: Must specify one of -c or -d."),
])
def test_bad_arguments_print_usage_and_exit_one(shot: Path, args: tuple[str, ...], message: str) -> None:
    done = hrender(shot.parent, *args, str(shot))
    assert done.returncode == 1
    assert message in done.stderr and "Usage:" in done.stderr


def test_missing_hip_and_no_arguments(shot: Path) -> None:
    gone = hrender(shot.parent, "-e", "-f", "1", "1", "-d", "mantra1", str(shot.parent / "gone.hip"))
    assert gone.returncode == 1 and f"Cannot find file {shot.parent}/gone.hip." in gone.stderr
    bare = hrender(shot.parent)
    assert bare.returncode == 1 and "Usage:" in bare.stderr


def test_o_only_sets_mantra_vm_picture(shot: Path, tmp_path: Path) -> None:
    out = tmp_path / "o" / "x.$F4.exr"
    ok = hrender(shot.parent, "-e", "-f", "1", "1", "-o", str(out), "-d", "mantra1", str(shot))
    assert ok.returncode == 0 and (tmp_path / "o" / "x.0001.exr").exists()
    karma = hrender(shot.parent, "-e", "-f", "1", "1", "-o", str(out), "-d", "karma1", str(shot))
    assert karma.returncode == 1 and "AttributeError" in karma.stderr


def test_missing_rop_is_a_traceback(shot: Path) -> None:
    done = hrender(shot.parent, "-e", "-f", "1", "1", "-d", "nope", str(shot))
    assert done.returncode == 1 and "AttributeError: 'NoneType' object has no attribute" in done.stderr


def test_times_fails_only_the_first_attempts_across_processes(tmp_path: Path) -> None:
    hip = fake_hou.write_scene(tmp_path / "retry.hip", [
        {"path": "/out/m", "type": "ifd", "failures": [{"kind": "licence", "frames": [1], "times": 1}]}])
    first = hrender(tmp_path, "-e", "-f", "1", "1", "-d", "m", str(hip))
    second = hrender(tmp_path, "-e", "-f", "1", "1", "-d", "m", str(hip))
    assert "No licenses" in first.stderr and "No licenses" not in second.stderr
    assert (tmp_path / "render" / "retry.m.0001.exr").exists()
