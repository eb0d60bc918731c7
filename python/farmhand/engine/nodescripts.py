"""The small fixed shell scripts the dispatcher runs on nodes, and the argv that carries them.

Every script is a constant passed as ``sh -c SCRIPT NAME ARG...``: user values (scene paths, output
patterns, the render argv) only ever travel as separate arguments, which the SSH layer quotes, so a
hostile path is data, never code.

The chunk wrapper does four things before running the render:

0. **Required folder.** Its first argument is a directory the render needs (Farmhand's node scripts,
   for presets using ``{farmhand}``) or empty. If the node cannot see it, the wrapper prints
   ``FARMHAND_MISSING <dir>`` and exits 66, so the dispatcher can say exactly what to fix instead of
   showing the interpreter's "can't open file".

1. **Node lock.** It opens ``/tmp/farmhand-node-<hostname>-<netns>-lock.lock`` (world-writable, so
   dispatchers of different users share it) and takes ``flock -w 3`` on it (a chunk of ours may still
   be exiting). The lock fd is inherited by the whole render tree and is released by the kernel when
   the last process of it exits, however it dies. If another dispatcher holds it, the wrapper prints
   ``FARMHAND_BUSY`` and exits 75: the node is skipped, not failed. The name does not depend on the
   address a client used (two artists may know a multi-homed node by different addresses); it includes
   the network namespace because lab nodes (several labs at once, same hostnames) share one ``/tmp``.
   Only a connection that arrived on a loopback address adds that address and port
   (``-127.0.0.2-2201``): the loopback lab runs several "nodes" as sshds on one machine.
2. **PGID.** It prints ``FARMHAND_PGID <n>`` (it runs as the leader of its own process group, behind the
   executor's watchdog) so the dispatcher can kill the tree over a second channel and, after a restart,
   check the recorded group before reusing the node.
3. **Marker.** Its ``$0`` is ``farmhand-chunk-<home>-<job>-<chunk>``, so the leader's command line says
   whose render it is; a restarted dispatcher only kills a recorded PGID whose leader carries its marker.

The render runs as a child (not ``exec``) so the marker stays on the group leader.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from farmhand import paths

BUSY_EXIT = 75
BUSY_MARK = "FARMHAND_BUSY"
MISSING_EXIT = 66
MISSING_MARK = "FARMHAND_MISSING "
PGID_MARK = "FARMHAND_PGID "

CHUNK_WRAPPER = r"""
set -u
need=$1; shift
if [ -n "$need" ] && [ ! -d "$need" ]; then
  echo "FARMHAND_MISSING $need"
  exit 66
fi
addr=$(printf '%s' "${SSH_CONNECTION:-}" | awk '{print $3 "-" $4}')
case $addr in 127.*|::1-*|::ffff:127.*) ;; *) addr=lock ;; esac
ns=$(readlink /proc/self/ns/net 2>/dev/null | tr -dc '0-9')
key=$(printf '%s-%s-%s' "$(hostname 2>/dev/null || echo node)" "${ns:-0}" "$addr" | tr -c 'A-Za-z0-9._-' '_')
lock="/tmp/farmhand-node-$key.lock"
if [ ! -e "$lock" ]; then (umask 0; : >>"$lock") 2>/dev/null; fi
# (a failed exec would end this shell, and "exec 2>..." would silence it for good: test, then open)
if [ -r "$lock" ] && command -v flock >/dev/null 2>&1; then
  exec 9<"$lock"
  # A short wait: this dispatcher's previous chunk on the node may still be exiting.
  if ! flock -w 3 9; then
    echo "FARMHAND_BUSY node is rendering for another dispatcher"
    exit 75
  fi
fi
echo "FARMHAND_PGID $(ps -o pgid= -p $$ | tr -d ' ')"
"$@"
rc=$?
exit $rc
"""

# After TERM was sent to group $pg: wait up to $steps x 0.1 s for it to go, then KILL it. Prints
# "terminated" or "killed".
_WAIT_THEN_KILL = r"""
i=0
while [ "$i" -lt "$steps" ]; do
  kill -0 -- "-$pg" 2>/dev/null || { echo terminated; exit 0; }
  sleep 0.1
  i=$((i+1))
done
kill -KILL -- "-$pg" 2>/dev/null
echo killed
"""

# Kill a process group: TERM, then KILL after the grace period. Prints what happened.
KILL_GROUP = r"""
pg=$1; steps=$2
kill -TERM -- "-$pg" 2>/dev/null || { echo gone; exit 0; }""" + _WAIT_THEN_KILL

# After a dispatcher restart: is the recorded group still alive, and is it ours? Kill it if so.
CHECK_ORPHAN = r"""
pg=$1; marker=$2; steps=$3
if ! kill -0 -- "-$pg" 2>/dev/null; then echo gone; exit 0; fi
if ! ps -o args= -p "$pg" 2>/dev/null | grep -F -q -- "$marker"; then echo foreign; exit 0; fi
kill -TERM -- "-$pg" 2>/dev/null""" + _WAIT_THEN_KILL

# One line per path argument, in order: "ok" when it exists and is non-empty, else "missing".
CHECK_OUTPUTS = r"""
for f in "$@"; do
  if [ -s "$f" ]; then echo ok; else echo missing; fi
done
"""


def home_tag() -> str:
    """A short stable tag of this FARMHAND_HOME, so two dispatchers' markers differ."""
    return hashlib.sha1(str(paths.home()).encode("utf-8")).hexdigest()[:8]  # noqa: S324 - a tag, not security


def chunk_marker(job_id: str, chunk_id: int) -> str:
    return f"farmhand-chunk-{home_tag()}-{job_id}-{chunk_id}"


def chunk_argv(job_id: str, chunk_id: int, render_argv: Sequence[str], require: str = "") -> list[str]:
    """The wrapped render: ``sh -c WRAPPER MARKER REQUIRE RENDER-ARGV...`` (``require``: a directory the
    node must see, or empty)."""
    return ["sh", "-c", CHUNK_WRAPPER, chunk_marker(job_id, chunk_id), require, *render_argv]


def kill_argv(pgid: int, grace: float) -> list[str]:
    return ["sh", "-c", KILL_GROUP, "farmhand-kill", str(int(pgid)), str(max(1, int(grace * 10)))]


def orphan_argv(pgid: int, marker: str, grace: float) -> list[str]:
    return [
        "sh",
        "-c",
        CHECK_ORPHAN,
        "farmhand-orphan-check",
        str(int(pgid)),
        marker,
        str(max(1, int(grace * 10))),
    ]


def outputs_argv(files: Sequence[str]) -> list[str]:
    return ["sh", "-c", CHECK_OUTPUTS, "farmhand-verify", *files]
