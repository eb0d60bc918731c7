"""Per-line facts from a renderer's output: frame started, progress, frame done, file written, error.

A :class:`LineParser` reads one process's output (one chunk, or one persistent worker) line by line with
the patterns of its preset and returns small frozen events. It keeps just enough state to know the
current frame; per-node and per-job arithmetic (seconds per frame, ETA) belongs to the dispatcher.

ALF progress (``ALF_PROGRESS 17%`` or ``ALF_PROGRESS 10.8333``) means the current frame for Mantra, husk
and most renderers, but the whole range for geometry ROPs; the preset says which (``progress_scope``) and
a job may override it (:func:`alf_scope_for_rop_type`). When a renderer prints no frame-start lines
(husk) and the chunk's frames are known, frame boundaries are inferred from ALF progress reaching 100% or
starting again from a lower value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Union

from farmhand.frames import Frame, normalise
from farmhand.presets.failures import COMMON_ERROR_PATTERNS, FailureKind, match_error
from farmhand.presets.model import Preset, PresetMode, ProgressScope
from farmhand.presets.worker_protocol import parse_event


@dataclass(frozen=True)
class FrameStarted:
    frame: Frame


@dataclass(frozen=True)
class FrameProgress:
    """``percent`` (0–100) of the frame (scope ``"frame"``) or of the process's whole range (``"range"``)."""

    frame: Optional[Frame]
    percent: float
    scope: str = "frame"


@dataclass(frozen=True)
class FrameDone:
    """The renderer finished ``frame`` (None: it said so without naming one, and no frame was current)."""

    frame: Optional[Frame]


@dataclass(frozen=True)
class OutputWritten:
    path: str
    frame: Optional[Frame] = None


@dataclass(frozen=True)
class ErrorLine:
    kind: FailureKind
    message: str


@dataclass(frozen=True)
class WorkerEvent:
    """A ``FARMHAND_EVENT`` line from the hython worker, as its JSON object (see worker_protocol)."""

    data: dict[str, Any] = field(hash=False)

    @property
    def event(self) -> str:
        return str(self.data.get("event", ""))


Event = Union[FrameStarted, FrameProgress, FrameDone, OutputWritten, ErrorLine, WorkerEvent]

# Worker error kinds (worker_protocol.ERROR_KINDS) in Farmhand's failure vocabulary.
_WORKER_KINDS = {"load": FailureKind.SCENE_LOAD, "licence": FailureKind.LICENCE,
                 "missing_file": FailureKind.MISSING_FILE, "render": FailureKind.UNKNOWN}

# ROP types whose ALF progress covers the whole frame range rather than one frame.
_RANGE_ROPS = ("geometry", "rop_geometry", "alembic", "rop_alembic", "filecache", "dop", "rop_dop",
               "fbx", "rop_fbx", "wedge", "arnold")


def alf_scope_for_rop_type(type_name: str) -> str:
    """``"range"`` for ROPs whose ALF_PROGRESS covers the range (geometry, alembic, ...), else ``"frame"``.

    ``type_name`` is a node type such as ``Driver/geometry`` or ``geometry`` (namespaces are ignored).
    """
    parts = type_name.rsplit("/", 1)[-1].lower().split("::")
    return ProgressScope.RANGE.value if any(p in _RANGE_ROPS for p in parts) else ProgressScope.FRAME.value


def _group(match: re.Match[str], name: str) -> Optional[str]:
    try:
        return match.group(name)
    except IndexError:
        return None


def _frame_of(match: re.Match[str]) -> Optional[Frame]:
    text = _group(match, "frame")
    if text is None and match.re.groups >= 1 and not match.re.groupindex:
        text = match.group(1)
    try:
        return normalise(float(text)) if text is not None else None
    except ValueError:
        return None


