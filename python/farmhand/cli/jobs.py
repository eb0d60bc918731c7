"""`farmhand submit|jobs|status|cancel|pause|resume|retry|priority` (requeue, rm, archive, preview:
:mod:`farmhand.cli.lifecycle`).

Every command is a client of the dispatcher (:mod:`farmhand.client`); the ones that need it running
start it. Output is plain text for people and ``--json`` for scripts; a command the dispatcher refuses
("job is cancelled, not paused") is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Optional

from farmhand import labels
from farmhand.cli import args as types
from farmhand.cli.farm import checked
from farmhand.cli.live import follow as _follow
from farmhand.cli.live import render_status, terminal_width
from farmhand.client import Client, default_submitter
from farmhand.display import format_duration, safe_text
from farmhand.errors import JobError
from farmhand.frames import FrameSpec, has_frame_token
from farmhand.jobs import JobSnapshot, JobSpec, JobState, JobSummary, to_jsonable

__all__ = ["output_warning", "register", "render_status"]

_JOB_HELP = "job id (see 'farmhand jobs')"


def register(sub: Any) -> None:
    _register_submit(sub)
    p = types.command(sub, "jobs", "list jobs", "farmhand jobs", "farmhand jobs --json")
    p.add_argument("--json", action="store_true", help="every job as JSON")
    p.add_argument("--all", action="store_true", dest="all_users",
                   help="every user's jobs, with their owner (a shared farm database)")
    p.set_defaults(func=_jobs)

    p = types.command(sub, "status", "one job: per-node progress and frames",
                      "farmhand status 7", "farmhand status 7 -f", "farmhand status 7 --json")
    p.add_argument("job", metavar="JOB", type=types.job_id, help=_JOB_HELP)
    p.add_argument("--follow", "-f", action="store_true", help="live progress until the job ends")
    p.add_argument("--json", action="store_true", help="every frame's state, node, attempts and output")
    p.set_defaults(func=_status)

    for name, summary in (
        ("cancel", "cancel a job (running chunks are killed)"),
        ("pause", "stop handing out new chunks of a job"),
        ("resume", "resume a paused job"),
        ("retry", "queue a job's failed frames again"),
    ):
        p = types.command(sub, name, summary, f"farmhand {name} 7")
        p.add_argument("job", metavar="JOB", type=types.job_id, help=_JOB_HELP)
        _command_options(p, name)
    p = types.command(sub, "priority", "change a job's priority", "farmhand priority 7 80")
    p.add_argument("job", metavar="JOB", type=types.job_id, help=_JOB_HELP)
    p.add_argument("priority", metavar="PRIORITY", type=types.priority,
                   help=f"{types.MIN_PRIORITY} to {types.MAX_PRIORITY}; higher runs first")
    _command_options(p, "priority")


def _register_submit(sub: Any) -> None:
    p = types.command(
        sub, "submit", "queue a render job (starts the dispatcher if needed)",
        "farmhand submit --preset hrender --file /share/shot010/shot010_v012.hip --rop /out/mantra1 \\\n"
        "                  --frames 1-240 --output '/share/shot010/render/beauty.$F4.exr'",
        "farmhand submit --preset command --command 'mytool {file} {start} {end}' --file /share/a.txt "
        "--frames 1-10 --wait")
    p.add_argument("--preset", required=True,
                   help="hrender, hython-worker, husk, blender, command, demo or yours")
    p.add_argument("--file", help="scene file as the nodes see it (.hip, .usd, .blend)")
    p.add_argument("--rop", "--target", dest="target", help="ROP path (/out/mantra1) or renderer target")
    p.add_argument("--frames", required=True, type=types.frames, help="1-240, 1-240x2, 1,5,10-20, -10--1")
    p.add_argument("--output", help="output pattern ($F4 or #### padding); enables output verification")
    p.add_argument("--command", help="command template for --preset command: '{start}' '{end}' '{file}' ...")
    p.add_argument("--nodes", nargs="+", default=[], metavar="NODE", help="only these nodes (default: all)")
    p.add_argument("--chunk", type=types.chunk, default="auto", help="'auto' (adaptive) or frames per chunk")
    p.add_argument("--priority", type=types.priority, default=50,
                   help=f"{types.MIN_PRIORITY} to {types.MAX_PRIORITY}, higher runs first (default 50)")
    p.add_argument("--after", nargs="+", type=types.job_id, default=[], metavar="JOB",
                   help="start only when these jobs are done; fail/cancel with them")
    p.add_argument("--single-node", action="store_true",
                   help="one node renders the whole range (sims, caches)")
    p.add_argument("--skip-existing", action="store_true", help="render only frames whose output is missing")
    p.add_argument("--houdini-version", help="Houdini build to match on nodes (e.g. 20.5.487)")
    p.add_argument("--param", action="append", type=types.param, default=[], metavar="KEY=VALUE",
                   help="a preset parameter")
    p.add_argument("--group", action="append", default=[], metavar="TAG", type=checked(labels.group),
                   help="only nodes in this group: a tag (gpu, houdini-21.0), cores>=N or ram>=N; repeatable")
    p.add_argument("--limit", action="append", default=[], metavar="NAME", type=checked(labels.limit_name),
                   help="a limit each chunk holds while it runs (see 'farmhand limits'); repeatable")
    p.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", type=checked(labels.parse_env),
                   help="environment for the renderer on every node (over the preset's); repeatable")
    p.add_argument("--name", help="a name for the job (default: the scene and ROP, or the command's program)")
    p.add_argument("--on-end", metavar="CMD",
                   help="run CMD when the job ends: the job as JSON on stdin, FARMHAND_JOB_ID and "
                        "FARMHAND_JOB_STATE in its environment (docs/hooks.md)")
    images = p.add_mutually_exclusive_group()
    images.add_argument("--check-images", dest="check_images", action="store_true", default=None,
                        help="a frame is done only once its outputs read as whole images (default: the "
                             "preset's choice)")
    images.add_argument("--no-check-images", dest="check_images", action="store_false",
                        help="only check that outputs exist and are not empty")
    p.add_argument("--wait", action="store_true",
                   help="follow the job to its end; non-zero exit if it failed")
    p.add_argument("--json", action="store_true", help="print the job as JSON (with its id)")
    p.set_defaults(func=_submit)


def _command_options(p: argparse.ArgumentParser, op: str) -> None:
    p.add_argument("--json", action="store_true", help="the dispatcher's answer as JSON")
    p.set_defaults(func=_command, op=op)


def _spec(args: argparse.Namespace) -> JobSpec:
    return JobSpec(
        preset=args.preset, frames=args.frames, file=args.file, target=args.target, output=args.output,
        command=args.command, nodes=types.names(args.nodes), chunk=args.chunk, priority=args.priority,
        single_node=args.single_node, skip_existing=args.skip_existing, houdini_version=args.houdini_version,
        name=args.name, submitter=default_submitter(), params=tuple(args.param),
        after=tuple(dict.fromkeys(args.after)), groups=tuple(args.group), limits=tuple(args.limit),
        env=tuple(args.env), on_end=_on_end(args.on_end), check_images=args.check_images,
    )


def _on_end(command: Optional[str]) -> Optional[str]:
    """``--on-end`` checked now (a typo'd quote is one line here, not a failed hook later)."""
    return None if command is None else Client.check_on_end(command)


def _submit(args: argparse.Namespace) -> int:
    spec = _spec(args)
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
            print(f"job {job_id} submitted: {safe_text(spec.title)} ({args.frames}); "
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
    return (f"--output {safe_text(spec.output)!r} has no frame number ($F4, $F or ####): all {count} frames "
            "write that one file and output checks cannot tell frames apart; add $F4 (or use --single-node "
            "for a one-file cache)")


def _warn_if_no_nodes(spec: JobSpec) -> None:
    from farmhand.nodes.registry import NodeState, Registry

    nodes = {n.name for n in Registry().list(enabled=True, state=NodeState.TRUSTED)}
    missing = [safe_text(n) for n in spec.nodes if n not in nodes]
    if not nodes:
        print("farmhand: warning: no trusted, enabled nodes yet; the job waits until you add some "
              "('farmhand scan' or 'farmhand nodes add')", file=sys.stderr)
    elif missing:
        print(f"farmhand: warning: --nodes names unknown or disabled nodes: {', '.join(missing)} "
              "(see 'farmhand nodes list')", file=sys.stderr)


def job_line(j: JobSummary) -> str:
    """One row of ``farmhand jobs``."""
    return (
        f"{j.id:>4}  {j.state.value:<9} {j.priority:>3}  {j.frames_done:>5}/{j.frames_total:<5}  "
        f"{format_duration(j.eta_seconds):>7}  {safe_text(j.title)}"
        + (f"  ({safe_text(j.error)})" if j.error else "")
        + (f"  (after job {', '.join(j.after)})" if j.state is JobState.WAITING else "")
        + (f"  ({safe_text(j.hold)})" if j.hold and not j.state.finished else "")
    )


def _jobs(args: argparse.Namespace) -> int:
    client = Client(autostart=False)
    jobs = client.jobs(all_users=getattr(args, "all_users", False))
    owners = client.owners()  # empty for a SQLite store: every job is the user's own
    if args.json:
        print(json.dumps([dict(to_jsonable(j), **({"owner": owners.get(j.id)} if owners else {}))
                          for j in jobs]))
        return 0
    if not jobs:
        print("no jobs; submit one with 'farmhand submit --preset ... --frames ...'")
        return 0
    owner_head = f"{'OWNER':<12}  " if owners else ""
    print(f"{'ID':>4}  {owner_head}{'STATE':<9} {'PRI':>3}  {'DONE':>11}  {'ETA':>7}  TITLE")
    for j in jobs:
        line = job_line(j)
        if owners:
            line = f"{line[:4]}  {safe_text(owners.get(j.id, '?')):<12}{line[4:]}"
        print(line)
    return 0


def _status(args: argparse.Namespace) -> int:
    client = Client(autostart=False)
    if args.follow:
        # Following an unfinished job needs the dispatcher (started now, and again if it dies).
        snap = _follow(client, args.job, quiet=args.json, keep_alive=True)
    else:
        snap = client.job(args.job)
    if args.json:
        print(json.dumps(status_json(client, snap)))
    elif not args.follow:
        print(render_status(snap, width=terminal_width(sys.stdout)))
    return 0 if snap.state is not JobState.FAILED else 1


def status_json(client: Client, snap: JobSnapshot) -> dict[str, Any]:
    """``status --json``: the snapshot, and the preview of the job's last finished frame (or null)."""
    data = snap.to_dict()
    found = client.preview(snap.id, make=False)
    data["preview"] = None if found is None else {"frame": found.frame, "path": str(found.path)}
    return data


def _send(client: Client, args: argparse.Namespace) -> int:
    if args.op == "priority":
        return client.set_priority(args.job, args.priority)
    return int(getattr(client, args.op)(args.job))


def _command(args: argparse.Namespace) -> int:
    client = Client()
    answer = client.command_result(_send(client, args), timeout=5.0)
    what = args.op
    refused = answer is not None and answer != "ok"
    if args.json:
        print(json.dumps({"id": args.job, "op": args.op, "answer": answer, "ok": answer == "ok",
                          "pending": answer is None}))
    elif answer is None:
        print(f"job {args.job}: {what} sent (the dispatcher has not answered yet)")
    elif not refused:
        print(f"job {args.job}: {what} done")
    if refused:
        print(f"farmhand: job {args.job}: {what} refused: {safe_text(answer)}", file=sys.stderr)
        return 1
    return 0
