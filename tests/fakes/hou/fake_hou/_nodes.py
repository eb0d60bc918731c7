"""Fake nodes, node types and parameters built from a fake scene."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Optional, Union, cast

from fake_hou import _session
from fake_hou._session import SESSION, guard
from fake_hou._stubs import (
    EnumValueBase,
    LopNodeBase,
    NodeBase,
    NodeTypeBase,
    NodeTypeCategoryBase,
    OpNodeBase,
    OpNodeTypeBase,
    OpNodeTypeCategoryBase,
    ParmBase,
    ParmTupleBase,
    RopNodeBase,
    SopNodeBase,
)
from fake_hou._types import FILE_PARMS, TRANGE_TOKENS, type_info
from fake_hou._values import EnumValue, OperationFailed

if TYPE_CHECKING:
    from typing_extensions import Self

ParmValue = Union[int, float, str]


class NodeTypeCategory(NodeTypeCategoryBase):
    def __init__(self, name: str) -> None:
        self._name = name

    def name(self) -> str:
        return self._name

    def label(self) -> str:
        return self._name


class OpNodeTypeCategory(NodeTypeCategory, OpNodeTypeCategoryBase):
    pass


class NodeType(NodeTypeBase):
    def __init__(self, name: str, category: str) -> None:
        self._name = name
        self._category = OpNodeTypeCategory(category)

    def name(self) -> str:
        return self._name

    def category(self) -> OpNodeTypeCategory:
        return self._category

    def nameWithCategory(self) -> str:
        return f"{self._category.name()}/{self._name}"

    def description(self) -> str:
        return self._name


class OpNodeType(NodeType, OpNodeTypeBase):
    pass


class Parm(ParmBase):
    """One parameter. Its raw value is a number, a string, or ``{"expr": "..."}`` (an expression)."""

    def __init__(self, node: OpNode, name: str) -> None:
        self._node = node
        self._name = name

    def _raw(self) -> Any:
        from fake_hou._takes import override

        taken, value = override(self._node.path(), self._name)
        return value if taken else self._node._spec["parms"][self._name]

    def node(self) -> OpNode:
        return self._node

    def name(self) -> str:
        return self._name

    def path(self) -> str:
        return f"{self._node.path()}/{self._name}"

    def _eval(self, frame: float | None) -> ParmValue:
        guard()
        raw = self._raw()
        if isinstance(raw, dict):
            text = SESSION.expand(str(raw["expr"]), frame, self._node.name())
            try:
                number = float(text)
            except ValueError:
                return text
            return int(number) if raw.get("type") == "int" else number
        if isinstance(raw, str):
            return SESSION.expand(raw, frame, self._node.name())
        if isinstance(raw, bool):
            return int(raw)
        if isinstance(raw, (int, float)):
            return raw
        raise TypeError(f"fake scene: parm {self.path()} has unsupported value {raw!r}")

    def eval(self) -> int | float | str:
        return self._eval(None)

    def evalAtFrame(self, frame: float) -> int | float | str:
        return self._eval(frame)

    def evalAsFloat(self) -> float:
        return float(self._eval(None))

    def evalAsFloatAtFrame(self, frame: float) -> float:
        return float(self._eval(frame))

    def evalAsInt(self) -> int:
        return int(float(self._eval(None)))

    def evalAsIntAtFrame(self, frame: float) -> int:
        return int(float(self._eval(frame)))

    def evalAsString(self) -> str:
        return self.evalAsStringAtFrame(SESSION.frame)

    def evalAsStringAtFrame(self, frame: float) -> str:
        value = self._eval(frame)
        if self._name == "trange" and isinstance(value, int) and 0 <= value < len(TRANGE_TOKENS):
            return TRANGE_TOKENS[value]
        return str(value)

    def unexpandedString(self) -> str:
        # Real Houdini raises here for a string parm driven by an expression or keyframes too.
        raw = self._raw()
        if not isinstance(raw, str):
            raise OperationFailed(f"Parameter {self.path()} has an expression or keyframes, or is no string")
        return raw

    def expression(self) -> str:
        raw = self._raw()
        if not isinstance(raw, dict):
            raise OperationFailed(f"Parameter {self.path()} has no expression")
        return str(raw["expr"])

    def rawValue(self) -> str:
        raw = self._raw()
        return str(raw["expr"]) if isinstance(raw, dict) else str(raw)

    def menuItems(self) -> tuple[str, ...]:
        if self._name == "trange":
            return TRANGE_TOKENS if self._node.type().name() == "karma" else TRANGE_TOKENS[:3]
        return ()

    def set(
        self,
        value: Any,
        language: EnumValueBase | None = None,
        follow_parm_reference: bool = True,
    ) -> None:
        guard()
        if not isinstance(value, (int, float, str)):
            raise OperationFailed(f"fake hou: cannot set {self.path()} to {value!r}")
        self._node._spec["parms"][self._name] = value
        SESSION.unsaved = True

    def isDisabled(self) -> bool:
        return False


class ParmTuple(ParmTupleBase):
    def __init__(self, node: OpNode, name: str, parms: Sequence[Parm]) -> None:
        self._node = node
        self._name = name
        self._parms = tuple(parms)

    def node(self) -> OpNode:
        return self._node

    def name(self) -> str:
        return self._name

    def __getitem__(self, index: int) -> Parm:
        return self._parms[index]

    def __len__(self) -> int:
        return len(self._parms)

    def eval(self) -> tuple[float, ...] | tuple[str, ...]:
        values = [p.eval() for p in self._parms]
        if all(isinstance(v, (int, float)) for v in values):
            return tuple(float(v) for v in values)
        return tuple(str(v) for v in values)


class Node(NodeBase):
    """Base of every fake node (``hou.Node``); everything lives on :class:`OpNode`."""


class OpNode(Node, OpNodeBase):
    def __init__(self, spec: dict[str, Any]) -> None:
        self._spec = spec
        spec.setdefault("parms", {})
        self._type = OpNodeType(spec["type"], type_info(spec["type"])[0])
        self._errors: list[str] = []
        self._warnings: list[str] = []

    # identity -------------------------------------------------------------------------------------
    def name(self) -> str:
        return str(self._spec["path"]).rstrip("/").rsplit("/", 1)[-1] or "/"

    def path(self) -> str:
        return str(self._spec["path"])

    def type(self) -> OpNodeType:
        return self._type

    def __repr__(self) -> str:
        return f"<hou.{type(self).__name__} {self.path()}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OpNode) and other.path() == self.path()

    def __hash__(self) -> int:
        return hash(self.path())

    # network --------------------------------------------------------------------------------------
    def parent(self) -> Optional[OpNode]:
        guard()
        if self.path() == "/":
            return None
        parent_path = self.path().rsplit("/", 1)[0] or "/"
        return scene_node(parent_path)

    def children(self) -> tuple[OpNode, ...]:
        guard()
        prefix = self.path().rstrip("/") + "/"
        return tuple(
            n for p, n in NODES.items()
            if p != self.path() and p.startswith(prefix) and "/" not in p[len(prefix):]
        )

    def node(self, node_path: str) -> OpNode | None:
        guard()
        return scene_node(resolve_path(self.path(), node_path))

    def inputs(self) -> tuple[Self | None, ...]:
        guard()
        found: list[Self | None] = []
        for path in self._spec.get("inputs", []):
            found.append(cast("Self | None", scene_node(resolve_path(self.path(), path))))
        return tuple(found)

    def createNode(
        self,
        node_type_name: str,
        node_name: Optional[str] = None,
        run_init_scripts: bool = True,
        load_contents: bool = True,
        exact_type_name: bool = False,
        force_valid_node_name: bool = False,
    ) -> OpNode:
        guard()
        base = node_name or f"{node_type_name}1"
        name, n = base, 1
        while f"{self.path().rstrip('/')}/{name}" in NODES:
            n += 1
            name = f"{base.rstrip('0123456789')}{n}"
        build_node({"path": f"{self.path().rstrip('/')}/{name}", "type": node_type_name})
        SESSION.unsaved = True
        created = NODES[f"{self.path().rstrip('/')}/{name}"]
        return created

    def destroy(self, disable_safety_checks: bool = False) -> None:
        guard()
        prefix = self.path().rstrip("/") + "/"
        for path in [p for p in NODES if p == self.path() or p.startswith(prefix)]:
            del NODES[path]
        SESSION.unsaved = True

    # parameters -----------------------------------------------------------------------------------
    def parm(self, parm_path: str) -> Optional[Parm]:
        guard()
        if parm_path in self._spec["parms"]:
            return Parm(self, parm_path)
        return None

    def parmTuple(self, parm_path: str) -> Optional[ParmTuple]:
        guard()
        names = [f"{parm_path}{i}" for i in (1, 2, 3)]
        if all(n in self._spec["parms"] for n in names):
            return ParmTuple(self, parm_path, [Parm(self, n) for n in names])
        return None

    def parms(self) -> tuple[Parm, ...]:
        guard()
        return tuple(Parm(self, n) for n in self._spec["parms"])

    def evalParm(self, parm_path: str) -> int | float | str:
        parm = self.parm(parm_path)
        if parm is None:
            raise OperationFailed(f"Invalid parameter name: {parm_path}")
        return parm.eval()

    def _file_parm_names(self) -> list[str]:
        declared = self._spec.get("file_parms")
        if declared is not None:
            return [str(n) for n in declared]
        return [n for n in self._spec["parms"] if n in FILE_PARMS]

    def hdaModule(self) -> Any:
        """The asset's Python module; only the Wedge ROP's is modelled (getwedges, applyspecificwedge,
        setenvvariable), as Deadline's submitters call it."""
        from fake_hou._wedge import WedgeModule

        if self.type().name() != "wedge":
            raise OperationFailed(f"{self.path()} is not a digital asset with a Python module")
        return WedgeModule()

    # state ----------------------------------------------------------------------------------------
    def errors(self) -> tuple[str, ...]:
        guard()
        return tuple(self._errors)

    def warnings(self) -> tuple[str, ...]:
        guard()
        return tuple(self._warnings)


