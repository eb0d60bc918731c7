"""Property-based fuzzing (Hypothesis, bounded budget) of everything in presets that reads untrusted input:
renderer output, worker events, exit statuses, preset files and their regular expressions."""

from __future__ import annotations

import json
import math
from typing import Any, Optional

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from farmhand.errors import FarmhandError
from farmhand.frames import FRAME_LIMIT, Frame
from farmhand.presets import Preset, load_preset, preset_from_dict, regexcheck
from farmhand.presets.failures import ErrorLine, Failure, FailureKind, classify
from farmhand.presets.lines import MAX_LINE_CHARS, MAX_MESSAGE_CHARS
from farmhand.presets.loader import loads_toml
from farmhand.presets.progress import Event, FrameDone, FrameProgress, FrameStarted, LineParser, OutputWritten
from farmhand.presets.validate import TOP_KEYS
from farmhand.presets.worker_protocol import EVENT_PREFIX, parse_event

FUZZ = settings(max_examples=300, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
BUILTINS = {name: load_preset(name, search_dirs=[])
            for name in ("blender", "command", "demo", "husk", "hrender", "hython-usd", "hython-worker")}

# --- strategies ---------------------------------------------------------------------------------------

numbers_text = st.one_of(
    st.integers(-(10**12), 10**12).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["9" * 400, "-" + "9" * 30, "1e400", "nan", "inf", "-0", "0.0000001", "1_000", "١٢"]),
)
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(10**30), 10**30),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20))
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
EVENT_NAMES = ["ready", "start", "progress", "done", "error", "fatal"]
event_object = st.fixed_dictionaries(
    {"event": st.one_of(st.sampled_from(EVENT_NAMES), json_value)},
    optional={key: json_value for key in ("frame", "percent", "seconds", "outputs", "message", "kind",
                                          "warnings", "load_seconds")},
)
event_line = st.tuples(st.text(max_size=10), event_object).map(
    lambda pair: pair[0] + EVENT_PREFIX + json.dumps(pair[1], allow_nan=True))
token = st.one_of(
    st.sampled_from(["ALF_PROGRESS ", "%", "Fra:", " frame ", "| Sample ", "/", " ", "Saved: '", "'",
                     "Generating Image: ", " (1920x1080)", "Error: ", "Killed", "No licenses could be found",
                     "Rendering ", " samples", "17:00:00  m", EVENT_PREFIX, "FARMHAND_BUSY", "\t", "\r"]),
    numbers_text, st.text(max_size=5))
structured_line = st.lists(token, max_size=12).map("".join)
output_line = st.one_of(structured_line, event_line, st.text(max_size=200), st.binary(max_size=200),
                        st.integers(1, 4).map(lambda n: "ALF_PROGRESS 5% " * (n * 5000)))
frames_list = st.lists(st.one_of(st.integers(-50, 50), st.integers(-200, 200).map(lambda n: n / 4)),
                       max_size=6)


def check_events(events: list[Event]) -> None:
    """Every value an event carries is in range, whatever the line was."""
    for event in events:
        if isinstance(event, (FrameStarted, FrameDone, FrameProgress, OutputWritten)):
            frame: Optional[Frame] = event.frame
            assert frame is None or (math.isfinite(frame) and abs(frame) <= FRAME_LIMIT)
        if isinstance(event, FrameProgress):
            assert 0.0 <= event.percent <= 100.0 and event.scope in ("frame", "range")
        if isinstance(event, OutputWritten):
            assert isinstance(event.path, str) and len(event.path) <= MAX_LINE_CHARS
        if isinstance(event, ErrorLine):
            assert "\n" not in event.message and len(event.message) <= MAX_MESSAGE_CHARS


def check_failure(result: Optional[Failure]) -> None:
    if result is not None:
        assert isinstance(result.kind, FailureKind)
        assert result.message and "\n" not in result.message and len(result.message) <= MAX_MESSAGE_CHARS


# --- the output parser --------------------------------------------------------------------------------


@FUZZ
@given(st.sampled_from(sorted(BUILTINS)), frames_list, st.sampled_from([None, "frame", "range"]),
       st.lists(st.tuples(st.sampled_from(["out", "err"]), output_line), max_size=12), st.booleans())
def test_output_parser_never_raises_and_stays_in_range(name: str, frames: list[float], scope: Optional[str],
                                                       lines: list[tuple[str, Any]], success: bool) -> None:
    parser = LineParser(BUILTINS[name], frames=frames, alf_scope=scope)
    for stream, line in lines:
        check_events(parser.feed(stream, line))
    check_events(parser.finish(success))
    check_failure(classify(parser.rules, 0 if success else 1, None, parser.errors,
                           [line for _, line in lines if isinstance(line, str)]))


@FUZZ
@given(event_line)
@example(EVENT_PREFIX + '{"event": "start", "frame": NaN}')
@example(EVENT_PREFIX + "[" * 50_000)
def test_worker_events_never_raise_and_accepted_ones_check_out(line: str) -> None:
    data = parse_event(line)
    if data is not None:
        frame = data.get("frame")
        assert frame is None or (type(frame) in (int, float) and math.isfinite(frame)
                                 and abs(frame) <= FRAME_LIMIT)
        assert all(isinstance(p, str) for p in data.get("outputs", []))
    check_events(LineParser(BUILTINS["hython-worker"]).feed("out", line))


# --- classify -----------------------------------------------------------------------------------------