class LineParser:
    """Turns output lines of one renderer process into events.

    Args:
        preset: whose patterns to use.
        frames: the frames this process renders, in order (enables frame inference from ALF progress).
        alf_scope: ``"frame"`` or ``"range"`` to override the preset's ``progress_scope``.
    """

    def __init__(self, preset: Preset, frames: Sequence[Frame] = (), alf_scope: Optional[str] = None) -> None:
        self.preset = preset
        self.frames = tuple(normalise(f) for f in frames)
        self.scope = ProgressScope(alf_scope or preset.progress_scope).value
        self._errors = tuple(preset.error_patterns) + COMMON_ERROR_PATTERNS
        self._start = [re.compile(p) for p in preset.frame_start_patterns]
        self._done = [re.compile(p) for p in preset.frame_done_patterns]
        self._progress = [re.compile(p) for p in preset.progress_patterns]
        self._output = [re.compile(p) for p in preset.output_patterns]
        self._not_success = [re.compile(p) for p in preset.exit_zero_is_not_success_when]
        self._infer = not self._start and bool(self.frames) and self.scope == ProgressScope.FRAME.value
        self._alf_index = 0
        self._last_percent: Optional[float] = None
        self.current: Optional[Frame] = None
        self.started: list[Frame] = []
        self.done: list[Frame] = []
        self.outputs: list[str] = []
        self.errors: list[ErrorLine] = []
        #: Lines that make even an exit status of 0 a failure (hrender exits 0 when the ROP failed).
        self.not_success: list[str] = []

    # --- state helpers ------------------------------------------------------------------------------

    def _begin(self, frame: Frame, events: list[Event]) -> None:
        if frame == self.current:
            return
        if self.current is not None and self.current not in self.done:
            # Renderers work through a chunk in order: a new frame starting means the last one finished.
            self._finish(self.current, events)
        self.current = frame
        if frame not in self.started:
            self.started.append(frame)
        events.append(FrameStarted(frame))

    def _finish(self, frame: Optional[Frame], events: list[Event]) -> None:
        if frame is not None and frame in self.done:
            return
        if frame is not None:
            self.done.append(frame)
        events.append(FrameDone(frame))

    def _alf(self, percent: float, events: list[Event]) -> Optional[Frame]:
        """Frame inference for renderers without frame lines: returns the frame this percentage is for."""
        last = self._last_percent
        if last is not None and last >= 100 and percent >= 100:
            return None  # a repeated 100% is the same frame saying it again
        if last is not None and last < 100 and percent < last and self._alf_index < len(self.frames):
            self._finish(self.frames[self._alf_index], events)
            self._alf_index += 1
        if last is not None and last >= 100:
            self._alf_index += 1
        self._last_percent = percent
        if self._alf_index >= len(self.frames):
            return None
        frame = self.frames[self._alf_index]
        self._begin(frame, events)
        return frame

    # --- the public step ----------------------------------------------------------------------------

    def feed(self, stream: str, line: str) -> list[Event]:
        """Events carried by one line of output (``stream`` is ``"out"`` or ``"err"``)."""
        events: list[Event] = []
        text = line.rstrip("\r\n")
        worker = parse_event(text)
        if worker is not None:
            self._worker(worker, events)
            return events
        if any(p.search(text) for p in self._not_success):
            self.not_success.append(text.strip())
        kind = match_error(self._errors, text)
        if kind is not None:
            error = ErrorLine(kind, text.strip())
            self.errors.append(error)
            events.append(error)
        for pattern in self._start:
            match = pattern.search(text)
            if match:
                frame = _frame_of(match)
                if frame is not None:
                    self._begin(frame, events)
                break
        for pattern in self._progress:
            match = pattern.search(text)
            if match:
                self._progress_event(match, events)
                break
        for pattern in self._output:
            match = pattern.search(text)
            if match:
                path = _group(match, "path") or (match.group(1) if match.re.groups else "")
                if path:
                    self.outputs.append(path)
                    events.append(OutputWritten(path, self.current))
                break
        for pattern in self._done:
            match = pattern.search(text)
            if match:
                frame = _frame_of(match)
                self._finish(frame if frame is not None else self.current, events)
                break
        return events

    def _progress_event(self, match: re.Match[str], events: list[Event]) -> None:
        percent_text = _group(match, "percent")
        plain = match.re.groups >= 1 and not match.re.groupindex
        if plain:  # one plain group: it is the percentage (not a frame number)
            percent_text = match.group(1)
        done, total = _group(match, "done"), _group(match, "total")
        try:
            if percent_text is not None:
                percent = float(percent_text)
            elif done is not None and total is not None and float(total) > 0:
                percent = 100.0 * float(done) / float(total)
            else:
                return
        except ValueError:
            return
        percent = max(0.0, min(100.0, percent))
        frame = None if plain else _frame_of(match)
        if frame is not None:
            self._begin(frame, events)
        if self.scope == ProgressScope.RANGE.value:
            events.append(FrameProgress(None, percent, "range"))
            return
        if frame is None and self._infer:
            frame = self._alf(percent, events)
            events.append(FrameProgress(frame, percent, "frame"))
            if frame is not None and percent >= 100:
                self._finish(frame, events)
            return
        events.append(FrameProgress(frame if frame is not None else self.current, percent, "frame"))

    def _worker(self, data: dict[str, Any], events: list[Event]) -> None:
        events.append(WorkerEvent(data))
        name = data.get("event")
        raw = data.get("frame")
        frame = normalise(float(raw)) if isinstance(raw, (int, float)) and not isinstance(raw, bool) else None
        if name == "start" and frame is not None:
            # A worker frame is finished only by its own "done" event, never implied by the next start.
            self.current = frame
            if frame not in self.started:
                self.started.append(frame)
            events.append(FrameStarted(frame))
        elif name == "progress":
            percent = data.get("percent")
            if isinstance(percent, (int, float)):
                events.append(FrameProgress(frame, max(0.0, min(100.0, float(percent))), "frame"))
        elif name == "done":
            for path in data.get("outputs") or ():
                if isinstance(path, str):
                    self.outputs.append(path)
                    events.append(OutputWritten(path, frame))
            self._finish(frame, events)
        elif name in ("error", "fatal"):
            kind = _WORKER_KINDS.get(str(data.get("kind")), FailureKind.UNKNOWN)
            error = ErrorLine(kind, str(data.get("message", "")).strip() or f"worker {name}")
            self.errors.append(error)
            events.append(error)

    def finish(self, success: bool) -> list[Event]:
        """Events implied by the process ending: a clean exit finishes the frame that was rendering.

        A persistent worker reports every frame's end itself, so its exit implies nothing; and a process
        that printed one of the preset's ``exit_zero_is_not_success_when`` lines is never clean, whatever
        ``success`` says (so calling this before :func:`farmhand.presets.failures.classify` is safe too).
        """
        events: list[Event] = []
        if self.preset.mode is PresetMode.WORKER or self.not_success:
            return events
        if success and self.current is not None and self.current not in self.done:
            self._finish(self.current, events)
        return events