class _Bypassable(OpNode):
    """Bypass flags exist on ROPs and SOPs (not on every OpNode)."""

    def isBypassed(self) -> bool:
        return bool(self._spec.get("bypassed", False))

    def bypass(self, on: bool) -> None:
        self._spec["bypassed"] = on
        SESSION.unsaved = True


class SopNode(_Bypassable, SopNodeBase):
    pass


_NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})


class LopNode(OpNode, LopNodeBase):
    """A LOP node: its output is a USD stage (a fake of pxr's, :mod:`fake_hou._stage`)."""

    def stage(
        self,
        output_index: int = -1,
        apply_viewport_overrides: bool = False,
        ignore_errors: bool = False,
        use_last_cook_context_options: bool = True,
        apply_post_layers: bool = True,
        frame: float | None = None,
        context_options: Mapping[str, Any] = _NO_OPTIONS,
    ) -> Any:
        """The stage this node outputs, cooked at ``frame`` (default: the current frame)."""
        from fake_hou import _stage

        guard()
        at = SESSION.frame if frame is None else float(frame)
        parm = self.parm("picture")
        picture = parm.evalAsStringAtFrame(at) if parm is not None else ""
        return _stage.cook(self._spec, picture, lambda text: SESSION.expand(text, at, self.name()))


