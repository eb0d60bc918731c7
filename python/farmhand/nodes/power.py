"""Power management: idle nodes put to sleep with a command the user chose, woken with Wake-on-LAN.

Only nodes a :class:`PowerRule` covers are ever put to sleep (``farmhand power set``: per node, per
group, or every node), and only nodes this module saw go to sleep are ever woken: a node that was never
asleep never receives a magic packet. Each managed node moves through:

``awake`` ── idle for ``rule.idle`` s, no job wants it ──▶ ``sleeping`` (the command was sent; until
SSH stops answering) ──▶ ``asleep`` ── a job needs it ──▶ ``waking`` (packet sent to its recorded MAC;
until SSH answers, at most ``rule.boot_timeout`` s) ──▶ ``awake``, or ``wake-failed``: marked, retried
after ``rule.retry`` s when a job still needs it, never counted against the node or any job.

A node whose sleep command ran but which still answers SSH after :data:`SLEEP_CONFIRM` seconds is
awake again (with a message saying so). A node with no recorded MAC is never put to sleep: it could not
be woken. The side effects (run the command, send the packet, check SSH) are a :class:`PowerActions`;
:class:`SshPower` does them over the registry, the SSH executor and :mod:`farmhand.nodes.wol`. Blocking
calls run on an injected ``submit`` (the dispatcher's pool), so :meth:`PowerManager.step` never waits.
"""

from __future__ import annotations

import logging
import math
import socket
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

from farmhand import labels
from farmhand.errors import FarmhandError, UsageError

if TYPE_CHECKING:
    from farmhand.nodes.registry import Registry
    from farmhand.remote import Executor

log = logging.getLogger(__name__)

SLEEP_CONFIRM = 60.0  # seconds a node may keep answering SSH after its sleep command
CHECK_EVERY = 2.0  # seconds between two SSH checks of a node going to sleep or waking
CHECK_TIMEOUT = 2.0  # seconds one SSH check waits for the node's banner
DEFAULT_BOOT_TIMEOUT = 300.0
DEFAULT_RETRY = 600.0
Submit = Callable[..., "Future[Any]"]


class PowerState(str, Enum):
    AWAKE = "awake"
    SLEEPING = "sleeping"  # the sleep command was sent; waiting for SSH to stop answering
    ASLEEP = "asleep"
    WAKING = "waking"  # the magic packet was sent; waiting for SSH to answer
    WAKE_FAILED = "wake-failed"  # did not answer within its boot timeout; retried later, not blamed

    @property
    def usable(self) -> bool:
        return self is PowerState.AWAKE


