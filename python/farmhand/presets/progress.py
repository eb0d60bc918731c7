"""Per-line facts from a renderer's output: frame started, progress, frame done, file written, error.

A :class:`LineParser` reads one process's output (one chunk, or one persistent worker) line by line with
the patterns of its preset and returns small frozen events. It keeps just enough state to know the
current frame; per-node and per-job arithmetic (seconds per frame, ETA) belongs to the dispatcher.

ALF progress (``ALF_PROGRESS 17%`` or ``ALF_PROGRESS 10.8333``) means the current frame for Mantra, husk
and most renderers, but the whole range for geometry ROPs; the preset says which (``progress_scope``) and
a job may override it (:func:`alf_scope_for_rop_type`). When a renderer prints no frame-start lines
(husk) and the chunk's frames are known, frame boundaries are inferred from ALF progress reaching 100% or
starting again from a lower value.

Output is untrusted data: each line is capped and decoded leniently first
(:func:`farmhand.presets.lines.clean_line`), a number that is not finite or out of range is ignored, and
``FARMHAND_EVENT`` lines are honoured only when the preset's mode is the worker protocol (anywhere else
they are ordinary output). What the parser remembers is bounded too, whatever a process prints.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Optional, Union

from farmhand.frames import Frame, normalise
from farmhand.presets import lines, worker_protocol
from farmhand.presets.failures import ErrorLine, FailureKind
from farmhand.presets.lines import FrameDone, FrameProgress, FrameStarted, OutputWritten, WorkerEvent
from farmhand.presets.model import Preset, PresetMode, ProgressScope

__all__ = [
    "ErrorLine",
    "Event",
    "FrameDone",
    "FrameProgress",
    "FrameStarted",
    "LineParser",
    "OutputWritten",
    "WorkerEvent",
    "alf_scope_for_rop_type",
]


Event = Union[FrameStarted, FrameProgress, FrameDone, OutputWritten, ErrorLine, WorkerEvent]

#: How many frames (started, done) a parser lists; a process claiming more is not believed further.
MAX_REMEMBERED_FRAMES = 10_000
#: How many texts (outputs, error lines, exit-0 spoilers) a parser keeps; one error of each kind always is.
MAX_REMEMBERED_TEXTS = 256

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


def _plain(match: re.Match[str]) -> Optional[str]:
    """The one plain group of a pattern without named groups, else None."""
    return match.group(1) if match.re.groups >= 1 and not match.re.groupindex else None


def _frame_of(match: re.Match[str]) -> Optional[Frame]:
    text = _group(match, "frame")
    return lines.frame(text if text is not None else _plain(match))


def _search(patterns: Sequence[re.Pattern[str]], text: str) -> Optional[re.Match[str]]:
    """The match of the first pattern found in ``text`` (the rest are not tried)."""
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return match
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
        self.rules = preset.error_rules
        self._worker_mode = preset.mode is PresetMode.WORKER
        self._start = [re.compile(p) for p in preset.frame_start_patterns]
        self._done = [re.compile(p) for p in preset.frame_done_patterns]
        self._progress = [re.compile(p) for p in preset.progress_patterns]
        self._output = [re.compile(p) for p in preset.output_patterns]
        self._infer = not self._start and bool(self.frames) and self.scope == ProgressScope.FRAME.value
        self._alf_index = 0
        self._last_percent: Optional[float] = None
        self.current: Optional[Frame] = None
        self.started: list[Frame] = []
        self.done: list[Frame] = []
        self._started_set: set[Frame] = set()
        self._done_set: set[Frame] = set()
        self.outputs: list[str] = []
        self.errors: list[ErrorLine] = []
        self._error_kinds: set[FailureKind] = set()
        #: Lines that make even an exit status of 0 a failure (hrender exits 0 when the ROP failed).
        self.not_success: list[str] = []

    # --- what the parser remembers (bounded) ----------------------------------------------------------

    def _note_started(self, frame: Frame) -> None:
        if frame not in self._started_set and len(self.started) < MAX_REMEMBERED_FRAMES:
            self._started_set.add(frame)
            self.started.append(frame)

    def _keep_error(self, error: ErrorLine) -> None:
        # Past the limit only a kind not seen yet is kept: classify() still sees every cause.
        if len(self.errors) < MAX_REMEMBERED_TEXTS or error.kind not in self._error_kinds:
            self.errors.append(error)
            self._error_kinds.add(error.kind)

    # --- state helpers ------------------------------------------------------------------------------

    def _begin(self, frame: Frame, events: list[Event]) -> None:
        if frame == self.current:
            return
        if self.current is not None and self.current not in self._done_set:
            # Renderers work through a chunk in order: a new frame starting means the last one finished.
            self._finish(self.current, events)
        self.current = frame
        self._note_started(frame)
        events.append(FrameStarted(frame))

    def _finish(self, frame: Optional[Frame], events: list[Event]) -> None:
        if frame is not None and frame in self._done_set:
            return
        if frame is not None and len(self.done) < MAX_REMEMBERED_FRAMES:
            self._done_set.add(frame)
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

    def feed(self, stream: str, line: Union[str, bytes]) -> list[Event]:
        """Events carried by one line of output (``stream`` is ``"out"`` or ``"err"``).

        ``line`` may be text or raw bytes, of any length and encoding: it is cleaned first
        (:func:`farmhand.presets.lines.clean_line`). Nothing a line holds makes this raise.
        """
        events: list[Event] = []
        text = lines.clean_line(line)
        if self._worker_mode:
            data = worker_protocol.parse_event(text)
            if data is not None:
                self._worker(data, events)
                return events
        self._judge(text, events)
        match = _search(self._start, text)
        if match:
            frame = _frame_of(match)
            if frame is not None:
                self._begin(frame, events)
        match = _search(self._progress, text)
        if match:
            self._progress_event(match, events)
        match = _search(self._output, text)
        if match:
            self._output_event(match, events)
        match = _search(self._done, text)
        if match:
            frame = _frame_of(match)
            self._finish(frame if frame is not None else self.current, events)
        return events

    def _judge(self, text: str, events: list[Event]) -> None:
        if self.rules.spoils_success(text) and len(self.not_success) < MAX_REMEMBERED_TEXTS:
            self.not_success.append(lines.one_line(text))
        kind = self.rules.kind_of(text)
        if kind is not None:
            error = ErrorLine(kind, lines.one_line(text))
            self._keep_error(error)
            events.append(error)

    def _output_event(self, match: re.Match[str], events: list[Event]) -> None:
        path = _group(match, "path") or _plain(match)
        if path:
            if len(self.outputs) < MAX_REMEMBERED_TEXTS:
                self.outputs.append(path)
            events.append(OutputWritten(path, self.current))

    def _progress_event(self, match: re.Match[str], events: list[Event]) -> None:
        plain = _plain(match)
        if plain is not None:  # one plain group: it is the percentage (not a frame number)
            percent = lines.percent(plain)
        elif _group(match, "percent") is not None:
            percent = lines.percent(_group(match, "percent"))
        else:
            percent = lines.ratio_percent(_group(match, "done"), _group(match, "total"))
        if percent is None:
            return
        frame = None if plain is not None else _frame_of(match)
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
        frame = lines.frame(data.get("frame"))
        if name == "start" and frame is not None:
            # A worker frame is finished only by its own "done" event, never implied by the next start.
            self.current = frame
            self._note_started(frame)
            events.append(FrameStarted(frame))
        elif name == "progress":
            percent = lines.percent(data.get("percent"))
            if percent is not None:
                events.append(FrameProgress(frame, percent, "frame"))
        elif name == "done":
            for path in data.get("outputs") or ():
                if len(self.outputs) < MAX_REMEMBERED_TEXTS:
                    self.outputs.append(path)
                events.append(OutputWritten(path, frame))
            self._finish(frame, events)
        elif name in ("error", "fatal"):
            kind = worker_protocol.failure_kind(data.get("kind"))
            error = ErrorLine(kind, lines.one_line(str(data.get("message", ""))) or f"worker {name}")
            self._keep_error(error)
            events.append(error)

    def finish(self, success: bool) -> list[Event]:
        """Events implied by the process ending: a clean exit finishes the frame that was rendering.

        A persistent worker reports every frame's end itself, so its exit implies nothing; and a process
        that printed one of the preset's ``exit_zero_is_not_success_when`` lines is never clean, whatever
        ``success`` says (so calling this before :func:`farmhand.presets.failures.classify` is safe too).
        """
        events: list[Event] = []
        if self._worker_mode or self.not_success:
            return events
        if success and self.current is not None and self.current not in self._done_set:
            self._finish(self.current, events)
        return events