#: Filled in by fake_hou._render (kept there so this module stays about structure).
RenderFn = Callable[..., None]


class RopNode(_Bypassable, RopNodeBase):
    _render_impl: RenderFn | None = None

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self._callbacks: list[Callable[[RopNode, EnumValue, float], None]] = []

    def isLocked(self) -> bool:
        return False

    def inputDependencies(self) -> tuple[tuple[Node, tuple[float, ...]], ...]:
        from fake_hou._render import dependency_plan

        return tuple((node, frames) for node, frames in dependency_plan(self))

    def render(
        self,
        frame_range: Sequence[float] | None = (),
        res: Sequence[int] | None = (),
        output_file: str | None = None,
        output_format: str = "",
        to_flipbook: bool = False,
        quality: int = 2,
        ignore_inputs: bool = False,
        method: Any = None,
        ignore_bypass_flags: bool = False,
        ignore_lock_flags: bool = False,
        verbose: bool = False,
        output_progress: bool = False,
    ) -> None:
        from fake_hou._render import render

        guard()
        render(
            self,
            frame_range=tuple(frame_range or ()),
            output_file=output_file,
            ignore_inputs=ignore_inputs,
            method=method,
            ignore_bypass_flags=ignore_bypass_flags,
            verbose=verbose,
            output_progress=output_progress,
        )

    def addRenderEventCallback(
        self, callback: Callable[[RopNode, EnumValue, float], None], run_before_script: bool = False
    ) -> None:
        if callback not in self._callbacks:
            self._callbacks.append(callback)

    def removeRenderEventCallback(self, callback: Callable[[RopNode, EnumValue, float], None]) -> None:
        if callback not in self._callbacks:
            raise OperationFailed("Callback was not registered")
        self._callbacks.remove(callback)

    def removeAllRenderEventCallbacks(self) -> None:
        self._callbacks.clear()