@dataclass(frozen=True)
class PowerRule:
    """Which nodes may be put to sleep, when, and how.

    Attributes:
        scope: ``all``, ``node:NAME`` or ``group:TAG`` (a node rule wins over a group rule over ``all``).
        idle: seconds a node must have had nothing to do before it is put to sleep.
        command: the argv run on the node to put it to sleep (``systemctl suspend``); never a shell line.
        boot_timeout: seconds a woken node may take until SSH answers.
        retry: seconds before a node that did not wake is woken again (when a job still needs it).
    """

    scope: str
    idle: float
    command: tuple[str, ...]
    boot_timeout: float = DEFAULT_BOOT_TIMEOUT
    retry: float = DEFAULT_RETRY

    def __post_init__(self) -> None:
        for name in ("idle", "boot_timeout", "retry"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < (1 if name == "boot_timeout" else 0):
                raise UsageError(f"power rule {self.scope}: {name.replace('_', '-')} must be a number of "
                                 f"seconds >= {1 if name == 'boot_timeout' else 0}, not {value!r}")
        if not self.command or not all(isinstance(a, str) and a and "\0" not in a for a in self.command):
            raise UsageError(f"power rule {self.scope}: give the command that puts a node to sleep, "
                             "e.g. --command 'systemctl suspend'")
        object.__setattr__(self, "command", tuple(self.command))
        object.__setattr__(self, "scope", scope(self.scope))

    def covers(self, node: str, tags: Iterable[str]) -> bool:
        kind, _, name = self.scope.partition(":")
        return kind == "all" or (kind == "node" and name == node) or (kind == "group" and name in set(tags))


def scope(text: str) -> str:
    """A rule's scope checked: ``all``, ``node:NAME`` or ``group:TAG``."""
    kind, colon, name = str(text).partition(":")
    if text == "all":
        return text
    if colon and kind == "group" and labels.is_tag(name):
        return f"group:{labels.tag(name)}"
    if colon and kind == "node" and name and not any(c.isspace() for c in name):
        return text
    raise UsageError(f"power rule scope {str(text)[:80]!r}: use all, node:NAME or group:TAG")


def rule_for(rules: Sequence[PowerRule], node: str, tags: Iterable[str]) -> Optional[PowerRule]:
    """The rule that manages ``node``: its own, else one of its groups', else ``all``; None: never sleeps."""
    tags = set(tags)
    for kind in ("node", "group", "all"):
        found = [r for r in rules if r.scope.split(":", 1)[0] == kind and r.covers(node, tags)]
        if found:
            return found[0]
    return None


class PowerActions(Protocol):
    """The side effects of power management (a fake in tests)."""

    def can_wake(self, node: str) -> Optional[str]:
        """None when a wake packet can be sent to the node (a MAC is recorded), else why not."""

    def sleep(self, node: str, command: Sequence[str]) -> None:
        """Run the sleep command on the node (the connection may drop while it runs)."""

    def wake(self, node: str) -> str:
        """Send the magic packet; returns what was used (MACs and addresses). Raises FarmhandError."""

    def answers(self, node: str) -> bool:
        """A new SSH connection to the node gets a server banner now."""


@dataclass
class _Managed:
    state: PowerState = PowerState.AWAKE
    since: float = 0.0
    idle_since: float = 0.0
    deadline: float = 0.0  # sleeping: stop waiting for SSH to go quiet; waking: the boot timeout
    retry_at: float = 0.0
    check_at: float = 0.0
    action: Optional[Future[Any]] = None  # the sleep command, in flight
    check: Optional[Future[Any]] = None  # an SSH check, in flight
    message: Optional[str] = None
    rule: Optional[PowerRule] = None  # the last rule that covered it (its boot timeout and retry)


@dataclass(frozen=True)
class PowerChange:
    """A node's power state changed (the dispatcher records it and shows it)."""

    node: str
    state: PowerState
    message: str


@dataclass
class PowerManager:
    """Decides, each step, which idle nodes go to sleep and follows nodes going to sleep or waking."""

    actions: Optional[PowerActions]
    submit: Submit
    rules: list[PowerRule] = field(default_factory=list)
    nodes: dict[str, _Managed] = field(default_factory=dict)

    def usable(self, node: str) -> bool:
        """The node may be given work (it is awake, or not managed)."""
        managed = self.nodes.get(node)
        return managed is None or managed.state.usable

    def state(self, node: str) -> PowerState:
        managed = self.nodes.get(node)
        return PowerState.AWAKE if managed is None else managed.state

    def restore(self, node: str, state: PowerState, now: float) -> None:
        """After a dispatcher restart: a node recorded asleep (or on its way) is asleep until woken."""
        if state is not PowerState.AWAKE:
            kept = state if state is PowerState.WAKE_FAILED else PowerState.ASLEEP
            note = "asleep when the dispatcher started"
            self.nodes[node] = _Managed(kept, since=now, idle_since=now, message=note)

    def step(self, now: float, farm: Mapping[str, Iterable[str]], busy: Iterable[str],
             wanted: Iterable[str], wake: Iterable[str]) -> list[PowerChange]:
        """One pass. ``farm``: node -> tags; ``busy``: nodes running our work; ``wanted``: nodes a job could
        use now (never put to sleep); ``wake``: nodes a job needs woken (only asleep ones are)."""
        changes: list[PowerChange] = []
        in_use, wake = set(busy) | set(wanted), set(wake)
        for node, tags in farm.items():
            rule = rule_for(self.rules, node, tags)
            managed = self.nodes.get(node)
            if managed is None:
                if rule is None:
                    continue  # never managed, never asleep: never touched
                managed = self.nodes[node] = _Managed(since=now, idle_since=now)
            managed.rule = rule or managed.rule
            change = self._advance(node, managed, now, None if node in in_use else rule, node in wake)
            if change is not None:
                changes.append(change)
        return changes

    # --- one node -------------------------------------------------------------------------------------

    def _advance(self, node: str, m: _Managed, now: float, idle_rule: Optional[PowerRule],
                 wake: bool) -> Optional[PowerChange]:
        if m.action is not None:
            if not m.action.done():
                return None
            m.action = None  # how the sleep command ended does not matter: the SSH checks decide
        if m.state is PowerState.AWAKE:
            return self._maybe_sleep(node, m, now, idle_rule)
        if m.state in (PowerState.SLEEPING, PowerState.WAKING):
            return self._follow(node, m, now)
        if wake and (m.state is PowerState.ASLEEP or now >= m.retry_at):
            return self._wake(node, m, now)
        return None

    def _set(self, node: str, m: _Managed, state: PowerState, now: float, message: str) -> PowerChange:
        m.state, m.since, m.message = state, now, message
        log.info("%s: %s (%s)", node, state.value, message)
        return PowerChange(node, state, message)

    def _maybe_sleep(self, node: str, m: _Managed, now: float,
                     rule: Optional[PowerRule]) -> Optional[PowerChange]:
        """``rule`` is None while the node is in use or no rule covers it: it stays awake."""
        if rule is None or self.actions is None:
            m.idle_since = now
            return None
        if now - m.idle_since < rule.idle:
            return None
        if self.actions.can_wake(node) is not None:
            m.idle_since = now  # asked again after another idle period, in case it was probed since
            return None
        m.deadline, m.check_at = now + SLEEP_CONFIRM, now + CHECK_EVERY
        idle = now - m.idle_since
        m.action = self.submit(self.actions.sleep, node, rule.command)
        ran = " ".join(rule.command)
        return self._set(node, m, PowerState.SLEEPING, now, f"idle for {idle:.0f}s: ran {ran}")

    def _answer(self, node: str, m: _Managed, now: float) -> Optional[bool]:
        """The answer of the SSH check that just finished (starting the next one when due); None while
        none has."""
        if m.check is not None:
            if not m.check.done():
                return None
            future, m.check = m.check, None
            try:
                return bool(future.result())
            except Exception:  # a check that failed is a node that did not answer
                return False
        if now >= m.check_at and self.actions is not None:
            m.check_at = now + CHECK_EVERY
            m.check = self.submit(self.actions.answers, node)
            if m.check.done():  # run inline (tests)
                return self._answer(node, m, now)
        return None

    def _follow(self, node: str, m: _Managed, now: float) -> Optional[PowerChange]:
        answer = self._answer(node, m, now)
        if m.state is PowerState.SLEEPING:
            if answer is False:
                return self._set(node, m, PowerState.ASLEEP, now, "asleep: SSH no longer answers")
            if answer and now >= m.deadline:
                m.idle_since = now
                why = f"still answers SSH {SLEEP_CONFIRM:.0f}s after its sleep command; check its power rule"
                return self._set(node, m, PowerState.AWAKE, now, why)
            return None
        if answer:
            m.idle_since = now
            woke = f"awake: SSH answered {now - m.since:.0f}s after the wake packet"
            return self._set(node, m, PowerState.AWAKE, now, woke)
        if answer is False and now >= m.deadline:
            boot = m.deadline - m.since
            return self._failed(node, m, now, f"did not answer SSH within {boot:.0f}s of the wake packet")
        return None

    def _wake(self, node: str, m: _Managed, now: float) -> PowerChange:
        timeout = m.rule.boot_timeout if m.rule else DEFAULT_BOOT_TIMEOUT
        m.deadline, m.check_at = now + timeout, now
        try:
            if self.actions is None:
                raise FarmhandError("no way to send a wake packet")
            sent = self.actions.wake(node)
        except FarmhandError as exc:
            return self._failed(node, m, now, f"could not send the wake packet: {exc.message}")
        return self._set(node, m, PowerState.WAKING, now, f"Wake-on-LAN sent ({sent}); waiting up to "
                         f"{timeout:.0f}s for SSH")

    def _failed(self, node: str, m: _Managed, now: float, why: str) -> PowerChange:
        retry = m.rule.retry if m.rule else DEFAULT_RETRY
        m.retry_at = now + retry
        note = f"{why}; trying again in {retry:.0f}s if a job still needs it (not counted against the node)"
        return self._set(node, m, PowerState.WAKE_FAILED, now, note)


class SshPower:
    """Power actions on a real farm: the registry's MACs and addresses, the SSH executor, UDP packets."""

    def __init__(self, registry: Registry, executor: Executor) -> None:
        self.registry = registry
        self.executor = executor

    def can_wake(self, node: str) -> Optional[str]:
        from farmhand.nodes.inventory import Inventory

        found = self.registry.find(node)
        inventory = Inventory.from_dict(found.inventory) if found and found.inventory else None
        if inventory and inventory.macs:
            return None
        return "no MAC address recorded (probe it once while it is up)"

    def sleep(self, node: str, command: Sequence[str]) -> None:
        try:
            self.executor.run(node, list(command), timeout=30.0)
        except FarmhandError as exc:
            # Suspending may drop the connection before the command returns: SSH checks decide.
            log.info("%s: sleep command: %s", node, exc.message)

    def wake(self, node: str) -> str:
        from farmhand.nodes.wol import wake_node

        macs, sent = wake_node(self.registry.get(node))
        return f"{', '.join(macs)} via {', '.join(sent)}"

    def answers(self, node: str) -> bool:
        target = self.registry.target(node)
        if target.proxy_command or target.proxy_jump:
            try:  # behind a jump host only a command tells
                return self.executor.run(node, ["true"], timeout=CHECK_TIMEOUT * 5).exit_code == 0
            except FarmhandError:
                return False
        try:
            with socket.create_connection(target.destination, timeout=CHECK_TIMEOUT) as sock:
                return sock.recv(4).startswith(b"SSH-")
        except OSError:
            return False
