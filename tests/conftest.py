"""Shared fixtures: the real sshd node lab and an isolated Farmhand state directory.

Fixtures for everyone:

* ``lab`` (session): a :class:`farmhand.lab.LocalFarm` of 4 real sshd nodes in network namespaces
  (``render01..04`` at ``10.77.0.11..14``). Do not inject faults into it — other tests share it.
* ``make_lab`` (function): ``make_lab(n=2, **kw)`` gives a private lab (starts in ~0.1 s) for tests that
  break nodes; torn down after the test.
* ``in_lab`` (function): the test's main thread runs inside the session lab's network namespace, so
  sockets it (or threads/subprocesses it starts) opens reach the nodes. Threads started *before* the
  test (e.g. by a session fixture) stay outside: network namespaces are per thread.
* ``farmhand_home`` (function): a fresh ``FARMHAND_HOME`` and ``HOME`` (with an empty ``~/.ssh``) in a
  temporary directory, ``SSH_AUTH_SOCK`` unset: no test sees the machine's real keys or registry.
* ``trusted_lab`` (function): ``farmhand_home`` + the session lab's host keys in Farmhand's known_hosts
  and an ``~/.ssh/config`` aliasing ``render01..`` to the nodes with the lab key; returns the lab.

While the tests run as root, the lab range is routed ``unreachable`` outside the lab from the first test
on (not only while a lab is up), so a test that forgets to enter the lab can never send a lab address
out of the machine (:mod:`farmhand.lab.guard`); the route goes with the last lab of the machine.

Lab tests are marked ``@pytest.mark.lab``; they need root and ``ip netns`` and FAIL (never skip) with a
clear message without them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from farmhand.lab import SUBNET, LocalFarm, can_use, guard


def _require_lab() -> None:
    why = can_use()
    if why:
        pytest.fail(f"lab test cannot run: {why}", pytrace=False)


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Every test leaves ``os.environ`` as it found it, even when product code it drives sets a variable
    directly (the Houdini submit path sets ``FARMHAND_PYTHON`` for its dispatcher launcher): a variable
    leaked by one test once sent later tests' dispatchers to a fake Houdini's Python. Variables that would
    point a test at the developer's own farm database or Python are unset for the test."""
    saved = dict(os.environ)
    for name in ("FARMHAND_STORE", "FARMHAND_LEASE_SECONDS", "FARMHAND_PYTHON"):
        os.environ.pop(name, None)  # the developer's own farm database or Python is not the tests'
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="session", autouse=True)
def _lab_guard() -> Iterator[None]:
    if can_use() is not None:  # no root: no lab, and no way to add the route
        yield
        return
    holder = f"pytest-{secrets.token_hex(3)}"
    try:
        guard.install(SUBNET, holder)
    except RuntimeError as exc:
        pytest.exit(f"lab tests cannot run safely: {exc}", returncode=3)
    yield
    guard.release(holder)


@pytest.fixture(scope="session")
def lab() -> Iterator[LocalFarm]:
    _require_lab()
    with LocalFarm(n=4, mode="netns") as farm:
        yield farm


@pytest.fixture
def make_lab() -> Iterator[Callable[..., LocalFarm]]:
    _require_lab()
    farms: list[LocalFarm] = []

    def make(n: int = 2, **kwargs: Any) -> LocalFarm:
        farm = LocalFarm(n=n, **kwargs)
        farms.append(farm)
        farm.start()
        return farm

    yield make
    for farm in farms:
        farm.stop()


@pytest.fixture
def in_lab(lab: LocalFarm) -> Iterator[LocalFarm]:
    with lab.inside():
        yield lab


@pytest.fixture
def farmhand_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "farmhand-home"
    user_home = tmp_path / "user-home"
    (user_home / ".ssh").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("FARMHAND_HOME", str(home))
    monkeypatch.setenv("HOME", str(user_home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home


def write_ssh_config(farm: LocalFarm, extra: str = "") -> Path:
    """Write ``~/.ssh/config`` (of the current ``HOME``) aliasing every lab node name to its address."""
    path = Path(os.path.expanduser("~/.ssh/config"))
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text(farm.ssh_config_text() + extra)
    return path


@pytest.fixture
def trusted_lab(lab: LocalFarm, farmhand_home: Path) -> LocalFarm:
    lab.trust()
    write_ssh_config(lab)
    return lab


@pytest.fixture
def store_home(farmhand_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``farmhand_home``, created, ``FARMHAND_STORE`` unset: the store is what its dispatcher.json says."""
    monkeypatch.delenv("FARMHAND_STORE", raising=False)
    farmhand_home.mkdir(parents=True, exist_ok=True)
    return farmhand_home
