"""mypy-only checks that the fake's module-level functions match ``hou``'s (types-houdini) signatures.

Classes are checked as overrides of their stub bases (see :mod:`fake_hou._stubs`). Functions have no base,
so each is assigned to a variable first bound to the real function: mypy then reports
``Incompatible types in assignment`` when the fake's signature does not fit where the real one is used
(a missing or renamed parameter, a narrower parameter type, a wider return type).
Run: ``.venv/bin/mypy --strict tests/fakes/hou/fake_hou python/farmhand/houdini/worker.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import hou

    import fake_hou

    def _module_functions() -> None:
        f01 = hou.node
        f01 = fake_hou.node
        f02 = hou.selectedNodes
        f02 = fake_hou.selectedNodes
        f03 = hou.frame
        f03 = fake_hou.frame
        f04 = hou.intFrame
        f04 = fake_hou.intFrame
        f05 = hou.setFrame
        f05 = fake_hou.setFrame
        f06 = hou.fps
        f06 = fake_hou.fps
        f07 = hou.applicationVersion
        f07 = fake_hou.applicationVersion
        f08 = hou.applicationVersionString
        f08 = fake_hou.applicationVersionString
        f09 = hou.applicationName
        f09 = fake_hou.applicationName
        f10 = hou.isUIAvailable
        f10 = fake_hou.isUIAvailable
        f11 = hou.getenv
        f11 = fake_hou.getenv
        f12 = hou.putenv
        f12 = fake_hou.putenv
        f13 = hou.allowEnvironmentToOverwriteVariable
        f13 = fake_hou.allowEnvironmentToOverwriteVariable
        f14 = hou.fileReferences
        f14 = fake_hou.fileReferences
        f15 = hou.hscript
        f15 = fake_hou.hscript
        f16 = hou.exit
        f16 = fake_hou.exit
        del f01, f02, f03, f04, f05, f06, f07, f08, f09, f10, f11, f12, f13, f14, f15, f16

    def _methods(  # noqa: PLR0915 - a flat list, one pair of lines per method
        rop: hou.RopNode, fake_rop: fake_hou.RopNode, parm: hou.Parm, fake_parm: fake_hou.Parm,
        tup: hou.ParmTuple, fake_tup: fake_hou.ParmTuple,
        kind: hou.OpNodeType, fake_kind: fake_hou.OpNodeType,
        cat: hou.NodeTypeCategory, fake_cat: fake_hou.NodeTypeCategory,
    ) -> None:
        # Overrides are checked by the stub bases, but mypy does not compare parameter *names* there;
        # assignments do, and callers use keywords (render(frame_range=..., verbose=True)).
        m01 = rop.render
        m01 = fake_rop.render
        m02 = rop.inputDependencies
        m02 = fake_rop.inputDependencies
        m03 = rop.addRenderEventCallback
        m03 = fake_rop.addRenderEventCallback
        m04 = rop.removeRenderEventCallback
        m04 = fake_rop.removeRenderEventCallback
        m05 = rop.parm
        m05 = fake_rop.parm
        m06 = rop.parmTuple
        m06 = fake_rop.parmTuple
        m07 = rop.evalParm
        m07 = fake_rop.evalParm
        m08 = rop.errors
        m08 = fake_rop.errors
        m09 = rop.warnings
        m09 = fake_rop.warnings
        m10 = rop.node
        m10 = fake_rop.node
        m11 = rop.bypass
        m11 = fake_rop.bypass
        m12 = rop.parms
        m12 = fake_rop.parms
        m13 = parm.eval
        m13 = fake_parm.eval
        m14 = parm.evalAtFrame
        m14 = fake_parm.evalAtFrame
        m15 = parm.evalAsString
        m15 = fake_parm.evalAsString
        m16 = parm.evalAsStringAtFrame
        m16 = fake_parm.evalAsStringAtFrame
        m17 = parm.evalAsInt
        m17 = fake_parm.evalAsInt
        m18 = parm.evalAsIntAtFrame
        m18 = fake_parm.evalAsIntAtFrame
        m19 = parm.evalAsFloat
        m19 = fake_parm.evalAsFloat
        m20 = parm.evalAsFloatAtFrame
        m20 = fake_parm.evalAsFloatAtFrame
        m21 = parm.unexpandedString
        m21 = fake_parm.unexpandedString
        m22 = parm.set
        m22 = fake_parm.set
        m23 = parm.rawValue
        m23 = fake_parm.rawValue
        m24 = parm.menuItems
        m24 = fake_parm.menuItems
        m25 = tup.eval
        m25 = fake_tup.eval
        m38 = hou.hipFile.path
        m38 = fake_hou.hipFile.path
        m39 = hou.hipFile.hasUnsavedChanges
        m39 = fake_hou.hipFile.hasUnsavedChanges
        m40 = hou.hipFile.isNewFile
        m40 = fake_hou.hipFile.isNewFile
        m41 = hou.hipFile.saveAndIncrementFileName
        m41 = fake_hou.hipFile.saveAndIncrementFileName
        m42 = hou.qt.mainWindow
        m42 = fake_hou.qt.mainWindow
        m43 = rop.children
        m43 = fake_rop.children
        m44 = rop.parent
        m44 = fake_rop.parent
        m45 = rop.isBypassed
        m45 = fake_rop.isBypassed
        m46 = parm.path
        m46 = fake_parm.path
        m47 = rop.type
        m47 = fake_rop.type
        m48 = rop.isLocked
        m48 = fake_rop.isLocked
        m49 = rop.removeAllRenderEventCallbacks
        m49 = fake_rop.removeAllRenderEventCallbacks
        m50 = parm.isDisabled
        m50 = fake_parm.isDisabled
        m51 = hou.hipFile.basename
        m51 = fake_hou.hipFile.basename
        m52 = kind.description
        m52 = fake_kind.description
        m53 = hou.hipFile.name
        m53 = fake_hou.hipFile.name
        m54 = rop.name
        m54 = fake_rop.name
        m55 = rop.path
        m55 = fake_rop.path
        m56 = parm.node
        m56 = fake_parm.node
        m57 = parm.name
        m57 = fake_parm.name
        m58 = kind.name
        m58 = fake_kind.name
        del m38, m39, m40, m41, m42, m43, m44, m45, m46, m47, m48, m49, m50, m51, m52, m53, m54, m55, m56
        del m57, m58
        m26 = hou.hipFile.load
        m26 = fake_hou.hipFile.load
        m27 = hou.hipFile.save
        m27 = fake_hou.hipFile.save
        m28 = hou.text.expandString
        m28 = fake_hou.text.expandString
        m29 = hou.text.expandStringAtFrame
        m29 = fake_hou.text.expandStringAtFrame
        m30 = hou.ui.displayMessage
        m30 = fake_hou.ui.displayMessage
        m31 = hou.ui.setStatusMessage
        m31 = fake_hou.ui.setStatusMessage
        m36 = hou.ui.selectFromList
        m36 = fake_hou.ui.selectFromList
        m37 = hou.ui.readInput
        m37 = fake_hou.ui.readInput
        del m36, m37
        m32 = kind.nameWithCategory
        m32 = fake_kind.nameWithCategory
        m33 = kind.category
        m33 = fake_kind.category
        m34 = cat.name
        m34 = fake_cat.name
        m35 = rop.inputs
        m35 = fake_rop.inputs
        m59 = parm.expression
        m59 = fake_parm.expression
        del m59
        del m01, m02, m03, m04, m05, m06, m07, m08, m09, m10, m11, m12, m13, m14, m15, m16, m17
        del m18, m19, m20, m21, m22, m23, m24, m25, m26, m27, m28, m29, m30, m31, m32, m33, m34, m35

    def _panes(
        desk: hou.Desktop, fake_desk: fake_hou.Desktop, tab: hou.PaneTab, fake_tab: fake_hou.PaneTab,
        panel: hou.PythonPanel, fake_panel: fake_hou.PythonPanel,
        face: hou.PythonPanelInterface, fake_face: fake_hou.PythonPanelInterface,
    ) -> None:
        p01 = hou.ui.curDesktop
        p01 = fake_hou.ui.curDesktop
        p02 = hou.ui.paneTabs
        p02 = fake_hou.ui.paneTabs
        p03 = hou.pypanel.installFile
        p03 = fake_hou.pypanel.installFile
        p04 = hou.pypanel.interfacesInFile
        p04 = fake_hou.pypanel.interfacesInFile
        p05 = hou.pypanel.interfaces
        p05 = fake_hou.pypanel.interfaces
        p06 = hou.pypanel.interfaceByName
        p06 = fake_hou.pypanel.interfaceByName
        p07 = desk.createFloatingPaneTab
        p07 = fake_desk.createFloatingPaneTab
        p08 = desk.paneTabs
        p08 = fake_desk.paneTabs
        p09 = desk.name
        p09 = fake_desk.name
        p10 = tab.type
        p10 = fake_tab.type
        p11 = tab.name
        p11 = fake_tab.name
        p12 = tab.isCurrentTab
        p12 = fake_tab.isCurrentTab
        p13 = tab.setIsCurrentTab
        p13 = fake_tab.setIsCurrentTab
        p14 = tab.isFloating
        p14 = fake_tab.isFloating
        p15 = tab.close
        p15 = fake_tab.close
        p16 = panel.activeInterface
        p16 = fake_panel.activeInterface
        p17 = panel.setActiveInterface
        p17 = fake_panel.setActiveInterface
        p18 = panel.activeInterfaceRootWidget
        p18 = fake_panel.activeInterfaceRootWidget
        p19 = face.name
        p19 = fake_face.name
        p20 = face.label
        p20 = fake_face.label
        p21 = face.filePath
        p21 = fake_face.filePath
        del p01, p02, p03, p04, p05, p06, p07, p08, p09, p10, p11, p12
        del p13, p14, p15, p16, p17, p18, p19, p20, p21

    def _network(node: hou.OpNode, fake_node: fake_hou.OpNode) -> None:
        n01 = node.createNode
        n01 = fake_node.createNode
        n02 = node.destroy
        n02 = fake_node.destroy
        n03 = node.hdaModule
        n03 = fake_node.hdaModule
        n04 = hou.unsetenv
        n04 = fake_hou.unsetenv
        del n01, n02, n03, n04

    def _takes(take: hou.Take, fake_take: fake_hou.Take) -> None:
        t01 = hou.takes.takes
        t01 = fake_hou.takes.takes
        t02 = hou.takes.currentTake
        t02 = fake_hou.takes.currentTake
        t03 = hou.takes.setCurrentTake
        t03 = fake_hou.takes.setCurrentTake
        t04 = hou.takes.rootTake
        t04 = fake_hou.takes.rootTake
        t05 = hou.takes.findTake
        t05 = fake_hou.takes.findTake
        t06 = take.name
        t06 = fake_take.name
        t07 = take.path
        t07 = fake_take.path
        t08 = take.isCurrent
        t08 = fake_take.isCurrent
        del t01, t02, t03, t04, t05, t06, t07, t08

    def _lop(lop: hou.LopNode, fake_lop: fake_hou.LopNode) -> None:
        l01 = lop.stage
        l01 = fake_lop.stage
        del l01

    def _classes_are_the_stub_classes() -> None:
        # A fake class must be usable wherever code typed against hou expects the real one.
        rop: type[hou.RopNode] = fake_hou.RopNode
        lop: type[hou.LopNode] = fake_hou.LopNode
        sop: type[hou.SopNode] = fake_hou.SopNode
        op: type[hou.OpNode] = fake_hou.OpNode
        node: type[hou.Node] = fake_hou.Node
        parm: type[hou.Parm] = fake_hou.Parm
        hip: type[hou.hipFile] = fake_hou.hipFile
        txt: type[hou.text] = fake_hou.text
        ui: type[hou.ui] = fake_hou.ui
        qt: type[hou.qt] = fake_hou.qt
        failed: type[hou.OperationFailed] = fake_hou.OperationFailed
        warning: type[hou.LoadWarning] = fake_hou.LoadWarning
        enum: type[hou.EnumValue] = fake_hou.EnumValue
        del rop, lop, sop, op, node, parm, hip, txt, ui, qt, failed, warning, enum
