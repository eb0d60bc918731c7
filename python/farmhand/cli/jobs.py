"""`farmhand submit|jobs|status|cancel|pause|resume|retry|priority|requeue|logs`.

Every command is a client of the dispatcher (:mod:`farmhand.client`); the ones that need it running
start it. Output is plain text for people and ``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Optional, TextIO

from farmhand.client import Client, default_submitter
from farmhand.errors import JobError, UsageError
from farmhand.frames import FrameSpec, format_frame, has_frame_token, normalise
from farmhand.jobs import JobSnapshot, JobSpec, JobState, JobSummary, NodeActivity, to_jsonable


def register(sub: Any) -> None:
    p = sub.add_parser("submit", help="queue a render job (starts the dispatcher if needed)")
    p.add_argument(
        "--preset", required=True, help="hrender, hython-worker, husk, blender, command, demo or yours"
    )
    p.add_argument("--file", help="scene file as the nodes see it (.hip, .usd, .blend)")
    p.add_argument("--rop", "--target", dest="target", help="ROP path (/out/mantra1) or renderer target")
    p.add_argument("--frames", required=True, help="1-240, 1-240x2, 1,5,10-20, -10--1")
    p.add_argument("--output", help="output pattern ($F4 or #### padding); enables output verification")
    p.add_argument("--command", help="command template for --preset command: '{start}' '{end}' '{file}' ...")
    p.add_argument("--nodes", nargs="+", default=[], metavar="NODE", help="only these nodes (default: all)")
    p.add_argument("--chunk", default="auto", help="'auto' (adaptive) or frames per chunk")
    p.add_argument("--priority", type=int, default=50, help="higher runs first (default 50)")
    p.add_argument("--after", nargs="+", default=[], metavar="JOB",
                   help="start only when these jobs are done; fail/cancel with them")
    p.add_argument(
        "--single-node", action="store_true", help="one node renders the whole range (sims, caches)"
    )
    p.add_argument("--skip-existing", action="store_true", help="render only frames whose output is missing")
    p.add_argument("--houdini-version", help="Houdini build to match on nodes (e.g. 20.5.487)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a preset parameter")
    p.add_argument("--name", help="a name for the job")
    p.add_argument(
        "--wait", action="store_true", help="follow the job to its end; non-zero exit if it failed"
    )
    p.add_argument("--json", action="store_true", help="print the job as JSON (with its id)")
    p.set_defaults(func=_submit)

    p = sub.add_parser("jobs", help="list jobs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_jobs)

    p = sub.add_parser("status", help="one job: per-node progress and frames")
    p.add_argument("job")
    p.add_argument("--follow", "-f", action="store_true", help="live progress until the job ends")
    p.add_argument("--json", action="store_true", help="every frame's state, node, attempts and output")
    p.set_defaults(func=_status)

    for name, helptext in (
        ("cancel", "cancel a job (running chunks are killed)"),
        ("pause", "stop handing out new chunks"),
        ("resume", "resume a paused job"),
        ("retry", "queue failed frames again"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("job")
        p.set_defaults(func=_command, op=name)
    p = sub.add_parser("priority", help="change a job's priority")
    p.add_argument("job")
    p.add_argument("priority", type=int)
    p.set_defaults(func=_command, op="priority")
    p = sub.add_parser("requeue", help="render one frame of a job again")
    p.add_argument("job")
    p.add_argument("frame", type=float)
    p.set_defaults(func=_command, op="requeue")

    p = sub.add_parser("logs", help="renderer output of a job")
    p.add_argument("job")
    p.add_argument("--node", help="only this node")
    p.add_argument("--frame", type=float, help="only lines written while this frame rendered")
    p.add_argument(
        "--events", action="store_true", help="the dispatcher's decisions instead of renderer output"
    )
    p.set_defaults(func=_logs)


def _chunk(text: str) -> Any:
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"--chunk {text!r} is not valid; use 'auto' or a number of frames") from None
    if value < 1:
        raise UsageError(f"--chunk {value} is not valid; use 'auto' or a number of frames >= 1")
    return value


def _params(items: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--param {item!r}: write it as KEY=VALUE")
        out.append((key, value))
    return tuple(out)


def _submit(args: argparse.Namespace) -> int:
    nodes = tuple(n for item in args.nodes for n in item.replace(",", " ").split())
    after = tuple(n for item in args.after for n in item.replace(",", " ").split())
    spec = JobSpec(
        preset=args.preset,
        frames=args.frames,
        file=args.file,
        target=args.target,
        output=args.output,
        command=args.command,
        nodes=nodes,
        chunk=_chunk(args.chunk),
        priority=args.priority,
        single_node=args.single_node,
        skip_existing=args.skip_existing,
        houdini_version=args.houdini_version,
        name=args.name,
        submitter=default_submitter(),
        params=_params(args.param),
        after=after,
    )
    client = Client()
    job_id = client.submit(spec)
    _warn_if_no_nodes(spec)
    warning = output_warning(spec)
    if warning:
        print(f"farmhand: warning: {warning}", file=sys.stderr)
    if not args.wait:
        if args.json:
            print(json.dumps(to_jsonable(client.job(job_id).summary) | {"spec": spec.to_dict()}))
        else:
            print(f"job {job_id} submitted: {spec.title} ({args.frames}); "
                  f"follow with 'farmhand status {job_id} -f'")
        return 0
    snap = _follow(client, job_id, quiet=args.json)
    if args.json:
        print(json.dumps(snap.to_dict()))
    if snap.state is not JobState.DONE:
        raise JobError(
            f"job {job_id} {snap.state.value}: {snap.summary.error or 'see farmhand logs ' + job_id}"
        )
    return 0


def output_warning(spec: JobSpec) -> Optional[str]:
    """A frame range split over nodes whose --output has no frame number: every frame overwrites one
    file, and verification cannot tell a missing frame. Legitimate for one-file caches (Alembic), which
    run with --single-node, so this warns rather than refuses."""
    if not spec.output or spec.single_node or has_frame_token(spec.output):
        return None
    count = len(FrameSpec.parse(spec.frames))
    if count < 2:
        return None
    return (f"--output {spec.output!r} has no frame number ($F4, $F or ####): all {count} frames write "
            "that one file and output checks cannot tell frames apart; add $F4 (or use --single-node "
            "for a one-file cache)")


def _warn_if_no_nodes(spec: JobSpec) -> None:
    from farmhand.nodes.registry import NodeState, Registry

    nodes = {n.name for n in Registry().list(enabled=True, state=NodeState.TRUSTED)}
    missing = [n for n in spec.nodes if n not in nodes]
    if not nodes:
        print("farmhand: warning: no trusted, enabled nodes yet; the job waits until you add some "
              "('farmhand scan' or 'farmhand nodes add')", file=sys.stderr)
    elif missing:
        print(f"farmhand: warning: --nodes names unknown or disabled nodes: {', '.join(missing)} "
              "(see 'farmhand nodes list')", file=sys.stderr)


def _jobs(args: argparse.Namespace) -> int:
    jobs = Client(autostart=False).jobs()
    if args.json:
        print(json.dumps([to_jsonable(j) for j in jobs]))
        return 0
    if not jobs:
        print("no jobs; submit one with 'farmhand submit --preset ... --frames ...'")
        return 0
    print(f"{'ID':>4}  {'STATE':<9} {'PRI':>3}  {'DONE':>11}  {'ETA':>7}  TITLE")
    for j in jobs:
        print(
            f"{j.id:>4}  {j.state.value:<9} {j.priority:>3}  {j.frames_done:>5}/{j.frames_total:<5}  "
            f"{_duration(j.eta_seconds):>7}  {j.title}" + (f"  ({j.error})" if j.error else "")
            + (f"  (after job {', '.join(j.after)})" if j.state is JobState.WAITING else "")
        )
    return 0


def _status(args: argparse.Namespace) -> int:
    client = Client(autostart=False)
    if args.follow:
        # Following an unfinished job needs the dispatcher (started now, and again if it dies).
        snap = _follow(client, args.job, quiet=args.json, keep_alive=True)
    else:
        snap = client.job(args.job)
    if args.json:
        print(json.dumps(snap.to_dict()))
    elif not args.follow:
        print(render_status(snap, width=_width(sys.stdout)))
    return 0 if snap.state is not JobState.FAILED else 1


def _command(args: argparse.Namespace) -> int:
    client = Client()
    if args.op == "priority":
        cid = client.set_priority(args.job, args.priority)
    elif args.op == "requeue":
        cid = client.requeue_frame(args.job, normalise(args.frame))
    else:
        cid = getattr(client, args.op)(args.job)
    answer = client.command_result(cid, timeout=5.0)
    if answer is None:
        print(f"job {args.job}: {args.op} sent (the dispatcher has not answered yet)")
    elif answer != "ok":
        print(f"job {args.job}: {answer}")
    else:
        print(f"job {args.job}: {args.op} done")
    return 0


def _logs(args: argparse.Namespace) -> int:
    client = Client(autostart=False)
    if args.events:
        for e in client.events(args.job, limit=100000):
            where = " ".join(
                x for x in (e.node or "", "" if e.frame is None else f"frame {format_frame(e.frame)}") if x
            )
            print(f"{time.strftime('%H:%M:%S', time.localtime(e.time))} {e.kind:<14} {where:<22} {e.message}")
        return 0
    lines = client.logs(args.job, args.node, args.frame)
    for line in lines:
        frame = "" if line.frame is None else format_frame(line.frame)
        print(f"{line.node} [{frame:>5}] {line.text}")
    if not lines:
        # Say why nothing was printed: a mistyped node or frame looks the same as a silent renderer.
        snap = client.job(args.job)
        nodes = sorted({f.node for f in snap.frames if f.node and f.node != "-"})
        filters: list[str] = []
        if args.node:
            filters.append(f"node {args.node!r}")
        if args.frame is not None:
            filters.append(f"frame {format_frame(normalise(args.frame))}")
        print(f"farmhand: no renderer output for job {args.job}"
              + (f" on {' and '.join(filters)}" if filters else " yet")
              + (f"; nodes that rendered it: {', '.join(nodes)}" if args.node and nodes else ""),
              file=sys.stderr)
    return 0


# --- live display -------------------------------------------------------------------------------------


def _width(stream: TextIO) -> int:
    """Columns to draw in: one less than the terminal, so no line ever wraps (a wrapped line would
    throw off the cursor-up count of the live redraw)."""
    try:
        return max(20, os.get_terminal_size(stream.fileno()).columns - 1)
    except (OSError, ValueError):
        return 100


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def _bar(fraction: float, width: int) -> str:
    fraction = max(0.0, min(1.0, fraction))
    full = int(fraction * width)
    return "█" * full + "░" * (width - full)


def _summary_line(s: JobSummary) -> str:
    return (
        f"job {s.id} {s.title}: {s.state.value}"
        + (f" (for job {', '.join(s.after)} to finish)" if s.state is JobState.WAITING and s.after else "")
        + f"  {s.frames_done}/{s.frames_total} done"
        + (f", {s.frames_failed} failed" if s.frames_failed else "")
        # frames handed out in chunks, not frames rendering at this instant (one per node)
        + (f", {s.frames_rendering} assigned" if s.frames_rendering else "")
        + (f", ETA {_duration(s.eta_seconds)}" if s.eta_seconds is not None and not s.state.finished else "")
    )


def render_status(snap: JobSnapshot, width: int = 100, clip: bool = False) -> str:
    """The text of ``farmhand status``: a job line, a bar per node, then failures. Bars fit ``width``;
    with ``clip`` (the live redraw) longer lines are cut too, else messages are shown whole."""
    s = snap.summary
    lines = [_summary_line(s), f"  [{_bar(s.percent / 100, max(5, width - 12))}] {s.percent:5.1f}%"]
    if s.error:
        lines.append(f"  error: {s.error}")
    for row in snap.nodes:
        spf = "-" if row.seconds_per_frame is None else f"{row.seconds_per_frame:.1f}s"
        detail = f"{row.frames_done:>4} done  {spf}/frame  ETA {_duration(row.eta_seconds)}"
        if row.state is NodeActivity.RENDERING:
            frame = "" if row.current_frame is None else f"frame {format_frame(row.current_frame)}"
            pct = row.frame_percent if row.frame_percent is not None else 0.0
            head, tail = f"  {row.node:<14} {frame:<12} [", f"] {pct:5.1f}%  {detail}"
            bar = _bar(pct / 100, max(5, width - len(head) - len(tail)))
            lines.append(head + bar + tail)
        else:
            head = f"  {row.node:<14} {row.state.value:<12} "
            room = max(0, width - len(head) - len(detail) - 2)
            lines.append(head + (row.message or "")[:room].ljust(room) + "  " + detail)
    failed = [f for f in snap.frames if f.error_message and f.state.value in ("failed", "retrying")]
    for f in failed[:5]:
        lines.append(
            f"  frame {format_frame(f.frame)} {f.state.value} ({f.attempts} attempts): "
            f"{f.error_kind}: {f.error_message}"
        )
    return "\n".join(line[:width] if clip else line for line in lines)


def _follow(
    client: Client, job_id: str, quiet: bool = False, keep_alive: bool = False, detached: bool = True
) -> JobSnapshot:
    """Redraw the job's status as it changes (ANSI in a terminal, a line per change otherwise) until it
    ends. The dispatcher is (re)started whenever it is not running (``keep_alive`` or an autostarting
    client), so a follower never waits on a dead one. Ctrl-C ends only the following when the job runs
    on its own (``detached``), and says so."""
    try:
        return _follow_loop(client, job_id, quiet, keep_alive)
    except KeyboardInterrupt:
        if not detached:  # the caller owns the dispatcher (farmhand demo): the job stops with it
            raise
        # Ctrl-C stops the follower, not the job: say so, or the user thinks the render stopped.
        print(f"\nfarmhand: stopped following; job {job_id} keeps rendering ('farmhand status {job_id} -f' "
              f"to follow it again, 'farmhand cancel {job_id}' to stop it)", file=sys.stderr)
        raise SystemExit(130) from None


SETTLE_SECONDS = 5.0  # longest wait, after a job ended, for its last chunks to be stopped


def _follow_loop(client: Client, job_id: str, quiet: bool, keep_alive: bool) -> JobSnapshot:
    tty = sys.stderr.isatty() and not quiet
    version, drawn, last_line = 0, 0, ""
    settle_until: Optional[float] = None
    while True:
        snap = client.watch(job_id, version, timeout=1.0)
        version = snap.version
        if tty:
            text = render_status(snap, _width(sys.stderr), clip=True)
            if drawn:
                sys.stderr.write(f"\x1b[{drawn}F\x1b[J")
            sys.stderr.write(text + "\n")
            sys.stderr.flush()
            drawn = text.count("\n") + 1
        elif not quiet:
            line = _summary_line(snap.summary)
            if line != last_line:
                print(line, file=sys.stderr, flush=True)
                last_line = line
        if snap.state.finished:
            # A failed or cancelled job's last chunks are still being stopped: wait briefly for them,
            # so the final status (and --json) shows where every frame ended, not "rendering".
            if not snap.summary.frames_rendering or not client.dispatcher().running:
                return snap
            settle_until = settle_until or time.monotonic() + SETTLE_SECONDS
            if time.monotonic() >= settle_until:
                return snap
            continue
        if (keep_alive or client.autostart) and not client.dispatcher().running:
            client.ensure_dispatcher()
