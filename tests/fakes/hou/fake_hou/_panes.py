"""Fake pane tabs, Python Panel interfaces (``.pypanel`` files) and the desktop.

``pypanel.installFile`` reads a real ``.pypanel`` file the way Houdini does: each ``<interface>``
becomes an interface; showing one in a Python Panel pane tab runs its ``<script>`` with ``kwargs``
holding the pane tab and calls its ``onCreateInterface()`` for the root widget.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any, Optional

from fake_hou._session import guard
from fake_hou._stubs import (
    DesktopBase,
    EnumValueBase,
    PaneTabBase,
    PythonPanelBase,
    PythonPanelInterfaceBase,
    paneTabTypeBase,
    pypanelBase,
)
from fake_hou._values import EnumValue, OperationFailed


class paneTabType(paneTabTypeBase):
    PythonPanel: EnumValue = EnumValue("paneTabType.PythonPanel")
    NetworkEditor: EnumValue = EnumValue("paneTabType.NetworkEditor")
    Parm: EnumValue = EnumValue("paneTabType.Parm")


class PythonPanelInterface(PythonPanelInterfaceBase):
    def __init__(self, name: str, label: str, script: str, file_path: str, in_pane_tab_menu: bool) -> None:
        self._name = name
        self._label = label
        self._script = script
        self._file = file_path
        self.in_pane_tab_menu = in_pane_tab_menu  # test helper: <includeInPaneTabMenu> present

    def name(self) -> str:
        return self._name

    def label(self) -> str:
        return self._label

    def filePath(self) -> str:
        return self._file

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PythonPanelInterface) and other._name == self._name

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self._name)


INTERFACES: dict[str, PythonPanelInterface] = {}


class pypanel(pypanelBase):
    @staticmethod
    def installFile(file_path: str) -> None:
        guard()
        for interface in pypanel.interfacesInFile(file_path):
            INTERFACES[interface.name()] = interface

    @staticmethod
    def interfacesInFile(file_path: str) -> tuple[PythonPanelInterface, ...]:
        root = ET.parse(file_path).getroot()
        return tuple(
            PythonPanelInterface(str(node.get("name")), str(node.get("label") or node.get("name")),
                                 node.findtext("script") or "", file_path,
                                 node.find("includeInPaneTabMenu") is not None)
            for node in root.findall("interface"))

    @staticmethod
    def interfaces() -> dict[str, PythonPanelInterfaceBase]:
        return dict(INTERFACES)

    @staticmethod
    def interfaceByName(name: str) -> Optional[PythonPanelInterface]:
        return INTERFACES.get(name)


class PaneTab(PaneTabBase):
    def __init__(self, kind: EnumValue, name: str) -> None:
        self._type = kind
        self._name = name
        self._closed = False

    def type(self) -> EnumValue:
        return self._type

    def name(self) -> str:
        return self._name

    def isCurrentTab(self) -> bool:
        return DESKTOP.current is self

    def setIsCurrentTab(self) -> None:
        DESKTOP.current = self

    def isFloating(self) -> bool:
        return True

    def close(self) -> None:
        self._closed = True
        DESKTOP.tabs.remove(self)


class PythonPanel(PaneTab, PythonPanelBase):
    def __init__(self, name: str) -> None:
        super().__init__(paneTabType.PythonPanel, name)
        self._interface: Optional[PythonPanelInterface] = None
        self._widget: Any = None

    def activeInterface(self) -> Optional[PythonPanelInterface]:
        return self._interface

    def setActiveInterface(self, interface: PythonPanelInterfaceBase) -> None:
        guard()
        if not isinstance(interface, PythonPanelInterface) or interface.name() not in INTERFACES:
            raise OperationFailed("Interface is not installed")
        namespace: dict[str, Any] = {"kwargs": {"paneTab": self}}
        exec(compile(interface._script, interface.filePath(), "exec"), namespace)
        self._interface = interface
        self._widget = namespace["onCreateInterface"]()

    def activeInterfaceRootWidget(self) -> Any:
        return self._widget


class Desktop(DesktopBase):
    def __init__(self) -> None:
        self.tabs: list[PaneTab] = []
        self.current: Optional[PaneTab] = None

    def name(self) -> str:
        return "Build"

    def paneTabs(self) -> tuple[PaneTab, ...]:
        return tuple(self.tabs)

    def createFloatingPaneTab(
        self,
        pane_tab_type: EnumValueBase,
        position: Sequence[float] = (),
        size: Sequence[float] = (),
        python_panel_interface: PythonPanelInterfaceBase | None = None,
        immediate: bool = False,
    ) -> PaneTab:
        guard()
        name = f"panetab{len(self.tabs) + 1}"
        if not isinstance(pane_tab_type, EnumValue):
            raise OperationFailed(f"not a hou.paneTabType: {pane_tab_type!r}")
        tab = PythonPanel(name) if pane_tab_type == paneTabType.PythonPanel else PaneTab(pane_tab_type, name)
        self.tabs.append(tab)
        self.current = tab
        if isinstance(tab, PythonPanel) and python_panel_interface is not None:
            tab.setActiveInterface(python_panel_interface)
        return tab


DESKTOP = Desktop()


def reset_panes() -> None:
    INTERFACES.clear()
    DESKTOP.tabs.clear()
    DESKTOP.current = None
