"""Fake ``hou`` exceptions and enumeration values."""

from __future__ import annotations

from fake_hou._stubs import (
    EnumValueBase,
    ErrorBase,
    LoadWarningBase,
    NotAvailableBase,
    OperationFailedBase,
    renderMethodBase,
    ropRenderEventTypeBase,
    severityTypeBase,
)


class Error(ErrorBase):
    """Base of the fake's exceptions, like ``hou.Error``."""

    def __init__(self, *args: object) -> None:
        Exception.__init__(self, *args)

    def description(self) -> str:
        return "hou error"

    def instanceMessage(self) -> str:
        return str(self.args[0]) if self.args else ""


class OperationFailed(Error, OperationFailedBase):
    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or "The attempted operation failed.")

    def description(self) -> str:
        return "The attempted operation failed."


class LoadWarning(Error, LoadWarningBase):
    def description(self) -> str:
        return "Warnings were generated during load."


class NotAvailable(Error, NotAvailableBase):
    def description(self) -> str:
        return "Not available in this context."


class EnumValue(EnumValueBase):
    """A named constant compared by identity of its name, like ``hou.EnumValue``."""

    def __init__(self, *args: str) -> None:
        self._name = args[0] if args else "?"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EnumValue) and other._name == self._name

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self._name)

    def name(self) -> str:
        return self._name.rsplit(".", 1)[-1]

    def __repr__(self) -> str:
        return f"<hou.{self._name}>"


# Tracebacks name the real module ("hou.OperationFailed: ..."), which renderer presets match on.
for _cls in (Error, OperationFailed, LoadWarning, NotAvailable):
    _cls.__module__ = "hou"


class renderMethod(renderMethodBase):
    FrameByFrame: EnumValue = EnumValue("renderMethod.FrameByFrame")
    RopByRop: EnumValue = EnumValue("renderMethod.RopByRop")


class severityType(severityTypeBase):
    Message: EnumValue = EnumValue("severityType.Message")
    ImportantMessage: EnumValue = EnumValue("severityType.ImportantMessage")
    Warning: EnumValue = EnumValue("severityType.Warning")
    Error: EnumValue = EnumValue("severityType.Error")
    Fatal: EnumValue = EnumValue("severityType.Fatal")


class ropRenderEventType(ropRenderEventTypeBase):
    PreRender: EnumValue = EnumValue("ropRenderEventType.PreRender")
    PreFrame: EnumValue = EnumValue("ropRenderEventType.PreFrame")
    PostFrame: EnumValue = EnumValue("ropRenderEventType.PostFrame")
    PostWrite: EnumValue = EnumValue("ropRenderEventType.PostWrite")
    PostRender: EnumValue = EnumValue("ropRenderEventType.PostRender")
