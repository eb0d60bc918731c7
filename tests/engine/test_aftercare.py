"""What runs when a job ends: hooks (the default and the job's own), desktop notices, Apprise targets.

The dispatcher is driven by hand (simulated clock, fake executor); hooks are real processes: small shell
scripts that record what they were given. A hook that fails or hangs is logged, timed out and killed,
and never holds up the farm.
"""

from __future__ import annotations

import http.server
import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Callable, ClassVar

import pytest

from farmhand.engine import hooks
from farmhand.engine.lifecycle import Aftercare
from farmhand.errors import ConfigError
from farmhand.jobs import JobState

from .fake_farm import NodeBehaviour
from .rig import Rig

RECORDER = """#!/bin/sh
# Records what a hook gets: its stdin (the job as JSON) and its environment.
cat > "$1/$FARMHAND_JOB_ID.$2.json"
printf '%s %s %s\\n' "$FARMHAND_JOB_ID" "$FARMHAND_JOB_STATE" "$FARMHAND_JOB_NAME" >> "$1/$2.log"
echo "recorded $2"
"""


def _script(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def recorder(tmp_path: Path) -> tuple[Path, Path]:
    seen = tmp_path / "seen"
    seen.mkdir()
    return _script(tmp_path / "record.sh", RECORDER), seen


def _settings(home: Path, **notify: object) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dispatcher.json").write_text(json.dumps({"notify": {"desktop": False, **notify}}))


def _events(rig: Rig, job: str, kind: str = "hook") -> list[str]:
    return [e.message for e in rig.snap(job).events if e.kind == kind]


def test_default_and_job_hooks_get_the_job_on_stdin_and_in_their_environment(
        farmhand_home: Path, rig_for: Callable[..., Rig], recorder: tuple[Path, Path]) -> None:
    script, seen = recorder
    _settings(farmhand_home, on_end=f"{script} {seen} default")
    rig = rig_for({"a": NodeBehaviour()})
    job = rig.submit("1-4", on_end=f"{script} {seen} own", name="shot010 beauty")
    rig.drive(rig.finished(job))
    rig.drive(lambda: len(_events(rig, job)) == 2)
    for which in ("default", "own"):
        assert (seen / f"{which}.log").read_text() == f"{job} done shot010 beauty\n"
        data = json.loads((seen / f"{job}.{which}.json").read_text())
        assert data["id"] == job and data["state"] == "done"
        assert data["summary"]["frames_done"] == 4 and len(data["frames"]) == 4
        assert data["spec"]["on_end"].endswith(" own")
    assert sorted(_events(rig, job)) == [f"{script} {seen} default: ran (exit 0): recorded default",
                                         f"{script} {seen} own: ran (exit 0): recorded own"]


def test_each_ending_runs_the_hooks_once_even_after_a_restart(
        farmhand_home: Path, rig_for: Callable[..., Rig], recorder: tuple[Path, Path]) -> None:
    script, seen = recorder
    _settings(farmhand_home, on_end=f"{script} {seen} default")
    rig = rig_for({"a": NodeBehaviour(spf=5.0)})
    job = rig.submit("1-40")
    rig.drive(lambda: rig.snap(job).summary.frames_done > 0)
    rig.client.cancel(job)
    rig.drive(lambda: len(_events(rig, job)) == 1)
    rig.dispatcher.close()
    rig.dispatcher = rig.make()  # a restarted dispatcher reads the endings it already handled
    for _ in range(20):
        rig.now += 0.1
        rig.dispatcher.step(rig.now)
    assert (seen / "default.log").read_text() == f"{job} cancelled demo\n"
    rig.client.retry(job)  # revived and ended again: a second ending, a second run
    rig.drive(rig.finished(job), limit=2000)
    rig.drive(lambda: len(_events(rig, job)) == 2)
    states = [line.split()[1] for line in (seen / "default.log").read_text().splitlines()]
    assert states == ["cancelled", "done"]


def test_a_failing_hook_is_an_event_and_changes_nothing(
        farmhand_home: Path, rig_for: Callable[..., Rig], tmp_path: Path) -> None:
    failing = _script(tmp_path / "fail.sh", "#!/bin/sh\necho 'cannot reach chat' >&2\nexit 3\n")
    _settings(farmhand_home, on_end=str(failing))
    rig = rig_for({"a": NodeBehaviour()})
    job = rig.submit("1-3", on_end=str(tmp_path / "missing-program"))
    rig.drive(rig.finished(job))
    rig.drive(lambda: len(_events(rig, job)) == 2)
    messages = sorted(_events(rig, job))
    assert messages[0] == f"{failing}: exited with status 3: cannot reach chat"
    assert messages[1].startswith(f"{tmp_path / 'missing-program'}: could not start")
    assert rig.snap(job).state is JobState.DONE


def test_a_hanging_hook_is_killed_and_never_holds_up_the_farm(
        farmhand_home: Path, rig_for: Callable[..., Rig], tmp_path: Path) -> None:
    hang = _script(tmp_path / "hang.sh", f"#!/bin/sh\necho $$ > {tmp_path}/hook-$FARMHAND_JOB_ID.pid\n"
                                         "sleep 300 &\nwait\n")
    rig = rig_for({"a": NodeBehaviour()})
    # Hooks on their own threads, as in production (the rig runs everything else inline).
    rig.dispatcher.aftercare = Aftercare(rig.dispatcher.state, hooks.NotifySettings(
        on_end=str(hang), desktop=False, hook_timeout=1.0))
    first = rig.submit("1-3")
    pid_file = tmp_path / f"hook-{first}.pid"
    rig.drive(rig.finished(first))
    rig.drive(lambda: pid_file.exists() and pid_file.read_text().strip() != "")
    second = rig.submit("1-10")
    rig.drive(rig.finished(second))
    assert rig.snap(second).state is JobState.DONE
    assert rig.dispatcher.aftercare.running, "the hook was still running while the second job rendered"
    deadline = time.monotonic() + 30
    while not _events(rig, first) and time.monotonic() < deadline:
        time.sleep(0.1)
        rig.now += 0.1
        rig.dispatcher.step(rig.now)
    assert _events(rig, first) == [f"{hang}: still running after 1s: killed"]
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the hook and its whole process group are gone


def test_desktop_notice_goes_through_notify_send_as_plain_arguments(
        farmhand_home: Path, rig_for: Callable[..., Rig], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    args_file = tmp_path / "notify-send.args"
    _script(bin_dir / "notify-send", f'#!/bin/sh\nfor a in "$@"; do echo "$a"; done > {args_file}\n')
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent")
    (farmhand_home / "dispatcher.json").parent.mkdir(parents=True, exist_ok=True)
    (farmhand_home / "dispatcher.json").write_text('{"notify": {"desktop": true}}')
    rig = rig_for({"a": NodeBehaviour()})
    job = rig.submit("1-2", name="$(touch /tmp/owned) shot")
    rig.drive(rig.finished(job))
    rig.drive(lambda: args_file.exists())
    assert args_file.read_text().splitlines() == [
        "--app-name=Farmhand", "--", f"Farmhand: job {job} done", "$(touch /tmp/owned) shot: 2/2 frames"]


def test_without_notify_send_nothing_is_shown_and_it_is_said_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    assert hooks.desktop_command("t", "b") is None
    result = hooks.notify_desktop("t", "b")
    assert not result.ok and "notify-send not found" in result.message


class _Inbox(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Inbox.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_apprise_target_gets_the_notice(farmhand_home: Path, rig_for: Callable[..., Rig]) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Inbox)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"json://127.0.0.1:{server.server_port}/farm"
        _settings(farmhand_home, apprise=[url])
        rig = rig_for({"a": NodeBehaviour()})
        job = rig.submit("1-2", name="shot020")
        rig.drive(rig.finished(job))
        rig.drive(lambda: len(_events(rig, job)) == 1)
    finally:
        server.shutdown()
    assert _events(rig, job) == ["apprise: sent to 1 target(s)"]
    assert _Inbox.received[-1]["title"] == f"Farmhand: job {job} done"
    assert _Inbox.received[-1]["message"] == "shot020: 2/2 frames"


@pytest.mark.parametrize(("notify", "words"), [
    ({"on_end": 5}, "notify.on_end has the wrong type"),
    ({"desktop": "yes"}, "notify.desktop has the wrong type"),
    ({"hook_timeout": 0}, "hook_timeout must be a number of seconds above 0"),
    ({"apprise": "mailto://x"}, "notify.apprise has the wrong type"),
    ({"apprise": [""]}, "a list of Apprise URLs"),
    ({"on_end": "notify 'unclosed"}, "No closing quotation"),
    ({"colour": "red"}, "notify.colour is not a setting"),
    ([], "'notify' must be an object"),
])
def test_bad_notify_settings_are_one_line(tmp_path: Path, notify: object, words: str) -> None:
    with pytest.raises(ConfigError, match=words.replace("(", r"\(")) as caught:
        hooks.parse_settings(tmp_path / "dispatcher.json", notify)
    assert "\n" not in caught.value.message
