"""Main-thread helpers (with the fake hdefereval standing in for Houdini's event loop) and the
registry as preflight sees it."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import hdefereval
import pytest

from farmhand.houdini import farm, mainthread
from farmhand.nodes.registry import NodeState, Registry


def test_call_in_main_from_a_worker_thread_runs_on_the_main_thread(hou_session: Any) -> None:
    seen: list[Any] = []

    def worker() -> None:
        seen.append(mainthread.call_in_main(lambda: (threading.current_thread().name, hou_session.frame())))

    thread = threading.Thread(target=worker, name="scan")
    thread.start()
    while thread.is_alive():
        hdefereval.process_events(timeout=0.05)
    assert seen == [(threading.current_thread().name, 1.0)]
    # On the main thread it runs directly (executeInMainThreadWithResult there would deadlock Houdini).
    assert mainthread.call_in_main(lambda: threading.current_thread().name) == threading.current_thread().name


def test_run_in_background_reports_results_and_errors_on_the_main_thread(hou_session: Any) -> None:
    results: list[tuple[Any, Any, str]] = []

    def done(value: Any, error: Any) -> None:
        results.append((value, type(error).__name__ if error else None, threading.current_thread().name))

    mainthread.run_in_background(lambda: 42, done).join(5)
    mainthread.run_in_background(lambda: 1 / 0, done).join(5)
    assert results == []  # nothing runs until Houdini's event loop does
    hdefereval.process_events(timeout=1)
    main = threading.current_thread().name
    assert results == [(42, None, main), (None, "ZeroDivisionError", main)]


def test_without_hdefereval_work_runs_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "hdefereval", None)  # hython: no UI event loop
    ran: list[str] = []
    mainthread.post_to_main(lambda: ran.append("posted"))
    assert ran == ["posted"]


def test_registry_nodes_as_preflight_facts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FARMHAND_HOME", str(tmp_path / "home"))
    registry = Registry()
    registry.add("render01", address="10.0.0.11")
    registry.record_inventory("render01", {"hostname": "render01", "os": "linux",
                                           "houdini": [{"path": "/opt/hfs21.0.512", "version": "21.0.512"}]})
    registry.add("render02", address="10.0.0.12", state=NodeState.DISCOVERED)
    registry.add("render03", address="10.0.0.13")
    registry.set_enabled("render03", False)
    facts = {f.host: f for f in farm.registry_nodes()}
    assert facts["render01"].houdini == ("21.0.512",) and facts["render01"].trusted
    assert not facts["render02"].trusted and facts["render02"].houdini == ()
    assert not facts["render03"].enabled
