"""The small fixed shell scripts the dispatcher runs on nodes, and the argv that carries them.

Every script is a constant passed as ``sh -c SCRIPT NAME ARG...``: user values (scene paths, output
patterns, the render argv) only ever travel as separate arguments, which the SSH layer quotes, so a
hostile path is data, never code.

The chunk wrapper does five things before running the render:

0. **Nonce.** It reads the first line of its stdin: a random per-chunk nonce the dispatcher writes there
   (:meth:`farmhand.engine.noderun.Task.start`). Every line the wrapper prints is
   ``FARMHAND_CTL <nonce> WORD [ARG]``; the dispatcher believes such a line only with the right nonce and
   only before ``PGID`` (which announces the render). The nonce is never on a command line or in an
   environment, so the render cannot print a line the dispatcher would take for the wrapper's: a render
   that prints ``FARMHAND_BUSY`` and crashes is a crash. ``read`` takes stdin byte by byte, so what
   follows the nonce (a worker's frames) is left for the render.

1. **Required folder.** Its first argument is a directory the render needs (Farmhand's node scripts,
   for presets using ``{farmhand}``) or empty. If the node cannot see it, the wrapper says ``MISSING
   <dir>`` and exits 66, so the dispatcher can say exactly what to fix instead of showing the
   interpreter's "can't open file".

2. **Node lock.** It takes ``flock -w 3`` (a chunk of ours may still be exiting) on
   ``farmhand-node-<hostname>-<netns>-lock.lock`` in a folder only the render account can write:
   ``$XDG_RUNTIME_DIR`` when it is one, else ``~/.cache/farmhand`` (created mode 0700). A folder that
   is a symlink, is not the account's own or is writable by group or others is not used; the file is
   created exclusively (``set -C``, which refuses an existing name, a planted symlink included), mode
   0600, and used only when it is a plain file of the account's own. So no other user of the node can
   hold the lock, swap it, or make the render account write through a link; dispatchers exclude each
   other when they reach the node through the same account (the render user). Without such a folder
   (or without ``flock``) the wrapper warns on stderr and renders unlocked. The lock fd is inherited
   by the whole render tree and released by the kernel when the last process of it exits, however it
   dies. If another dispatcher holds it, the wrapper says ``BUSY`` and exits 75: the node is skipped,
   not failed. The name does not depend on the address a client used (two artists may know a
   multi-homed node by different addresses); it includes the network namespace because lab nodes
   (several labs at once, same hostnames) share one home. Only a connection that arrived on a loopback
   address adds that address and port (``-127.0.0.2-2201``): the loopback lab runs several "nodes" as
   sshds on one machine.
3. **PGID.** It says ``PGID <n>`` (it runs as the leader of its own process group, behind the
   executor's watchdog) so the dispatcher can kill the tree over a second channel and, after a restart,
   check the recorded group before reusing the node. This is its last line: the render starts next.
4. **Marker.** Its ``$0`` is ``farmhand-chunk-<dispatcher>-<job>-<chunk>`` (the dispatcher's random
   instance id, :func:`farmhand.paths.instance_id`), so the leader's command line says whose render it
   is; a restarted dispatcher only kills a recorded PGID whose leader carries exactly its marker (a
   whole word: chunk 1 never matches chunk 12).

The render runs as a child (not ``exec``) so the marker stays on the group leader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from farmhand import paths

BUSY_EXIT = 75
MISSING_EXIT = 66
NO_NONCE_EXIT = 65
CONTROL = "FARMHAND_CTL"
BUSY_WORD = "BUSY"
MISSING_WORD = "MISSING"
PGID_WORD = "PGID"
_WORDS = (BUSY_WORD, MISSING_WORD, PGID_WORD)


@dataclass(frozen=True)
class Control:
    """One of the wrapper's own lines (authenticated by the chunk's nonce)."""

    word: str
    arg: str = ""


def control_line(nonce: str, word: str, arg: str = "") -> str:
    """The line the wrapper prints for ``word`` (what the fake executor of the tests prints too)."""
    return f"{CONTROL} {nonce} {word} {arg}".rstrip()


def parse_control(text: str, nonce: str) -> Optional[Control]:
    """``text`` as the wrapper's line when it carries ``nonce`` and a word the wrapper says, else None."""
    prefix = f"{CONTROL} {nonce} "
    if not nonce or not text.startswith(prefix):
        return None
    word, _, arg = text[len(prefix):].partition(" ")
    return Control(word, arg) if word in _WORDS else None


