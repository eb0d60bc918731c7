"""Farmhand as Houdini loads it and the dispatcher as Houdini starts it: the package applied the way
Houdini applies it (every ``houdini_python`` and ``houdini_os`` branch, ``$HOUDINI_PACKAGE_PATH``,
``hpath``), then a submit; and a dispatcher that cannot start is reported as such on every path."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any, Callable

import fake_hou
import hdefereval
import pytest

import farmhand.client
from fakes import houdini_packages
from farmhand.errors import FarmhandError
from farmhand.houdini import entry, panel, sending
from farmhand.houdini import farm as wiring
from farmhand.jobs import JobSpec

from .conftest import fake_hfs
from .fakesink import RecordingSink

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "houdini_package.json"
SYSTEMS = ("linux", "macos", "windows")


def _session(build: str, system: str) -> houdini_packages.Session:
    release = fake_hou.release(build)
    return houdini_packages.Session(release.major_minor, f"python{release.python}", system)


def _houdini_env(build: str, system: str = "linux", **outer: str) -> dict[str, str]:
    env = houdini_packages.apply(PACKAGE, _session(build, system), {"PATH": "/usr/bin:/bin", **outer},
                                 pathsep=";" if system == "windows" else ":")
    assert env is not None, f"the package is not enabled in Houdini {build}"
    return env


@pytest.mark.parametrize("build", fake_hou.BUILDS)
@pytest.mark.parametrize("system", SYSTEMS)
def test_no_package_variable_means_two_things(build: str, system: str) -> None:
    """The package once set FARMHAND_PYTHON to "3.11", which the dispatcher launcher runs as a program: a
    dispatcher started from Houdini could never start. The version has a name of its own now."""
    env = _houdini_env(build, system)
    python = fake_hou.release(build).python
    assert "FARMHAND_PYTHON" not in env
    assert env["FARMHAND_PYTHON_VERSION"] == python
    assert env["FARMHAND_DEPS"] == f"{PACKAGE.parent.as_posix()}/deps/python{python}-{system}"
    sep = ";" if system == "windows" else ":"
    assert env["PYTHONPATH"].split(sep) == [f"{PACKAGE.parent.as_posix()}/python", env["FARMHAND_DEPS"]]
    assert env["HOUDINI_PATH"] == PACKAGE.parent.as_posix()


def test_package_is_off_outside_the_supported_versions() -> None:
    for version in ("19.0", "22.0"):
        session = houdini_packages.Session(version, "python3.11", "linux")
        assert houdini_packages.apply(PACKAGE, session, {}) is None


def _inside(monkeypatch: pytest.MonkeyPatch, build: str, env: dict[str, str]) -> Path:
    """This process as a Houdini ``build`` session with the package's environment; returns $HFS."""
    hfs = fake_hfs(build)
    for name in {*os.environ, "FARMHAND_PYTHON"}:  # FARMHAND_PYTHON always: the code under test sets it
        if name.startswith("FARMHAND_") and name != "FARMHAND_HOME":
            monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        if name.startswith("FARMHAND") or name in ("PYTHONPATH", "HOUDINI_PATH"):
            monkeypatch.setenv(name, value)
    python = tuple(int(p) for p in fake_hou.release(build).python.split("."))
    monkeypatch.setattr(sending, "_interpreter", lambda: (str(hfs / "bin" / "houdini"),
                                                          str(hfs / "python"), python, False))
    return hfs


