"""Houdini glue tests run in-process against the typed fake ``hou`` (tests/fakes/hou)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .fakesink import RecordingSink

FAKES = Path(__file__).resolve().parent.parent / "fakes"
FAKE_HOU = FAKES / "hou"
FAKE_HFS = FAKES / "hfs" / "hfs21.0.512"
for entry in (FAKE_HOU / "pythonpath", FAKE_HOU):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import fake_hou  # noqa: E402
import hdefereval  # noqa: E402  (the fake)


def fake_hfs(build: str) -> Path:
    """The fake install of Houdini ``build`` (its hython runs that release's fake hou)."""
    return FAKES / "hfs" / f"hfs{build}"


@pytest.fixture(params=fake_hou.BUILDS)
def houdini_build(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each Houdini release Farmhand supports (19.5 to 21.0), one test run per release."""
    build = str(request.param)
    monkeypatch.setenv("FAKE_HOUDINI_VERSION", build)
    return build


@pytest.fixture(params=fake_hou.BUILDS)
def hfs(request: pytest.FixtureRequest) -> Path:
    """Each fake Houdini install (19.5 to 21.0) in turn: its hython runs that release's fake ``hou`` under
    that release's Python when this machine has it."""
    return fake_hfs(str(request.param))


@pytest.fixture
def hou_session(houdini_build: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh graphical fake Houdini session of each release in turn (19.5 has no ``hou.OpNode``...);
    yields the ``fake_hou`` module."""
    monkeypatch.delenv("FAKE_HOUDINI_HYTHON", raising=False)
    monkeypatch.setenv("FARMHAND_HOME", str(tmp_path / "farmhand-home"))
    fake_hou.reset()
    assert fake_hou.applicationVersionString() == houdini_build
    assert fake_hou.SESSION.main_thread is threading.current_thread()
    yield fake_hou
    hdefereval.process_events()
    monkeypatch.delenv("FAKE_HOUDINI_VERSION", raising=False)
    fake_hou.reset()


@pytest.fixture
def make_scene(hou_session: Any, tmp_path: Path) -> Any:
    """``make_scene(nodes, name="shot.hip", **fields)`` writes and loads a fake scene under tmp/share."""

    def make(nodes: list[dict[str, Any]], name: str = "shot.hip", **fields: Any) -> Path:
        return fake_hou.load_scene(tmp_path / "share" / name, nodes, **fields)

    return make


@pytest.fixture
def farm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, houdini_build: str) -> RecordingSink:
    """The entry points wired to a recording job sink (returned), one node ``n1`` with the session's
    Houdini build and the share ``tmp/share``."""
    from farmhand.houdini import farm
    from farmhand.houdini.pathmap import PathMap
    from farmhand.houdini.preflight import NodeFacts

    from .fakesink import RecordingSink

    sink = RecordingSink()
    monkeypatch.setattr(farm, "sink_factory", lambda: sink)
    monkeypatch.setattr(farm, "nodes_provider", lambda: [NodeFacts("n1", houdini=(houdini_build,))])
    monkeypatch.setattr(farm, "pathmap_loader", lambda: PathMap(shares=(str(tmp_path / "share"),)))
    return sink
