"""What runs when a job ends: a hook command, a desktop notification, chat and e-mail through Apprise.

Settings live in the ``notify`` section of ``FARMHAND_HOME/dispatcher.json`` (all keys optional)::

    {"notify": {"on_end": "/studio/bin/job-ended", "desktop": true, "hook_timeout": 60,
                "apprise": ["slack://TokenA/TokenB/TokenC/#renders", "mailto://user:pass@example.com"]}}

A hook is a command line (split like a shell line, never run by a shell) that gets the job as JSON on
its standard input and ``FARMHAND_JOB_ID``, ``FARMHAND_JOB_STATE`` (``done``/``failed``/``cancelled``)
and ``FARMHAND_JOB_NAME`` in its environment. The default hook above runs for every job, a job's own
(``farmhand submit --on-end CMD``) after it. Every hook runs in its own process group, off the
dispatcher's thread, and is killed after ``hook_timeout`` seconds; what it printed, its exit status or
its timeout is logged and written as the job's ``hook`` event. Nothing a hook does reaches the farm.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from farmhand.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 60.0
#: Seconds between TERM and KILL when a hook outlives its timeout.
KILL_GRACE = 2.0
#: Characters of a hook's output kept for the log and its event.
OUTPUT_KEPT = 400
_KEYS: dict[str, Union[type, tuple[type, ...]]] = {
    "on_end": str, "desktop": bool, "hook_timeout": (int, float), "apprise": list}


@dataclass(frozen=True)
class NotifySettings:
    """The ``notify`` section of ``dispatcher.json``.

    Attributes:
        on_end: a hook run when any job ends (a job's own ``--on-end`` runs after it).
        desktop: a desktop notification where the platform has one (``notify-send``, macOS).
        hook_timeout: seconds a hook may run before it is killed.
        apprise: Apprise target URLs (chat, e-mail); needs the ``notify`` extra (``pip install apprise``).
    """

    on_end: Optional[str] = None
    desktop: bool = True
    hook_timeout: float = DEFAULT_TIMEOUT
    apprise: tuple[str, ...] = ()


def parse_settings(path: Path, raw: Any) -> NotifySettings:
    """The ``notify`` object of ``dispatcher.json``; anything wrong is one :class:`ConfigError` line."""
    if raw is None:
        return NotifySettings()
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: 'notify' must be an object of {', '.join(_KEYS)}; see docs/hooks.md")
    for key, value in raw.items():
        kind = _KEYS.get(key)
        if kind is None:
            raise ConfigError(f"{path}: notify.{key} is not a setting; use one of {', '.join(_KEYS)}")
        if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
            raise ConfigError(f"{path}: notify.{key} has the wrong type ({json.dumps(value)}); "
                              "see docs/hooks.md")
    if raw.get("on_end") is not None:
        check_command(raw["on_end"], f"{path}: notify.on_end")
    timeout = float(raw.get("hook_timeout", DEFAULT_TIMEOUT))
    if not 0 < timeout <= 24 * 3600:
        raise ConfigError(f"{path}: notify.hook_timeout must be a number of seconds above 0")
    urls = raw.get("apprise", [])
    if not all(isinstance(u, str) and u.strip() for u in urls):
        raise ConfigError(f"{path}: notify.apprise must be a list of Apprise URLs (strings)")
    return NotifySettings(raw.get("on_end") or None, bool(raw.get("desktop", True)), timeout, tuple(urls))


def load_settings(path: Path) -> NotifySettings:
    """The ``notify`` section of the ``dispatcher.json`` at ``path`` (defaults when there is none)."""
    if not path.exists():
        return NotifySettings()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc}); see docs/jobs.md#thresholds") from None
    return parse_settings(path, data.get("notify") if isinstance(data, dict) else None)


def check_command(command: str, what: str = "--on-end") -> list[str]:
    """A hook's words, or one :class:`ConfigError` line saying what is wrong with it."""
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"{what}: {exc} in {command!r}") from None
    if not words:
        raise ConfigError(f"{what}: the command is empty")
    return words


@dataclass(frozen=True)
class HookResult:
    """How one hook went, in one line for the log and the job's events."""

    command: str
    ok: bool
    message: str


def run_hook(command: str, job: dict[str, Any], timeout: float) -> HookResult:
    """Run one hook with the job as JSON on stdin; kill its process group after ``timeout`` seconds."""
    state, job_id = str(job.get("state", "")), str(job.get("id", ""))
    env = dict(os.environ, FARMHAND_JOB_ID=job_id, FARMHAND_JOB_STATE=state,
               FARMHAND_JOB_NAME=str(job.get("summary", {}).get("title", "")))
    try:
        words = check_command(command)
        proc = subprocess.Popen(words, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, env=env, start_new_session=os.name == "posix")
    except (ConfigError, OSError) as exc:
        return HookResult(command, False, f"could not start: {getattr(exc, 'message', exc)}")
    data = json.dumps(job).encode()
    try:
        out, _ = proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return HookResult(command, False, f"still running after {timeout:g}s: killed")
    text = " ".join(out.decode("utf-8", "replace").split())[:OUTPUT_KEPT]
    said = f": {text}" if text else ""
    if proc.returncode != 0:
        return HookResult(command, False, f"exited with status {proc.returncode}{said}")
    return HookResult(command, True, f"ran (exit 0){said}")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """TERM the hook's whole process group, then KILL what is left after :data:`KILL_GRACE`."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE), (getattr(signal, "SIGKILL", signal.SIGTERM), KILL_GRACE)):
        try:
            if os.name == "posix":
                os.killpg(proc.pid, sig)
            else:
                proc.kill()
        except OSError:
            pass
        try:
            proc.communicate(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def desktop_command(title: str, body: str) -> Optional[list[str]]:
    """The platform's desktop notification as a command line, or None where there is none."""
    if sys.platform == "darwin" and shutil.which("osascript"):
        # The texts travel as arguments of the script, never inside its source.
        script = ["on run argv", "display notification (item 2 of argv) with title (item 1 of argv)",
                  "end run"]
        return ["osascript", *[a for line in script for a in ("-e", line)], title, body]
    notify_send = shutil.which("notify-send")
    if notify_send:
        return [notify_send, "--app-name=Farmhand", "--", title, body]
    return None


def notify_desktop(title: str, body: str, timeout: float = 10.0) -> HookResult:
    command = desktop_command(title, body)
    if command is None:
        return HookResult("desktop", False, "no desktop notifications here (notify-send not found)")
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return HookResult("desktop", False, f"notification failed: {exc}")
    if done.returncode != 0:
        why = " ".join(done.stderr.decode("utf-8", "replace").split())[:OUTPUT_KEPT]
        return HookResult("desktop", False, f"notification failed (status {done.returncode}): {why}")
    return HookResult("desktop", True, "desktop notification shown")


def notify_apprise(urls: tuple[str, ...], title: str, body: str) -> HookResult:
    """Send to every Apprise target; the ``apprise`` package is an optional extra."""
    try:
        import apprise  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return HookResult("apprise", False, "apprise is not installed (pip install 'farmhand[notify]')")
    sender = apprise.Apprise()
    added = sum(bool(sender.add(url)) for url in urls)
    if not added:
        return HookResult("apprise", False, "none of the notify.apprise URLs is one Apprise knows")
    ok = bool(sender.notify(title=title, body=body))
    return HookResult("apprise", ok, f"sent to {added} target(s)" if ok else "Apprise could not send")
