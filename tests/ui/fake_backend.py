"""A fake of :class:`farmhand.ui.view.backend.FarmBackend` for widget tests: serves prepared snapshots and
records every call (with the thread it ran on), so a test can check which button called what, off the
UI thread. The real backend is tested against the real job store in ``test_client_backend.py``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any, Callable, Optional

from farmhand.errors import NodeUnreachable
from farmhand.ui.view.backend import ScanProgress
from farmhand.ui.view.records import FarmSnapshot, NodeStatus, NodeView, SubmitRequest

from . import farm_data


class FakeBackend:
    def __init__(self, snapshot: Optional[FarmSnapshot] = None) -> None:
        self.current = snapshot or farm_data.snapshot()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.threads: dict[str, str] = {}
        self.snapshot_threads: set[str] = set()
        self.snapshot_calls = 0
        self.lock = threading.Lock()
        self.fail: dict[str, Exception] = {}
        self.scan_steps = 5
        self.scan_gate = threading.Event()
        self.scan_gate.set()
        self.presets_list = ["hrender", "husk", "blender"]
        self.log_text = "10:00:01 render01 f1001 out: ALF_PROGRESS 40%"

    def _record(self, name: str, *args: Any) -> None:
        with self.lock:
            self.calls.append((name, args))
            self.threads[name] = threading.current_thread().name
        error = self.fail.get(name)
        if error is not None:
            raise error

    def called(self, name: str) -> list[tuple[Any, ...]]:
        with self.lock:
            return [args for call, args in self.calls if call == name]

    # reading
    def snapshot(self, job_id: Optional[str]) -> FarmSnapshot:
        with self.lock:
            self.snapshot_calls += 1
            self.snapshot_threads.add(threading.current_thread().name)
            snap = self.current
        if snap.detail is not None and snap.detail.job.job_id != job_id:
            snap = replace(snap, detail=None)
        return replace(snap, taken_at=time.time())

    def log(self, job_id: str, host: Optional[str] = None, frame: Optional[float] = None) -> str:
        self._record("log", job_id, host, frame)
        return self.log_text

    def presets(self) -> list[str]:
        return list(self.presets_list)

    # jobs
    def submit(self, request: SubmitRequest) -> str:
        self._record("submit", request)
        return "j9"

    def cancel(self, job_id: str) -> None:
        self._record("cancel", job_id)

    def pause(self, job_id: str) -> None:
        self._record("pause", job_id)

    def resume(self, job_id: str) -> None:
        self._record("resume", job_id)

    def retry_failed(self, job_id: str) -> None:
        self._record("retry_failed", job_id)

    def set_priority(self, job_id: str, priority: int) -> None:
        self._record("set_priority", job_id, priority)

    def requeue_frame(self, job_id: str, frame: float) -> None:
        self._record("requeue_frame", job_id, frame)

    # nodes
    def scan(self, spec: str, progress: ScanProgress, cancelled: Callable[[], bool]) -> list[NodeView]:
        self._record("scan", spec)
        found = []
        for step in range(1, self.scan_steps + 1):
            self.scan_gate.wait(5)
            if cancelled():
                break
            found.append(NodeView(host=f"10.0.0.{step}", status=NodeStatus.UNTRUSTED))
            progress(step, self.scan_steps, len(found))
        return found

    def probe(self, host: str) -> NodeView:
        self._record("probe", host)
        if host == "render04":
            raise NodeUnreachable(host, "no answer on port 22 within 3 s; is it switched on?")
        return NodeView(host=host, status=NodeStatus.IDLE)

    def fingerprint(self, host: str) -> str:
        self._record("fingerprint", host)
        return "SHA256:Zm9vYmFyYmF6cXV4"

    def trust(self, host: str, fingerprint: str) -> None:
        self._record("trust", host, fingerprint)

    def set_enabled(self, host: str, enabled: bool) -> None:
        self._record("set_enabled", host, enabled)

    def wake(self, host: str) -> None:
        self._record("wake", host)

    def add_node(self, name: str) -> NodeView:
        self._record("add_node", name)
        return NodeView(host=name, status=NodeStatus.UNKNOWN)
