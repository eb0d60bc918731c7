"""Where the Nodes tab's data and actions come from: the node registry, discovery and SSH probing.

Kept apart from :mod:`farmhand.ui.client_backend` so the job side works (and is tested) on its own and a
host can plug in another node list.
"""

from __future__ import annotations

from typing import Callable, Protocol

from farmhand.ui.view.backend import ScanProgress
from farmhand.ui.view.records import NodeView


class NodesSource(Protocol):
    def nodes(self) -> list[NodeView]: ...

    def scan(self, spec: str, progress: ScanProgress, cancelled: Callable[[], bool]) -> list[NodeView]: ...

    def probe(self, host: str) -> NodeView: ...

    def fingerprint(self, host: str) -> str: ...

    def trust(self, host: str, fingerprint: str) -> None: ...

    def set_enabled(self, host: str, enabled: bool) -> None: ...

    def wake(self, host: str) -> None: ...

    def add(self, name: str) -> NodeView: ...


def registry_source() -> NodesSource:
    from farmhand.ui.registry_nodes import RegistryNodes

    return RegistryNodes()
