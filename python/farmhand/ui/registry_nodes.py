"""The Nodes tab over the node registry, discovery and the SSH probe (``farmhand.registry``,
``farmhand.discovery``); filled in as those modules land."""

from __future__ import annotations

from typing import Callable

from farmhand.errors import FarmhandError
from farmhand.ui.backend import ScanProgress
from farmhand.ui.records import NodeView


class RegistryNodes:
    def nodes(self) -> list[NodeView]:
        return []

    def _missing(self) -> FarmhandError:
        return FarmhandError("this Farmhand build has no node registry yet; use 'farmhand nodes' instead")

    def scan(self, spec: str, progress: ScanProgress, cancelled: Callable[[], bool]) -> list[NodeView]:
        raise self._missing()

    def probe(self, host: str) -> NodeView:
        raise self._missing()

    def fingerprint(self, host: str) -> str:
        raise self._missing()

    def trust(self, host: str, fingerprint: str) -> None:
        raise self._missing()

    def set_enabled(self, host: str, enabled: bool) -> None:
        raise self._missing()

    def wake(self, host: str) -> None:
        raise self._missing()

    def add(self, name: str) -> NodeView:
        raise self._missing()
