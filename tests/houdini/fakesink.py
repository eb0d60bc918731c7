"""A recording stand-in for the dispatcher client (what farmhand.houdini.sending.JobSink describes)."""

from __future__ import annotations

import threading

from farmhand.houdini.sending import JobSink
from farmhand.jobs import JobSpec


class RecordingSink(JobSink):
    def __init__(self) -> None:
        self.specs: list[JobSpec] = []
        self.threads: list[str] = []
        self.lock = threading.Lock()

    def submit(self, spec: JobSpec) -> str:
        with self.lock:
            self.specs.append(spec)
            self.threads.append(threading.current_thread().name)
            return f"job{len(self.specs)}"
