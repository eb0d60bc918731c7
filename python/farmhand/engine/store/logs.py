"""Render logs: what each node printed for a job, kept beside the job store rather than in it.

Logs can be large, so they are plain files: ``logs/job-<n>/<node>.log`` under ``FARMHAND_HOME``, one
tab-separated ``time, frame, stream, text`` line per output line. The dispatcher appends
(:func:`append_log`); ``farmhand logs`` and the panel read (:func:`read_logs`). A log that grows past
its size limit is rotated once (``<node>.log.1``, replacing the previous part), so a node that prints
without end costs at most twice the limit; finished jobs' logs are removed by the store's retention.
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


def append_log(
    job_id: str,
    node: str,
    lines: Sequence[tuple[float, Optional[Frame], str, str]],
    max_bytes: Optional[int] = None,
) -> None:
    """Append ``(time, frame, stream, text)`` lines to the node's log for the job; past ``max_bytes``
    the log is rotated.

    Raises:
        OSError: the log could not be written (a full disk): the caller decides what that costs.
    """
    if not lines:
        return
    path = log_path(job_id, node)
    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            path.replace(path.with_name(path.name + ".1"))
    except FileNotFoundError:
        pass
    with open(path, "a", encoding="utf-8", errors="replace") as fh:
        for t, frame, stream, text in lines:
            clean = text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
            fh.write(f"{t:.3f}\t{'' if frame is None else repr(float(frame))}\t{stream}\t{clean}\n")


def read_logs(job_id: str, node: Optional[str] = None, frame: Optional[Frame] = None) -> list[LogLine]:
    """A job's log lines in time order: every node's, or one node's; all, or those of one frame."""
    base = paths.logs_dir() / f"job-{job_num(job_id)}"
    if not base.is_dir():
        return []
    if node:
        logs = [log_path(job_id, node)]
    else:
        names = {p.name[:-2] if p.name.endswith(".1") else p.name for p in base.glob("*.log*")}
        logs = sorted(base / name for name in names)
    out: list[LogLine] = []
    for path in logs:
        host = node or path.name[: -len(".log")]
        for part in (path.with_name(path.name + ".1"), path):
            out.extend(_read(part, host, frame))
    out.sort(key=lambda line: line.time)
    return out


def _read(path: Path, host: str, frame: Optional[Frame]) -> list[LogLine]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for raw in text.splitlines():
        parts = raw.split("\t", 3)
        if len(parts) != 4:
            continue
        try:
            t = float(parts[0])
            fr = normalise(float(parts[1])) if parts[1] else None
        except (ValueError, OverflowError):
            continue  # a line damaged by a full disk or a hand edit
        if frame is not None and fr != normalise(frame):
            continue
        out.append(LogLine(time=t, node=host, frame=fr, stream=parts[2], text=parts[3]))
    return out
