"""Presets: built-ins, argv building, user and studio preset files, validation."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import tomllib

from farmhand.errors import ConfigError, NotFound, UsageError
from farmhand.presets import (
    BUILTIN_DIR,
    CommandContext,
    PresetMode,
    list_presets,
    load_preset,
    preset_from_dict,
    read_toml,
)
from farmhand.presets.failures import FailureKind

HOSTILE = '/share/it\'s a "shot" $(touch /tmp/pwned) ; rm -rf ~ `id` ünïcødé.hip'
BUILTINS = ["blender", "command", "demo", "husk", "hrender", "hython-usd", "hython-worker"]

# houdini_setup_bash of a stand-in $HFS: puts its bin/ first on PATH and, like the real one, may shift "$@".
SHIFTING_SETUP = 'export PATH="$PWD/bin:$PATH"\nshift 2>/dev/null; true\n'
ECHO_ARGV = 'for a in "$@"; do printf "%s\\n" "$a"; done\n'


def stand_in_hfs(hfs: Path, *tools: str, pwd: bool = True, setup: str = SHIFTING_SETUP) -> Path:
    """A throwaway $HFS whose ``tools`` print their argv one per line (after their working directory
    when ``pwd``), so a test checks the real bash quoting of a preset's fixed script."""
    (hfs / "bin").mkdir(parents=True)
    (hfs / "houdini_setup_bash").write_text(setup)
    for tool in tools:
        script = hfs / "bin" / tool
        script.write_text("#!/bin/sh\n" + ("pwd\n" if pwd else "") + ECHO_ARGV)
        script.chmod(0o755)
    return hfs


def test_builtins_are_listed() -> None:
    names = [p.name for p in list_presets(search_dirs=[])]
    assert names == sorted(BUILTINS)
    for preset in list_presets(search_dirs=[]):
        assert preset.source == f"builtin:{preset.name}"
        assert preset.description


