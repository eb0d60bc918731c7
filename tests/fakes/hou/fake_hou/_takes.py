"""Fake takes: a scene's ``takes`` field overrides parameters while its take is current.

    "takes": {"hero": {"/out/m": {"f2": 12, "vm_picture": "$HIP/hero/$F4.exr"}}}, "current_take": "hero"

``Main`` (the root take) overrides nothing. A ROP whose ``take`` parm names a take renders in it.
"""

from __future__ import annotations

from typing import Any, Optional

from fake_hou._session import SESSION, guard
from fake_hou._stubs import TakeBase, takesBase
from fake_hou._values import OperationFailed

ROOT_TAKE = "Main"


class Take(TakeBase):
    def __init__(self, name: str) -> None:
        self._name = name

    def name(self) -> str:
        return self._name

    def path(self) -> str:
        return f"/{self._name}" if self._name == ROOT_TAKE else f"/{ROOT_TAKE}/{self._name}"

    def isCurrent(self) -> bool:
        return SESSION.current_take == self._name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Take) and other._name == self._name

    def __hash__(self) -> int:
        return hash(self._name)


def _names() -> list[str]:
    return [ROOT_TAKE, *(str(n) for n in SESSION.doc.get("takes", {}))]


class takes(takesBase):
    @staticmethod
    def takes() -> tuple[Take, ...]:
        guard()
        return tuple(Take(n) for n in _names())

    @staticmethod
    def currentTake() -> Take:
        guard()
        return Take(SESSION.current_take)

    @staticmethod
    def setCurrentTake(take: TakeBase) -> None:
        guard()
        if not isinstance(take, Take) or take.name() not in _names():
            raise OperationFailed("Invalid take")
        SESSION.current_take = take.name()

    @staticmethod
    def rootTake() -> Take:
        return Take(ROOT_TAKE)

    @staticmethod
    def findTake(take_name: str) -> Optional[Take]:
        guard()
        return Take(take_name) if take_name in _names() else None


def override(node_path: str, parm_name: str, take: Optional[str] = None) -> tuple[bool, Any]:
    """``(True, value)`` when the current take (or ``take``) overrides the parm."""
    name = take or SESSION.current_take
    parms = SESSION.doc.get("takes", {}).get(name, {}).get(node_path, {})
    return (True, parms[parm_name]) if parm_name in parms else (False, None)