@pytest.mark.parametrize("build", fake_hou.BUILDS)
def test_dispatcher_from_houdini_runs_under_the_python_its_packages_were_built_for(
        build: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Houdini's PYTHONPATH holds the deps built for Houdini's Python: the dispatcher it starts runs under
    that Python (Houdini's own, which needs no licence), whatever Python the machine has otherwise."""
    hfs = _inside(monkeypatch, build, _houdini_env(build))
    started: list[tuple[str, str]] = []
    def ensure_dispatcher() -> None:
        started.append((farmhand.client.dispatcher_python(), os.environ["PYTHONPATH"]))

    monkeypatch.setattr(farmhand.client, "ensure_dispatcher", ensure_dispatcher)
    sending.ClientSink().start()
    python = fake_hou.release(build).python
    (interpreter, pythonpath), = started
    assert interpreter == str(hfs / "python" / "bin" / f"python{python}")
    assert f"/deps/python{python}-linux" in pythonpath


MINE = f"{sys.version_info[0]}.{sys.version_info[1]}"  # this process plays Houdini's embedded Python
OTHER = "3.9" if MINE != "3.9" else "3.10"


@pytest.mark.parametrize(("version", "keeps_houdinis_paths"), [(OTHER, False), (MINE, True)])
def test_a_dispatcher_under_another_python_gets_none_of_houdinis_paths(
        version: str, keeps_houdinis_paths: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """When the dispatcher cannot run under Houdini's own Python (none found, or a studio's of another
    version), it is started without Houdini's PYTHONPATH, whose packages (paramiko's compiled
    dependencies) are built for Houdini's Python; under the same version it keeps them."""
    env = _houdini_env("21.0.512")
    _inside(monkeypatch, "21.0.512", env)
    monkeypatch.setenv("FARMHAND_HOME", str(tmp_path / "home"))
    seen = tmp_path / "pythonpath"
    other = tmp_path / f"python{version}"  # a stand-in interpreter: says its version, records, fails
    record = f'printf %s "$PYTHONPATH" > {shlex.quote(str(seen))}'
    other.write_text(f'#!/bin/sh\nif [ "$1" = "-I" ]; then echo {version}; exit 0; fi\n{record}\n'
                     'echo "stand-in: not starting" >&2\nexit 1\n')
    other.chmod(0o755)
    monkeypatch.setenv("FARMHAND_PYTHON", str(other))
    with pytest.raises(FarmhandError, match="stand-in: not starting"):
        sending.ClientSink().start()
    given = seen.read_text().split(os.pathsep)
    assert given[0] == str(ROOT / "python")
    assert given[1:] == (env["PYTHONPATH"].split(os.pathsep) if keeps_houdinis_paths else [])
    assert any("/deps/python3.11-linux" in p for p in env["PYTHONPATH"].split(os.pathsep))


def test_a_python_chosen_by_the_studio_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    _inside(monkeypatch, "21.0.512", {**_houdini_env("21.0.512"), "FARMHAND_PYTHON": "/studio/python3.11"})
    assert sending.use_houdinis_python() == "/studio/python3.11"


def test_without_a_standalone_interpreter_nothing_is_forced(monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    _inside(monkeypatch, "20.5.487", _houdini_env("20.5.487"))
    monkeypatch.setattr(sending, "_interpreter", lambda: ("/x/houdini", str(tmp_path), (3, 11), False))
    assert sending.use_houdinis_python() is None and "FARMHAND_PYTHON" not in os.environ
    windows = tmp_path / "python311"
    windows.mkdir()
    (windows / "python.exe").write_text("")
    (windows / "python.exe").chmod(0o755)
    assert sending.houdini_python(str(windows), (3, 11), windows=True) == str(windows / "python.exe")


def test_outside_houdini_the_launcher_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FARMHAND_PYTHON", raising=False)
    monkeypatch.setattr(sending, "_interpreter",
                        lambda: (sys.executable, sys.base_exec_prefix, (3, 11), False))
    assert sending.use_houdinis_python() is None


def test_a_python_that_cannot_run_is_one_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What the old package caused: the launcher handed "3.11" to the OS as a program."""
    monkeypatch.setenv("FARMHAND_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FARMHAND_PYTHON", "3.11")
    with pytest.raises(FarmhandError, match=r"cannot run 3\.11"):
        sending.ClientSink().start()


class _NoDispatcher(RecordingSink):
    def start(self) -> None:
        raise FarmhandError("see /home/me/.local/share/farmhand/logs/dispatcher.log")


def _shelf(node: Any) -> Any:
    fake_hou.select(node.path())
    return entry.render_on_farm({})


def _panel(node: Any) -> Any:
    from farmhand.ui.records import SubmitRequest

    return panel.submit_handler(SubmitRequest(node.path(), fake_hou.hipFile.path(), 1, 3, 1, ""))


PATHS: dict[str, Callable[[Any], Any]] = {
    "shelf": _shelf,
    "right-click": lambda node: entry.render_node({"node": node}),
    "right-click frames": lambda node: entry.render_node_frames({"node": node}),
    "farmhand rop": lambda node: entry.hda_submit({"node": fake_hou.node("/out/farm")}),
    "panel": _panel,
}


@pytest.mark.parametrize("path", [*PATHS, "hython"])
def test_a_dispatcher_that_cannot_start_is_never_reported_as_submitted(
        path: str, make_scene: Any, hou_session: Any, farm: RecordingSink,
        monkeypatch: pytest.MonkeyPatch) -> None:
    make_scene([{"path": "/out/m", "type": "ifd", "parms": {"trange": 1, "f1": 1, "f2": 3}},
                {"path": "/out/farm", "type": "farmhand", "inputs": ["/out/m"]}])
    sink = _NoDispatcher()
    monkeypatch.setattr(wiring, "sink_factory", lambda: sink)
    node = hou_session.node("/out/m")
    if path == "hython":
        monkeypatch.setenv("FAKE_HOUDINI_HYTHON", "1")
        with pytest.raises(sending.DispatcherNotStarted) as raised:
            entry.interactive.submit_interactive("/out/m")
        said = [raised.value.message]
    elif path == "panel":
        with pytest.raises(FarmhandError) as failed:
            _panel(node)
        said = [failed.value.message]
    else:
        hou_session.UI_LOG.inputs.append((0, "1-3"))
        sent = PATHS[path](node)
        assert sent is not None and sent.thread is not None
        sent.thread.join(5)
        hdefereval.process_events(timeout=2)
        said = [m["text"] for m in hou_session.UI_LOG.messages if m["buttons"] == ("OK",)]
        said += hou_session.UI_LOG.status
        assert sent.error is not None and "could not start" in sent.error
    assert [s.target for s in sink.specs] == ["/out/m"]  # queued: it renders once a dispatcher runs
    assert any("dispatcher could not start" in s and "job1 waits in the queue" in s for s in said), said
    assert not any("submitted" in s for s in said), said


def test_send_queues_every_job_before_starting_the_dispatcher() -> None:
    order: list[str] = []

    class Watching(RecordingSink):
        def submit(self, spec: JobSpec) -> str:
            order.append(f"queue {spec.target}")
            return super().submit(spec)

        def start(self) -> None:
            order.append("start")

    specs = [JobSpec(preset="hrender", file="/s/a.hip", target=t, frames="1") for t in ("/out/a", "/out/b")]
    sent = sending.send(specs, Watching())
    assert order == ["queue /out/a", "queue /out/b", "start"] and sent.job_ids == ["job1", "job2"]