@pytest.mark.parametrize("name", BUILTINS)
def test_builtins_are_read_by_the_standard_toml_reader(name: str) -> None:
    text = (BUILTIN_DIR / f"{name}.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert read_toml(BUILTIN_DIR / f"{name}.toml") == data
    assert preset_from_dict(data, name, f"builtin:{name}", probe=False) == load_preset(name, search_dirs=[])


def test_hrender_argv_matches_the_td_line_and_keeps_values_out_of_the_script() -> None:
    preset = load_preset("hrender", search_dirs=[])
    ctx = CommandContext(file=HOSTILE, target="/out/mantra1", start=1, end=240, step=2, hfs="/opt/hfs20.5")
    argv = preset.command(ctx)
    assert argv[:2] == ["bash", "-c"]
    script = argv[2]
    assert argv[3:] == ["farmhand", "/opt/hfs20.5", "1", "240", "2", "/out/mantra1", HOSTILE]
    assert "houdini_setup_bash" in script and "/bin/hrender.py" in script
    assert '-e -f "$fh_s" "$fh_e" -i "$fh_i" -v "${fh_more[@]}" -d "$fh_rop" "$fh_hip"' in script
    assert HOSTILE not in script and "mantra1" not in script
    assert preset.needs_houdini and preset.mode is PresetMode.CHUNK and preset.splittable


def test_hrender_script_runs_a_fake_houdini_with_exact_arguments(tmp_path: Path) -> None:
    hfs = stand_in_hfs(tmp_path / "hfs dir", "hython", pwd=False)
    preset = load_preset("hrender", search_dirs=[])
    ctx = CommandContext(file=HOSTILE, target="/out/rop 1", start=-3, end=5, step=1, hfs=str(hfs))
    out = subprocess.run(preset.command(ctx), capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == [
        f"{hfs}/bin/hrender.py",
        "-e",
        "-f",
        "-3",
        "5",
        "-i",
        "1",
        "-v",
        "-d",
        "/out/rop 1",
        HOSTILE,
    ]
    assert not Path("/tmp/pwned").exists()


def test_hrender_refuses_fractional_step_and_missing_values() -> None:
    preset = load_preset("hrender", search_dirs=[])
    with pytest.raises(UsageError, match="whole-number frame step"):
        preset.command(CommandContext(file="a.hip", target="/out/m", start=1, end=2, step=0.5, hfs="/h"))
    with pytest.raises(UsageError, match=r"needs a target such as a ROP path \(--rop\)"):
        preset.command(CommandContext(file="a.hip", start=1, end=2, hfs="/h"))
    with pytest.raises(UsageError, match="Houdini install"):
        preset.command(CommandContext(file="a.hip", target="/out/m", start=1, end=2))
    with pytest.raises(UsageError, match="not a valid range"):
        preset.command(CommandContext(file="a.hip", target="/out/m", start=5, end=2, hfs="/h"))


def test_hython_worker_argv() -> None:
    preset = load_preset("hython-worker", search_dirs=[])
    assert preset.mode is PresetMode.WORKER
    argv = preset.command(CommandContext(file=HOSTILE, target="/out/m", hfs="/opt/hfs", farmhand="/share/fh"))
    assert argv[3:] == ["farmhand", "/opt/hfs", "/share/fh/houdini/worker.py", HOSTILE, "/out/m"]
    assert 'exec hython "$fh_script" --hip "$fh_hip" --rop "$fh_rop"' in argv[2]


def test_husk_takes_a_count_and_optional_groups() -> None:
    preset = load_preset("husk", search_dirs=[])
    argv = preset.command(CommandContext(file="/s/shot.usd", start=5, end=11, step=3, hfs="/h"))
    # Without -o each RenderProduct goes where the stage names it; its folder is still made.
    assert argv[3:] == ["farmhand", "/h", "-f", "5", "-n", "3", "-i", "3", "-Va1", "--make-output-path",
                        "/s/shot.usd"]
    argv = preset.command(
        CommandContext(
            file="/s/shot.usd", target="/Render/rs", start=1, end=1, output="/r/img.$F4.exr", hfs="/h"
        )
    )
    assert argv[3:] == [
        "farmhand",
        "/h",
        "-f",
        "1",
        "-n",
        "1",
        "-i",
        "1",
        "-Va1",
        "-s",
        "/Render/rs",
        "--make-output-path",
        "-o",
        "/r/img.$F4.exr",
        "/s/shot.usd",
    ]


def test_husk_script_runs_a_stand_in_husk_with_exact_arguments(tmp_path: Path) -> None:
    """The preset's fixed bash script really runs: houdini_setup_bash sourced in $HFS (which may shift
    "$@"), back to the starting directory, husk given -f START -n COUNT -i STEP -Va1 and the hostile
    values verbatim."""
    hfs = stand_in_hfs(tmp_path / "hfs dir", "husk")
    start_dir = tmp_path / "start"
    start_dir.mkdir()
    preset = load_preset("husk", search_dirs=[])
    ctx = CommandContext(file=HOSTILE, target="/Render/rs 1", start=-3, end=5, step=2, output="/r/a $F4.exr",
                         hfs=str(hfs))
    out = subprocess.run(preset.command(ctx), capture_output=True, text=True, check=True, cwd=start_dir)
    assert out.stdout.splitlines() == [
        str(start_dir), "-f", "-3", "-n", "5", "-i", "2", "-Va1", "-s", "/Render/rs 1",
        "--make-output-path", "-o", "/r/a $F4.exr", HOSTILE,
    ]
    assert not Path("/tmp/pwned").exists()


def test_blender_argument_order_and_hash_output() -> None:
    preset = load_preset("blender", search_dirs=[])
    argv = preset.command(CommandContext(file="/s/a.blend", start=1, end=10, step=2, output="/r/f.$F4.png"))
    assert argv == [
        "blender",
        "-b",
        "/s/a.blend",
        "-o",
        "/r/f.####.png",
        "-s",
        "1",
        "-e",
        "10",
        "-j",
        "2",
        "-a",
    ]
    argv = preset.command(
        CommandContext(
            file="/s/a.blend", target="Scene 2", start=3, end=3, extra={"blender": "/opt/blender/blender"}
        )
    )
    assert argv == [
        "/opt/blender/blender",
        "-b",
        "/s/a.blend",
        "-S",
        "Scene 2",
        "-s",
        "3",
        "-e",
        "3",
        "-j",
        "1",
        "-a",
    ]
    with pytest.raises(UsageError, match="negative frames"):
        preset.command(CommandContext(file="/s/a.blend", start=-2, end=3))
    with pytest.raises(UsageError, match="whole frames only"):
        preset.command(CommandContext(file="/s/a.blend", start=1.5, end=3))


def test_command_preset_needs_a_template() -> None:
    preset = load_preset("command", search_dirs=[])
    with pytest.raises(UsageError, match="--command TEMPLATE"):
        preset.command(CommandContext(start=1, end=2))


def test_command_template_placeholders_are_whole_arguments() -> None:
    base = load_preset("command", search_dirs=[])
    preset = base.with_command(
        "render --scene {file} --out={output} -f '{start}' {end} 'x y' --lit '{{file}}'"
    )
    argv = preset.command(CommandContext(file=HOSTILE, output="/o/$F4 a.exr", start=1, end=9))
    assert argv == [
        "render",
        "--scene",
        HOSTILE,
        "--out=/o/$F4 a.exr",
        "-f",
        "1",
        "9",
        "x y",
        "--lit",
        "{file}",
    ]
    assert preset.splittable and not preset.per_frame


def test_command_template_without_frames_is_not_splittable_and_per_frame_detection() -> None:
    base = load_preset("command", search_dirs=[])
    assert not base.with_command("sim --hip {file}").splittable
    per_frame = base.with_command("render {file} --frame {frame}")
    assert per_frame.per_frame
    assert per_frame.command(CommandContext(file="a", start=4, end=4))[-1] == "4"
    with pytest.raises(UsageError, match=r"one \{frame\} per command"):
        per_frame.command(CommandContext(file="a", start=4, end=5))


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("", "template is empty"),
        ("render 'unclosed", "check its quotes"),
        ("render {nope}", "unknown placeholder"),
    ],
)
def test_bad_command_templates(template: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment):
        load_preset("command", search_dirs=[]).with_command(template)


