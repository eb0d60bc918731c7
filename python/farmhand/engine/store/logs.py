"""Render logs: what each node printed for a job, kept beside the job store rather than in it.

Logs can be large, so they are plain files: ``logs/job-<n>/<node>.log`` under ``FARMHAND_HOME``, one
tab-separated ``time, frame, stream, text`` line per output line. The dispatcher appends
(:func:`append_log`); ``farmhand logs`` and the panel read (:func:`read_logs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Optional

from farmhand import paths
from farmhand.engine.store.database import job_num
from farmhand.frames import Frame, normalise
from farmhand.jobs import LogLine


def log_path(job_id: str, node: str) -> Path:
    """The node's log file for the job (its folder is created, private)."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in node)
    path = paths.logs_dir() / f"job-{job_num(job_id)}" / f"{safe}.log"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def append_log(job_id: str, node: str, lines: Sequence[tuple[float, Optional[Frame], str, str]]) -> None:
    """Append ``(time, frame, stream, text)`` lines to the node's log for the job."""
    if not lines:
        return
    with open(log_path(job_id, node), "a", encoding="utf-8", errors="replace") as fh:
        for t, frame, stream, text in lines:
            clean = text.replace("\t", " ").replace("\n", " ")
            fh.write(f"{t:.3f}\t{'' if frame is None else repr(float(frame))}\t{stream}\t{clean}\n")


def read_logs(job_id: str, node: Optional[str] = None, frame: Optional[Frame] = None) -> list[LogLine]:
    """A job's log lines in time order: every node's, or one node's; all, or those of one frame."""
    base = paths.logs_dir() / f"job-{job_num(job_id)}"
    if not base.is_dir():
        return []
    files = [log_path(job_id, node)] if node else sorted(base.glob("*.log"))
    out: list[LogLine] = []
    for path in files:
        if not path.exists():
            continue
        host = node or path.stem
        for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = raw.split("\t", 3)
            if len(parts) != 4:
                continue
            fr = normalise(float(parts[1])) if parts[1] else None
            if frame is not None and fr != normalise(frame):
                continue
            out.append(LogLine(time=float(parts[0]), node=host, frame=fr, stream=parts[2], text=parts[3]))
    out.sort(key=lambda line: line.time)
    return out