@FUZZ
@given(
    st.sampled_from(sorted(BUILTINS)),
    st.one_of(st.none(), st.integers(-(2**70), 2**70), st.integers(-5, 300)),
    st.one_of(st.none(), st.integers(-(2**70), 2**70), st.text(max_size=12),
              st.sampled_from(["SEGV", "SIGKILL", "term", 9, 15])),
    st.lists(st.builds(ErrorLine, st.sampled_from(list(FailureKind)), st.text(max_size=40)), max_size=4),
    st.one_of(st.text(max_size=300), st.lists(st.one_of(structured_line, st.text(max_size=80)), max_size=8)),
    st.booleans(),
)
def test_classify_never_raises_and_answers_in_one_line(name: str, exit_code: Optional[int], sig: Any,
                                                       errors: list[ErrorLine], tail: Any,
                                                       cancelled: bool) -> None:
    check_failure(classify(BUILTINS[name].error_rules, exit_code, sig, errors, tail, cancelled=cancelled))


# --- preset files -------------------------------------------------------------------------------------

regex_piece = st.sampled_from(["a", "x", r"\d+", r"\d", ".*", ".+?", "(", ")", "+", "*", "?", "|", "^", "$",
                               "(?P<percent>", "(?P<frame>", "(?P<path>", "(?P<done>", "(?P<total>", r"\s+",
                               r"\S+", "[", "]", "[^/]", "{2,3}", "{0,9999}", "%", "/", " ", "(?:", "(?=",
                               r"\1", "(?i)", r"\b"])
regexish = st.lists(regex_piece, max_size=10).map("".join)
toml_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x7f"),
                    max_size=20)
toml_scalar = st.one_of(toml_text, regexish, st.booleans(), st.integers(-(2**63), 2**63 - 1),
                        st.floats(allow_nan=True, allow_infinity=True))
toml_value = st.recursive(toml_scalar, lambda inner: st.lists(inner, max_size=4)
                          | st.dictionaries(st.one_of(toml_text, regex_piece), inner, max_size=4),
                          max_leaves=10)
ARGS = ["r", "{file}", "{start}", "{end}", "{frame}", "{nope}", "{{x}}", "{gpu}"]
argv_value = st.lists(st.one_of(st.sampled_from(ARGS), st.lists(st.sampled_from(["-o", "{output}"]))),
                      max_size=5)
preset_doc = st.fixed_dictionaries({}, optional={
    **{key: toml_value for key in TOP_KEYS},
    "argv": st.one_of(argv_value, toml_value),
    "mode": st.one_of(st.sampled_from(["chunk", "worker", "daemon"]), toml_value),
    "params": st.one_of(st.dictionaries(st.sampled_from(["gpu", "file", "bad key", "x"]), toml_scalar,
                                        max_size=3), toml_value),
    "patterns": st.one_of(st.dictionaries(st.sampled_from(["progress", "frame_start", "frame_done", "output",
                                                           "exit_zero_is_not_success_when", "other"]),
                                          st.lists(regexish, max_size=3), max_size=4), toml_value),
    "errors": st.one_of(st.dictionaries(st.sampled_from([k.value for k in FailureKind] + ["segfault"]),
                                        st.lists(regexish, max_size=3), max_size=3), toml_value),
})


def toml_of(value: Any) -> str:
    """``value`` written as a TOML value (a tiny writer: the standard library only reads TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)  # TOML writes inf, -inf and nan as Python does
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_of(v) for v in value) + "]"
    pairs = (f"{json.dumps(k, ensure_ascii=False)} = {toml_of(v)}" for k, v in value.items())
    return "{" + ", ".join(pairs) + "}"


def document(data: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(k, ensure_ascii=False)} = {toml_of(v)}\n" for k, v in data.items())


def one_line_config_error(call: Any) -> Optional[Preset]:
    try:
        return call()  # type: ignore[no-any-return]
    except FarmhandError as exc:
        message = str(exc)
    assert isinstance(message, str) and message.startswith("test") and "\n" not in message
    return None


@FUZZ
@given(preset_doc)
@example({"argv": ["r"], "params": {"x": float("nan")}})
@example({"argv": ["r"], "patterns": {"progress": ["(" * 500 + ")" * 500]}})
def test_preset_loader_gives_a_preset_or_one_config_line(data: dict[str, Any]) -> None:
    text = document(data)
    parsed = one_line_config_error(lambda: loads_toml(text, "test"))
    assume(parsed is not None)
    preset = one_line_config_error(lambda: preset_from_dict(parsed, "fuzz", "test", probe=False))
    if preset is not None:
        parser = LineParser(preset)
        for line in ("Fra:1 2/4", "ALF_PROGRESS 50%", "x" * 2000, "a1/2 frame 3 Saved: '/o'"):
            check_events(parser.feed("out", line))


@FUZZ
@given(st.text(max_size=200))
def test_any_text_as_toml_is_a_document_or_one_config_line(text: str) -> None:
    one_line_config_error(lambda: loads_toml(text, "test"))


@FUZZ
@given(st.one_of(regexish, st.text(max_size=40)))
def test_regex_check_never_raises(pattern: str) -> None:
    found = regexcheck.problem(pattern, run_probe=False)
    assert found is None or (isinstance(found, str) and "\n" not in found)
    if found is None:  # a usable pattern: a preset with it loads
        preset_from_dict({"argv": ["r"], "errors": {"unknown": [pattern]}}, "x", "test", probe=False)