def test_demo_preset_params_fill_optional_groups() -> None:
    preset = load_preset("demo", search_dirs=[])
    ctx = CommandContext(
        start=1,
        end=4,
        output="/o/d.$F4.png",
        farmhand="/share/farmhand",
        extra={"seconds_per_frame": "0.5", "speed_map": "render01=1,render02=2"},
    )
    argv = preset.command(ctx)
    assert argv == [
        "python3",
        "/share/farmhand/lab/demo_render.py",
        "--start",
        "1",
        "--end",
        "4",
        "--step",
        "1",
        "--output",
        "/o/d.$F4.png",
        "--seconds-per-frame",
        "0.5",
        "--speed-map",
        "render01=1,render02=2",
    ]
    with pytest.raises(UsageError, match="package directory"):
        preset.command(CommandContext(start=1, end=4, output="/o/x.png"))


def test_for_frames_builds_one_run() -> None:
    ctx = CommandContext.for_frames([5, 1, 3], file="a.hip")
    assert (ctx.start, ctx.end, ctx.step, ctx.frames, ctx.file) == (1, 5, 2, (1, 3, 5), "a.hip")
    with pytest.raises(UsageError, match="contiguous_runs"):
        CommandContext.for_frames([1, 2, 5])


def test_shell_line_is_quoted() -> None:
    preset = load_preset("blender", search_dirs=[])
    line = preset.shell_line(CommandContext(file="/s/a b.blend", start=1, end=2))
    assert line == "blender -b '/s/a b.blend' -s 1 -e 2 -j 1 -a"


# --- user and studio presets --------------------------------------------------------------------------

