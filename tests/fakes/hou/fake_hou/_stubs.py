"""Base classes that tie the fake to the real ``hou`` signatures.

Under mypy each fake class derives from the class of the same name in the ``types-houdini`` stubs, so
every method the fake defines is checked as an override of the real one (parameter names, kinds,
defaults and types; return types must be the stub's or narrower). At run time the bases are empty
classes: the fake never pretends to implement a method it does not define.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hou import Desktop as DesktopBase
    from hou import EnumValue as EnumValueBase
    from hou import Error as ErrorBase
    from hou import LoadWarning as LoadWarningBase
    from hou import LopNode as LopNodeBase
    from hou import Node as NodeBase
    from hou import NodeType as NodeTypeBase
    from hou import NodeTypeCategory as NodeTypeCategoryBase
    from hou import NotAvailable as NotAvailableBase
    from hou import OperationFailed as OperationFailedBase
    from hou import OpNode as OpNodeBase
    from hou import OpNodeType as OpNodeTypeBase
    from hou import OpNodeTypeCategory as OpNodeTypeCategoryBase
    from hou import PaneTab as PaneTabBase
    from hou import Parm as ParmBase
    from hou import ParmTuple as ParmTupleBase
    from hou import PythonPanel as PythonPanelBase
    from hou import PythonPanelInterface as PythonPanelInterfaceBase
    from hou import RopNode as RopNodeBase
    from hou import SopNode as SopNodeBase
    from hou import Take as TakeBase
    from hou import hipFile as hipFileBase
    from hou import paneTabType as paneTabTypeBase
    from hou import playbar as playbarBase
    from hou import pypanel as pypanelBase
    from hou import qt as qtBase
    from hou import renderMethod as renderMethodBase
    from hou import ropRenderEventType as ropRenderEventTypeBase
    from hou import severityType as severityTypeBase
    from hou import takes as takesBase
    from hou import text as textBase
    from hou import ui as uiBase
else:

    class DesktopBase:
        pass

    class TakeBase:
        pass

    class takesBase:
        pass

    class PaneTabBase:
        pass

    class PythonPanelBase(PaneTabBase):
        pass

    class PythonPanelInterfaceBase:
        pass

    class paneTabTypeBase:
        pass

    class pypanelBase:
        pass

    class EnumValueBase:
        pass

    ErrorBase = Exception

    class LoadWarningBase:
        pass

    class NotAvailableBase:
        pass

    class OperationFailedBase:
        pass

    class NodeBase:
        pass

    class NodeTypeBase:
        pass

    class NodeTypeCategoryBase:
        pass

    class OpNodeBase:
        pass

    class LopNodeBase:
        pass

    class OpNodeTypeBase:
        pass

    class OpNodeTypeCategoryBase:
        pass

    class ParmBase:
        pass

    class ParmTupleBase:
        pass

    class RopNodeBase:
        pass

    class SopNodeBase:
        pass

    class hipFileBase:
        pass

    class playbarBase:
        pass

    class qtBase:
        pass

    class renderMethodBase:
        pass

    class ropRenderEventTypeBase:
        pass

    class severityTypeBase:
        pass

    class textBase:
        pass

    class uiBase:
        pass


__all__ = [
    "DesktopBase",
    "EnumValueBase",
    "ErrorBase",
    "LoadWarningBase",
    "LopNodeBase",
    "NodeBase",
    "NodeTypeBase",
    "NodeTypeCategoryBase",
    "NotAvailableBase",
    "OpNodeBase",
    "OpNodeTypeBase",
    "OpNodeTypeCategoryBase",
    "OperationFailedBase",
    "PaneTabBase",
    "ParmBase",
    "ParmTupleBase",
    "PythonPanelBase",
    "PythonPanelInterfaceBase",
    "RopNodeBase",
    "SopNodeBase",
    "TakeBase",
    "hipFileBase",
    "paneTabTypeBase",
    "playbarBase",
    "pypanelBase",
    "qtBase",
    "renderMethodBase",
    "ropRenderEventTypeBase",
    "severityTypeBase",
    "takesBase",
    "textBase",
    "uiBase",
]