CHUNK_WRAPPER = r"""
set -u
nonce=
IFS= read -r nonce || :
case $nonce in ''|*[!0-9a-f]*) echo "farmhand: no chunk nonce on stdin" >&2; exit 65 ;; esac
say() { printf 'FARMHAND_CTL %s %s\n' "$nonce" "$*"; }
need=$1; shift
if [ -n "$need" ] && [ ! -d "$need" ]; then
  say MISSING "$need"
  exit 66
fi
private() {
  [ -n "$1" ] && [ -d "$1" ] && [ ! -L "$1" ] && [ -O "$1" ] || return 1
  case $(ls -ld "$1" 2>/dev/null) in ?????w*|????????w*|'') return 1 ;; esac
}
dir=
if private "${XDG_RUNTIME_DIR:-}"; then
  dir=$XDG_RUNTIME_DIR
elif [ -n "${HOME:-}" ]; then
  [ -e "$HOME/.cache/farmhand" ] || (umask 077; mkdir -p "$HOME/.cache/farmhand") 2>/dev/null
  private "$HOME/.cache/farmhand" && dir=$HOME/.cache/farmhand
fi
addr=$(printf '%s' "${SSH_CONNECTION:-}" | awk '{print $3 "-" $4}')
case $addr in 127.*|::1-*|::ffff:127.*) ;; *) addr=lock ;; esac
ns=$(readlink /proc/self/ns/net 2>/dev/null | tr -dc '0-9')
key=$(printf '%s-%s-%s' "$(hostname 2>/dev/null || echo node)" "${ns:-0}" "$addr" | tr -c 'A-Za-z0-9._-' '_')
lock=
if [ -z "$dir" ]; then
  echo "farmhand: no private folder for the node lock; rendering unlocked" >&2
elif ! command -v flock >/dev/null 2>&1; then
  echo "farmhand: flock(1) is not installed; rendering unlocked" >&2
else
  lock="$dir/farmhand-node-$key.lock"
  [ -e "$lock" ] || [ -L "$lock" ] || (set -C; umask 077; : >"$lock") 2>/dev/null
  if [ -L "$lock" ] || [ ! -f "$lock" ] || [ ! -O "$lock" ]; then
    echo "farmhand: $lock is not a plain file of this account; rendering unlocked" >&2
    lock=
  fi
fi
# (a failed exec would end this shell: the checks above come first)
if [ -n "$lock" ]; then
  exec 9<"$lock"
  # A short wait: this dispatcher's previous chunk on the node may still be exiting.
  if ! flock -w 3 9; then
    say BUSY node is rendering for another dispatcher
    exit 75
  fi
fi
say PGID "$(ps -o pgid= -p $$ | tr -d ' ')"
"$@"
rc=$?
exit $rc
"""

# After TERM was sent to group $pg: wait up to $steps x 0.1 s for it to go, then KILL it. Prints
# "terminated" or "killed". (Signals are named with -s: dash's "kill -TERM -- -PGID" refuses the "--".)
_WAIT_THEN_KILL = r"""
i=0
while [ "$i" -lt "$steps" ]; do
  kill -s 0 -- "-$pg" 2>/dev/null || { echo terminated; exit 0; }
  sleep 0.1
  i=$((i+1))
done
kill -s KILL -- "-$pg" 2>/dev/null
echo killed
"""

# Kill a process group: TERM, then KILL after the grace period. Prints what happened.
KILL_GROUP = r"""
pg=$1; steps=$2
kill -s TERM -- "-$pg" 2>/dev/null || { echo gone; exit 0; }""" + _WAIT_THEN_KILL

# After a dispatcher restart: is the recorded group still alive, and is it ours? Kill it if so.
CHECK_ORPHAN = r"""
pg=$1; marker=$2; steps=$3
if ! kill -s 0 -- "-$pg" 2>/dev/null; then echo gone; exit 0; fi
if ! ps -o args= -p "$pg" 2>/dev/null | tr ' ' '\n' | grep -x -F -q -- "$marker"; then
  echo foreign; exit 0
fi
kill -s TERM -- "-$pg" 2>/dev/null""" + _WAIT_THEN_KILL

# One line per path argument, in order: "ok" when it exists and is non-empty, else "missing".
CHECK_OUTPUTS = r"""
for f in "$@"; do
  if [ -s "$f" ]; then echo ok; else echo missing; fi
done
"""


def home_tag() -> str:
    """This dispatcher's tag on nodes: its FARMHAND_HOME's random instance id, so two dispatchers'
    markers differ even when their homes have the same path on two workstations."""
    return paths.instance_id()


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