GOOD = """
description = "Studio Redshift"
argv = ["redshiftCmdLine", "{file}", ["-oip", "{output}"], "-frames", "{start}", "{end}", "{step}",
        ["-gpu", "{gpu}"]]
splittable = true

[params]
gpu = ""

[patterns]
progress = ['Progress: (?P<percent>\\d+)%']
frame_start = ['Rendering frame (?P<frame>-?\\d+)']
output = ["Saved file '(?P<path>[^']+)'"]

[errors]
licence = ['License error']
oom = ['Out of VRAM']
"""


def test_user_preset_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    (home / "presets").mkdir(parents=True)
    (home / "presets" / "redshift.toml").write_text(GOOD)
    monkeypatch.setenv("FARMHAND_HOME", str(home))
    monkeypatch.delenv("FARMHAND_PRESET_PATH", raising=False)
    preset = load_preset("redshift")
    assert preset.source == str(home / "presets" / "redshift.toml")
    assert preset.error_patterns == (("License error", FailureKind.LICENCE), ("Out of VRAM", FailureKind.OOM))
    argv = preset.command(CommandContext(file="s.rs", start=1, end=3, extra={"gpu": "0"}))
    assert argv == ["redshiftCmdLine", "s.rs", "-frames", "1", "3", "1", "-gpu", "0"]
    assert "redshift" in [p.name for p in list_presets()]