NODES: dict[str, OpNode] = {}


def resolve_path(base: str, path: str) -> str:
    full = path if path.startswith("/") else base.rstrip("/") + "/" + path
    parts: list[str] = []
    for part in full.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)


def scene_node(path: str) -> OpNode | None:
    return NODES.get(path.rstrip("/") or "/")


def build_nodes(specs: Sequence[dict[str, Any]]) -> None:
    """Create the scene's nodes with their type defaults, plus the containers their paths imply."""
    NODES.clear()
    NODES["/"] = OpNode({"path": "/", "type": "root"})
    for raw in specs:
        build_node(raw)


def build_node(raw: dict[str, Any]) -> None:
    """One node of a scene (or created in the session) with its type defaults and implied parents."""
    spec = dict(raw)
    kind = str(spec["type"])
    _category, cls_name, defaults = type_info(kind)
    spec["parms"] = {**defaults, **dict(spec.get("parms", {}))}
    path = resolve_path("/", str(spec["path"]))
    spec["path"] = path
    _ensure_parents(path)
    cls: type[OpNode] = {"RopNode": RopNode, "SopNode": SopNode, "LopNode": LopNode}.get(cls_name, OpNode)
    NODES[path] = cls(spec)
    if kind == "filecache":
        # The file cache SOP renders through a geometry ROP inside it, like the real asset.
        inner = {
            "path": path + "/render",
            "type": "rop_geometry",
            "parms": {**spec["parms"], "sopoutput": spec["parms"]["file"]},
            "seconds_per_frame": spec.get("seconds_per_frame", 0.0),
            "failures": spec.get("failures", []),
            "file_parms": [],
        }
        inner["parms"].pop("file", None)
        NODES[inner["path"]] = RopNode(inner)


def _ensure_parents(path: str) -> None:
    parts = path.strip("/").split("/")[:-1]
    current = ""
    for part in parts:
        current += "/" + part
        if current not in NODES:
            kind = _session_container(current)
            NODES[current] = OpNode({"path": current, "type": kind})


def _session_container(path: str) -> str:
    from fake_hou._types import CONTAINER_TYPES

    if path in CONTAINER_TYPES:
        return CONTAINER_TYPES[path]
    return "geo" if path.count("/") == 2 and path.startswith("/obj/") else "subnet"


__all__ = [
    "NODES",
    "LopNode",
    "Node",
    "NodeType",
    "NodeTypeCategory",
    "OpNode",
    "OpNodeType",
    "OpNodeTypeCategory",
    "Parm",
    "ParmTuple",
    "RopNode",
    "SopNode",
    "_session",
    "build_nodes",
    "resolve_path",
    "scene_node",
]
