"""Groups, limits, environment and power management, as the assigner asks for them.

:class:`FarmRules` belongs to the :class:`~farmhand.engine.assign.Assigner` and shares its
:class:`~farmhand.engine.state.EngineState`. Each assignment pass:

1. :meth:`begin` re-reads the limits and power rules from the store every few seconds;
2. :meth:`usable` keeps sleeping, waking and unwoken nodes out of the pass; :meth:`may_start` holds a
   chunk whose limits are at capacity (:mod:`farmhand.engine.limits`) and remembers why its job waits;
3. :meth:`command` puts the preset's and the job's environment in front of a chunk's argv (and, for
   Houdini presets, ``HOUDINI_PATHMAP`` for the node from the path map);
4. :meth:`end` decides which sleeping nodes to wake (a job has more frames waiting than awake nodes
   that may render it) and which idle nodes to put to sleep (:mod:`farmhand.nodes.power`), then writes
   what clients show: limits in use, power states, and each held job's reason.

Groups themselves are a filter of :func:`farmhand.engine.eligibility.suitable`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import Optional

from farmhand.engine import eligibility
from farmhand.engine import limits as limit_rules
from farmhand.engine.jobrun import JobRun
from farmhand.engine.state import EngineState, FarmNode
from farmhand.engine.store.farm import FarmTables
from farmhand.errors import FarmhandError
from farmhand.jobs import JobState
from farmhand.nodes.power import PowerActions, PowerChange, PowerManager, PowerState
from farmhand.pathmap import houdini_pathmap

log = logging.getLogger(__name__)

READ_EVERY = 2.0  # seconds between two reads of the limits and power rules
_TAKING = (JobState.QUEUED, JobState.RUNNING)
_ABS_PATH = re.compile(r"^(/|[A-Za-z]:[\\/]|\\\\)")  # mapped per node like a preset parameter
#: Runs its arguments as a command: used when the program's own name holds '=' (env would read it as
#: a variable). A fixed script; the argv only ever travels as arguments.
_EXEC = 'exec "$@"'
#: Set for Houdini presets from the path map, per node, unless the preset or the job sets it.
HOUDINI_PATHMAP = "HOUDINI_PATHMAP"


def env_argv(env: Sequence[tuple[str, str]], argv: Sequence[str]) -> list[str]:
    """``argv`` run with ``env`` set: ``env NAME=VALUE ... argv`` (each one argument, quoted by the SSH
    layer, never read by a shell). Names are checked by :func:`farmhand.labels.env_pair`."""
    if not env:
        return list(argv)
    program = list(argv)
    if program and "=" in program[0]:
        program = ["sh", "-c", _EXEC, "sh", *program]
    return ["env", *(f"{name}={value}" for name, value in env), *program]


def limits_of(job: JobRun) -> tuple[str, ...]:
    """The limits each chunk of ``job`` holds: the job's own and its preset's."""
    return tuple(dict.fromkeys((*job.spec.limits, *job.preset.limits)))


class FarmRules:
    """The assigner's view of limits, power and environment (see the module docstring)."""

    def __init__(self, state: EngineState, actions: Optional[PowerActions] = None) -> None:
        self.state = state
        self.tables = FarmTables(state.store)
        self.power = PowerManager(actions, state.submit)
        self._actions_given = actions is not None
        self.limits: dict[str, limit_rules.Limit] = {}
        self.waits: dict[str, str] = {}  # job id -> why a free node did not start it (a limit)
        self.woken_for: dict[str, str] = {}  # node -> the job it was woken for
        self.tally = limit_rules.Tally()  # what running chunks hold, kept through one pass
        self._read_at = -1e18
        self._restored = False
        # What was last written (None: nothing yet, so a restarted dispatcher replaces stale rows).
        self._usage: Optional[dict[str, tuple[int, int]]] = None
        self._holds: Optional[dict[str, str]] = None

    # --- each pass ------------------------------------------------------------------------------------

    def begin(self, now: float) -> None:
        self.tally = limit_rules.Tally(self.holdings())
        if now - self._read_at < READ_EVERY:
            return
        self._read_at = now
        try:
            self.limits = {i.name: limit_rules.Limit(i.name, i.capacity, i.per_node)
                           for i in self.tables.limits()}
            self.power.rules = self.tables.power_rules()
            if not self._restored:
                self._restored = True
                for row in self.tables.node_power():
                    self.power.restore(row.node, row.state, now)
        except FarmhandError as exc:
            log.warning("could not read limits and power rules: %s", exc.message)
        if self.power.rules and not self._actions_given and self.power.actions is None:
            self.power.actions = self._ssh_actions()

    def _ssh_actions(self) -> Optional[PowerActions]:
        from farmhand.nodes.power import SshPower
        from farmhand.nodes.registry import Registry

        try:
            return SshPower(Registry(), self.state.executor)
        except FarmhandError as exc:
            log.warning("power management is off: %s", exc.message)
            return None

    def usable(self, node: str) -> bool:
        """The node is awake (or not managed): it may get work."""
        return self.power.usable(node)

    def holdings(self) -> list[limit_rules.Holding]:
        """What every running chunk of ours holds."""
        out = []
        for task in self.state.tasks.values():
            job = self.state.jobs.get(task.job_id)
            held = limits_of(job) if job is not None else ()
            if held:
                out.append(limit_rules.Holding(task.node, held))
        return out

    def may_start(self, job: JobRun, node: FarmNode) -> bool:
        """A chunk of ``job`` may start on ``node`` as far as its limits go (else the job's wait is noted)."""
        wanted = limits_of(job)
        if not wanted or not self.limits:
            self.waits.pop(job.id, None)
            return True
        block = limit_rules.blocking(wanted, node.name, self.tally, self.limits)
        if block is None:
            self.waits.pop(job.id, None)
            return True
        why = limit_rules.describe(block[0], block[1], node.name)
        if self.waits.get(job.id) != why:
            if job.id not in self.waits:
                job.event("limit", why, self.state.clock(), node=node.name)
            self.waits[job.id] = why
        return False

    def command(self, job: JobRun, node: str, argv: Sequence[str]) -> list[str]:
        """The chunk's argv with the preset's and the job's environment set (absolute paths mapped for the
        node like preset parameters). Called as the chunk starts: from now on it holds the job's limits."""
        self.tally.add(limit_rules.Holding(node, limits_of(job)))
        table = dict(job.preset.env)
        table.update(job.spec.env)
        env = [(k, (self.state.node_path(v, node) or v) if _ABS_PATH.match(v) else v)
               for k, v in table.items()]
        if job.preset.needs_houdini and HOUDINI_PATHMAP not in table:
            # Houdini on the node resolves the absolute paths saved inside the scene by the same rules.
            houdini = houdini_pathmap(self.state.pathmap, node)
            env += [(HOUDINI_PATHMAP, houdini)] if houdini else []
        return env_argv(sorted(env), argv)

    def end(self, now: float, jobs: Iterable[JobRun]) -> None:
        """Wake and sleep decisions, then what clients show (only what changed is written)."""
        active = [j for j in jobs if j.state in _TAKING and j.deps_met and j.waiting()]
        for job_id in [j for j in self.waits if j not in {a.id for a in active}]:
            del self.waits[job_id]
        wanted, wake = self._demand(active)
        farm = {n.name: n.tags for n in self.state.farm.values()}
        busy = {t.node for t in self.state.tasks.values()}
        try:
            changes = self.power.step(now, farm, busy, wanted, wake)
            self._record(changes, now)
            self._publish(now, active)
        except FarmhandError as exc:
            log.warning("could not record power states and holds: %s", exc.message)

    # --- waking and holds -----------------------------------------------------------------------------

    def _demand(self, active: Sequence[JobRun]) -> tuple[set[str], set[str]]:
        """Nodes a job could use now (kept awake) and sleeping nodes to wake for jobs short of nodes."""
        wanted: set[str] = set()
        wake: set[str] = set()
        nodes = sorted(self.state.farm.values(), key=lambda n: (-n.cores, n.name))
        for job in active:
            eligible = [n for n in nodes if eligibility.suitable(job, n)]
            wanted.update(n.name for n in eligible)
            if job.id in self.waits:
                continue  # held by a limit: more nodes would not help
            one_process = job.spec.single_node or not job.preset.splittable
            want = (0 if self.state.tasks_of(job.id) else 1) if one_process else len(job.waiting())
            states = {n.name: self.power.state(n.name) for n in eligible}
            coming = [n for n in eligible if states[n.name] in (PowerState.AWAKE, PowerState.WAKING)]
            asleep = [n for n in eligible if n.name not in wake
                      and states[n.name] in (PowerState.ASLEEP, PowerState.WAKE_FAILED)]
            for node in asleep[:max(want - len(coming), 0)]:
                wake.add(node.name)
                self.woken_for.setdefault(node.name, job.id)
        return wanted, wake

    def _record(self, changes: Sequence[PowerChange], now: float) -> None:
        for change in changes:
            self.tables.set_node_power(change.node, change.state, change.message, now)
            job_id = self.woken_for.get(change.node) if change.state is PowerState.WAKING else None
            kind = "power_" + change.state.value.replace("-", "_")
            self.state.store.add_event(job_id, kind, change.message, node=change.node, now=now)
            if change.state in (PowerState.AWAKE, PowerState.WAKE_FAILED):
                self.woken_for.pop(change.node, None)

    def _publish(self, now: float, active: Sequence[JobRun]) -> None:
        used = limit_rules.usage(self.limits.values(), limit_rules.Tally(self.holdings()))
        waiting = [limits_of(j) for j in active if j.id in self.waits]
        usage = {name: (used.get(name, 0), sum(1 for taken in waiting if name in taken))
                 for name in self.limits}
        if usage != self._usage:
            self.tables.set_usage(usage)
            self._usage = usage
        holds = dict(self.waits)
        for job in active:
            waking = sorted(n for n, j in self.woken_for.items() if j == job.id
                            and self.power.state(n) is PowerState.WAKING)
            if waking and job.id not in holds:
                holds[job.id] = f"waking {', '.join(waking)} (Wake-on-LAN sent; waiting for SSH)"
        if holds != self._holds:
            self.tables.set_holds(holds, now)
            self._holds = holds