def test_precedence_user_then_studio_then_builtin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, studio_a, studio_b = tmp_path / "home", tmp_path / "studio a", tmp_path / "studio_b"
    for d in (home / "presets", studio_a, studio_b):
        d.mkdir(parents=True)
    (studio_a / "blender.toml").write_text(
        'description = "studio blender"\nargv = ["blender4", "-b", "{file}"]\n'
    )
    (studio_b / "blender.toml").write_text('description = "other"\nargv = ["nope"]\n')
    (studio_b / "only-b.toml").write_text('description = "b"\nargv = ["b"]\n')
    monkeypatch.setenv("FARMHAND_HOME", str(home))
    monkeypatch.setenv("FARMHAND_PRESET_PATH", f"{studio_a}:{studio_b}")
    assert load_preset("blender").description == "studio blender"
    assert load_preset("only-b").argv == ("b",)
    assert load_preset("hrender").source == "builtin:hrender"
    (home / "presets" / "blender.toml").write_text('description = "mine"\nargv = ["myblender", "{file}"]\n')
    assert load_preset("blender").description == "mine"
    with pytest.raises(NotFound, match=r"no preset named 'nothing'; available: .*hrender"):
        load_preset("nothing")
    with pytest.raises(UsageError, match="invalid"):
        load_preset("../etc/passwd")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('argv = ["x"]\nsplitable = true\n', "unknown key 'splitable'"),
        ('argv = "x"\n', "argv must be a non-empty list"),
        ("argv = []\n", "argv must be a non-empty list"),
        ('argv = ["x", 3]\n', "argv[1] must be a string"),
        ('argv = ["x", "{scene}"]\n', "argv[1]: unknown placeholder {scene}"),
        ('argv = ["x"]\nmode = "daemon"\n', "mode must be one of chunk, worker"),
        ('argv = ["x"]\nsplittable = "yes"\n', "splittable must be true or false"),
        (
            'argv = ["x"]\n[patterns]\nprogress = ["(unclosed"]\n',
            "patterns.progress: '(unclosed' is not a valid regular expression",
        ),
        ('argv = ["x"]\n[patterns]\nprogres = ["x"]\n', "patterns.progres: unknown"),
        ('argv = ["x"]\n[errors]\nsegfault = ["x"]\n', "errors.segfault must be one of"),
        ('argv = ["x"]\n[params]\nfile = "a"\n', "params.file: not a usable parameter name"),
        ('name = "other"\nargv = ["x"]\n', "must match the file name 'bad'"),
        ('argv = ["x"\n', "invalid TOML"),
        ('argv = ["x"]\n[patterns]\nprogress = ["ALF_PROGRESS"]\n', "progress: 'ALF_PROGRESS' captures"),
        ('argv = ["x"]\n[patterns]\nprogress = ["^(?P<done>\\\\d+) tiles"]\n', "add (?P<percent>...)"),
        ('argv = ["x"]\n[patterns]\noutput = ["^Saved"]\n', "patterns.output: '^Saved' captures nothing"),
    ],
)
def test_invalid_user_presets_give_one_line(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_preset("bad", search_dirs=[tmp_path])
    message = str(info.value)
    assert fragment in message
    assert str(tmp_path / "bad.toml") in message
    assert "\n" not in message


def test_list_presets_can_skip_broken_files(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("argv = [")
    (tmp_path / "fine.toml").write_text('argv = ["ok"]\n')
    with pytest.raises(ConfigError):
        list_presets(search_dirs=[tmp_path])
    errors: list[ConfigError] = []
    names = [p.name for p in list_presets(search_dirs=[tmp_path], errors=errors)]
    assert "fine" in names and "broken" not in names and "hrender" in names
    assert len(errors) == 1 and "broken.toml" in str(errors[0])


def test_preset_from_dict_defaults() -> None:
    preset = preset_from_dict({"argv": ["x", "{frame}"]}, "x", "test")
    assert preset.per_frame and preset.splittable and not preset.needs_houdini
    assert preset.mode == "chunk" and preset.progress_scope == "frame"


def test_check_job_fails_fast() -> None:
    hrender = load_preset("hrender", search_dirs=[])
    hrender.check_job([1, 2, 3, 10], file="/s/a.hip", target="/out/m")
    with pytest.raises(UsageError, match="--rop"):
        hrender.check_job([1, 2], file="/s/a.hip")
    with pytest.raises(UsageError, match="whole-number frame step"):
        hrender.check_job([1, 1.5, 2], file="/s/a.hip", target="/out/m")
    with pytest.raises(UsageError, match="has no parameter 'seconds'; its parameters: take"):
        hrender.check_job([1], file="/s/a.hip", target="/out/m", params={"seconds": "1"})
    blender = load_preset("blender", search_dirs=[])
    with pytest.raises(UsageError, match="negative frames"):
        blender.check_job([5, -1], file="/s/a.blend")
    demo = load_preset("demo", search_dirs=[])
    demo.check_job([1, 5, 9], output="/o/$F4.png", params={"seconds_per_frame": "0.1"})
    with pytest.raises(UsageError, match="output pattern"):
        demo.check_job([1], params={"seconds_per_frame": "0.1"})
    sim = load_preset("command", search_dirs=[]).with_command("sim {file}")
    sim.check_job([1, 2, 3], file="a")
    with pytest.raises(UsageError, match="one evenly stepped range"):
        sim.check_job([1, 2, 3, 10], file="a")
    per_frame = load_preset("command", search_dirs=[]).with_command("r {file} {frame}")
    per_frame.check_job([1, 2, 7], file="a")
    with pytest.raises(UsageError, match="no frames"):
        per_frame.check_job([], file="a")


def test_job_params_never_replace_builtin_placeholders() -> None:
    preset = load_preset("demo", search_dirs=[])
    argv = preset.command(
        CommandContext(
            start=1,
            end=1,
            output="/o/x.png",
            farmhand="/s",
            extra={"output": "/evil", "farmhand": "/evil", "size": "8x8"},
        )
    )
    assert "/evil" not in " ".join(argv) and argv[-2:] == ["--size", "8x8"]


@pytest.mark.parametrize("name", ["husk", "hython-worker"])
def test_houdini_scripts_pass_hostile_values_verbatim(tmp_path: Path, name: str) -> None:
    # This setup script also leaves the caller in /: the preset must go back to the starting directory.
    hfs = stand_in_hfs(tmp_path / "h f s", "husk", "hython",
                       setup='[ "$1" = "-q" ] || true\nexport PATH="$PWD/bin:$PATH"\ncd /\n')
    preset = load_preset(name, search_dirs=[])
    ctx = CommandContext(
        file=HOSTILE,
        target="/out/r $(id)",
        start=1,
        end=3,
        output="/o/it's $F4.exr",
        hfs=str(hfs),
        farmhand="/share/fh scripts",
    )
    out = subprocess.run(preset.command(ctx), capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    lines = out.splitlines()
    assert lines[0] == str(tmp_path)  # back in the starting directory: relative paths keep working
    if name == "husk":
        assert lines[1:] == [
            "-f",
            "1",
            "-n",
            "3",
            "-i",
            "1",
            "-Va1",
            "-s",
            "/out/r $(id)",
            "--make-output-path",
            "-o",
            "/o/it's $F4.exr",
            HOSTILE,
        ]
    else:
        assert lines[1:] == [
            "/share/fh scripts/houdini/worker.py",
            "--hip",
            HOSTILE,
            "--rop",
            "/out/r $(id)",
        ]


#: Take and wedge values as hostile as a scene path: each must reach the program as one argument.
TAKE = "hero 'cut' $(id)"
WEDGE = "/out/wedge `id`; x"


@pytest.mark.parametrize(("name", "tool", "expected"), [
    ("hython-worker", "hython", ["/fh/houdini/worker.py", "--hip", HOSTILE, "--rop", "/out/r", "--job=/p $x",
                                 f"--take={TAKE}", f"--wedge={WEDGE}", "--wedge-num=3"]),
    ("hython-usd", "hython", ["/fh/houdini/worker.py", "--hip", HOSTILE, "--rop", "/out/r", "--export-usd",
                              "/o/s $(id).usd", "--range", "1", "3", "1", "--job=/p $x", f"--take={TAKE}",
                              f"--wedge={WEDGE}", "--wedge-num=3"]),
    ("hrender", "hython", ["HFS/bin/hrender.py", "-e", "-f", "1", "3", "-i", "1", "-v", "-t", TAKE, "-d",
                           "/out/r", HOSTILE]),
])
def test_takes_and_wedges_reach_houdini_verbatim(tmp_path: Path, name: str, tool: str,
                                                 expected: list[str]) -> None:
    hfs = stand_in_hfs(tmp_path / "h f s", tool, pwd=False)
    preset = load_preset(name, search_dirs=[])
    extra = {"job": "/p $x", "take": TAKE, "wedge": WEDGE, "wedgenum": "3"}
    ctx = CommandContext(file=HOSTILE, target="/out/r", start=1, end=3, output="/o/s $(id).usd", hfs=str(hfs),
                         farmhand="/fh", extra=extra)
    out = subprocess.run(preset.command(ctx), capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert [line.replace(str(hfs), "HFS") for line in out.splitlines()] == expected
    # Without them the options are left out entirely (no empty --take= for the worker to choke on).
    bare = preset.command(CommandContext(file=HOSTILE, target="/out/r", start=1, end=3, output="/o/x.usd",
                                         hfs=str(hfs), farmhand="/fh"))
    assert not [a for a in bare if a.startswith(("--take", "--wedge", "--job", "-t"))]


def test_a_wedge_needs_both_its_rop_and_its_number() -> None:
    preset = load_preset("hython-worker", search_dirs=[])
    argv = preset.command(CommandContext(file="/s/a.hip", target="/out/r", hfs="/h", farmhand="/fh",
                                         extra={"wedge": "/out/wedge1"}))
    assert not [a for a in argv if a.startswith("--wedge")]


def test_paths_that_look_like_options_are_refused() -> None:
    preset = load_preset("blender", search_dirs=[])
    with pytest.raises(UsageError, match=r"scene file '-P evil.py' starts with '-'; give an absolute path"):
        preset.command(CommandContext(file="-P evil.py", start=1, end=1))
    with pytest.raises(UsageError, match="output pattern"):
        preset.command(CommandContext(file="/s/a.blend", output="--python-expr", start=1, end=1))
    with pytest.raises(UsageError, match=r"frame 2\.5 is fractional"):
        preset.command(CommandContext(file="/s/a.blend", start=1, end=2.5, step=1.5))
