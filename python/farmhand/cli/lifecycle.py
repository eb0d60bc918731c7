"""`farmhand preview|requeue|rm|archive`: a job's frames as pictures, rendering some again, clearing out.

``requeue`` takes a frame spec (``10-20``, ``1,5,9``). A finished job runs again for the frames asked;
when that would also render frames nobody asked for (the unfinished frames of a cancelled job), it says
so and asks first (``--yes`` on a script's behalf). ``rm`` and ``archive`` take finished jobs, by id or
by age (``--older-than 7d``), with their logs and previews; ``archive`` keeps everything as files.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Optional

from farmhand.cli import args as types
from farmhand.client import Client
from farmhand.display import safe_text
from farmhand.errors import FarmhandError, JobError, NotFound, UsageError
from farmhand.frames import Frame, FrameSpec, contiguous_runs, format_frame
from farmhand.jobs import FrameState, JobSnapshot

_JOB_HELP = "job id (see 'farmhand jobs')"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_AGE = re.compile(r"^\s*(\d{1,6}(?:\.\d{1,3})?)\s*([smhdw]?)\s*$")
_UNFINISHED = (FrameState.WAITING, FrameState.RETRYING)


def register(sub: Any) -> None:
    p = types.command(sub, "preview", "print (or write) the preview image of a job's frame",
                      "farmhand preview 7              the last finished frame",
                      "farmhand preview 7 1012 --out beauty_1012.jpg")
    p.add_argument("job", metavar="JOB", type=types.job_id, help=_JOB_HELP)
    p.add_argument("frame", metavar="FRAME", nargs="?", type=types.frame,
                   help="a frame of the job (default: its last finished frame)")
    p.add_argument("--out", metavar="FILE", help="copy the preview (JPEG) to FILE")
    p.add_argument("--json", action="store_true", help="job, frame and path as JSON")
    p.set_defaults(func=_preview)

    p = types.command(sub, "requeue", "render frames of a job again",
                      "farmhand requeue 7 1012", "farmhand requeue 7 10-20", "farmhand requeue 7 1,5,9 --yes")
    p.add_argument("job", metavar="JOB", type=types.job_id, help=_JOB_HELP)
    p.add_argument("frames", metavar="FRAMES", type=frame_spec,
                   help="frames to render again: 12, 10-20, 1,5,9")
    p.add_argument("--yes", "-y", action="store_true",
                   help="do it without asking, also when a finished job's other frames would render too")
    p.add_argument("--json", action="store_true", help="the dispatcher's answer as JSON")
    p.set_defaults(func=_requeue)

    for name, what in (("rm", "delete finished jobs with their logs and previews"),
                       ("archive", "move finished jobs out of the queue into files (job.json, logs, "
                                   "previews)")):
        p = types.command(sub, name, what, f"farmhand {name} 7 8", f"farmhand {name} --older-than 14d --yes")
        p.add_argument("jobs", metavar="JOB", nargs="*", type=types.job_id,
                       help=f"{_JOB_HELP}; finished jobs only")
        p.add_argument("--older-than", metavar="AGE", type=age,
                       help="finished jobs last changed longer ago than AGE (90m, 12h, 7d, 2w)")
        p.add_argument("--yes", "-y", action="store_true",
                       help="do not ask before taking several jobs by age")
        if name == "archive":
            p.add_argument("--to", metavar="DIR", type=Path,
                           help="where job-N folders go (default: FARMHAND_HOME/archive)")
        p.add_argument("--json", action="store_true", help="what was done, per job, as JSON")
        p.set_defaults(func=_clear_out, op=name)


def frame_spec(text: str) -> str:
    """A frame spec; one frame alone gets the words of a single frame (``nan`` is not a frame number)."""
    single = "," not in text and "x" not in text and "-" not in text.strip().lstrip("-")
    if single:
        types.frame(text)
    return types.frames(text)


def age(text: str) -> float:
    """``90m``, ``12h``, ``7d``, ``2w`` (a plain number is days) as seconds."""
    found = _AGE.match(text)
    if not found:
        raise argparse.ArgumentTypeError(f"{text!r} is not an age; write it like 90m, 12h, 7d or 2w")
    return float(found.group(1)) * _UNITS[found.group(2) or "d"]


# --- preview ----------------------------------------------------------------------------------------


def _preview(args: argparse.Namespace) -> int:
    client = Client(autostart=False)
    found = client.preview(args.job, args.frame)
    if found is None:
        raise JobError(_no_preview(client.job(args.job, events=0), args.frame))
    path = found.path
    if args.out:
        path = Path(args.out).expanduser()
        if path.suffix.lower() not in (".jpg", ".jpeg"):
            raise UsageError(f"--out {safe_text(args.out)}: previews are JPEG images; name it .jpg")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(found.path, path)
        except OSError as exc:
            raise FarmhandError(f"cannot write {safe_text(str(path))}: {exc.strerror or exc}") from None
    if args.json:
        print(json.dumps({"id": args.job, "frame": found.frame, "path": str(path)}))
    else:
        print(safe_text(str(path)))
    return 0


def _no_preview(snap: JobSnapshot, frame: Optional[Frame]) -> str:
    """Why there is no preview, in the words a user can act on."""
    job = snap.id
    if not Client.reads_images():
        return "previews need OpenImageIO on this machine: pip install 'farmhand[previews]'"
    rows = [r for r in snap.frames if frame is None or r.frame == frame]
    done = [r for r in rows if r.state is FrameState.DONE]
    if frame is not None and not done:
        state = rows[0].state.value if rows else "not part of the job"
        return f"job {job} frame {format_frame(frame)} has no preview: it is {state}"
    if not done:
        return f"job {job} has no finished frame yet"
    output = done[-1].output or ""
    if not Client.reads_images(output):
        return f"job {job} writes {safe_text(output) or 'no output file'}, which is not an image"
    return f"job {job} has no preview: {safe_text(output)} cannot be read on this machine"


# --- requeue ----------------------------------------------------------------------------------------


def _requeue(args: argparse.Namespace) -> int:
    client = Client()
    frames = list(FrameSpec.parse(args.frames))
    snap = client.job(args.job, events=0)
    known = {row.frame for row in snap.frames}
    missing = [format_frame(f) for f in frames if f not in known]
    if missing:
        raise UsageError(f"job {args.job} has no frame {', '.join(missing[:5])}; "
                         f"its frames are {snap.spec.frames} (see 'farmhand status {args.job}')")
    also = _would_also_render(snap, frames)
    if also and not args.yes and not _agree(also + " Requeue anyway? [y/N] "):
        raise JobError(also + " Nothing was requeued; add --yes to requeue anyway.")
    command = client.requeue_frames(args.job, frames)
    answer = client.command_result(command, timeout=5.0)
    what = f"requeue {_spec_text(frames)}"
    if args.json:
        print(json.dumps({"id": args.job, "op": "requeue", "frames": frames, "answer": answer,
                          "ok": answer == "ok", "pending": answer is None}))
    elif answer is None:
        print(f"job {args.job}: {what} sent (the dispatcher has not answered yet)")
    elif answer == "ok":
        print(f"job {args.job}: {what} done")
    if answer is not None and answer != "ok":
        print(f"farmhand: job {args.job}: {what} refused: {safe_text(answer)}", file=sys.stderr)
        return 1
    return 0


def _spec_text(frames: list[Frame]) -> str:
    runs = contiguous_runs(frames)
    parts = [format_frame(a) if a == b else f"{format_frame(a)}-{format_frame(b)}"
             + (f"x{format_frame(step)}" if step != 1 else "") for a, b, step in runs]
    return ("frame " if len(frames) == 1 else "frames ") + ",".join(parts)


def _would_also_render(snap: JobSnapshot, frames: list[Frame]) -> str:
    """What else a requeue sets going: a finished job runs again, and its unfinished frames with it."""
    if not snap.state.finished:
        return ""
    asked = set(frames)
    others = [r for r in snap.frames if r.state in _UNFINISHED and r.frame not in asked]
    if not others:
        return ""
    return (f"job {snap.id} is {snap.state.value}: requeueing {_spec_text(frames)} makes it run again, "
            f"and its {len(others)} other unfinished frames ({_spec_text([r.frame for r in others])}) "
            "render too.")


def _agree(question: str) -> bool:
    """Ask on a terminal; anywhere else (a script, a pipe) the answer is no."""
    if not sys.stdin.isatty():
        return False
    print(safe_text(question), end="", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


# --- rm / archive -----------------------------------------------------------------------------------


def _chosen(client: Client, args: argparse.Namespace) -> list[str]:
    if not args.jobs and args.older_than is None:
        raise UsageError(f"name the jobs to {args.op} (farmhand {args.op} 7 8) or give --older-than AGE")
    if args.older_than is None:
        return list(dict.fromkeys(args.jobs))
    old = client.finished_jobs(args.older_than)
    chosen = [j for j in old if not args.jobs or j in args.jobs]
    listed = ", ".join(chosen[:10]) + (" …" if len(chosen) > 10 else "")
    question = f"{args.op} {len(chosen)} finished jobs ({listed})? [y/N] "
    if len(chosen) > 1 and not args.yes and not _agree(question):
        raise JobError(f"nothing was done; add --yes to {args.op} these {len(chosen)} jobs")
    return chosen


def _clear_out(args: argparse.Namespace) -> int:
    client = Client(autostart=False)
    done: list[dict[str, Any]] = []
    failed = 0
    for job_id in _chosen(client, args):
        try:
            if args.op == "archive":
                where = client.archive(job_id, args.to)
                done.append({"id": job_id, "archived": str(where)})
                line = f"job {job_id} archived in {safe_text(str(where))}"
            else:
                state = client.remove(job_id)
                done.append({"id": job_id, "removed": state.value})
                line = f"job {job_id} ({state.value}) removed with its logs and previews"
        except (NotFound, FarmhandError) as exc:
            failed += 1
            done.append({"id": job_id, "error": exc.message})
            print(f"farmhand: {safe_text(exc.message)}", file=sys.stderr)
            continue
        if not args.json:
            print(line)
    if args.json:
        print(json.dumps(done))
    elif not done and args.older_than is not None:
        print(f"no finished job is older than {args.older_than:g} seconds; nothing to {args.op}")
    return 1 if failed else 0
