"""A fake of the little of ``pxr.Usd`` that ``hou.LopNode.stage()`` hands back and Farmhand reads: the
render settings and render products of a LOP node's stage (tests only; Pixar's ``pxr`` is not installed).

Only the calls the glue makes exist, with pxr's names and meanings: ``Stage.GetPrimAtPath``,
``Stage.GetMetadata("renderSettingsPrimPath")``, ``Prim.IsValid``/``GetTypeName``/``GetPath``/
``GetRelationship``/``GetAttribute``, ``Relationship.GetForwardedTargets`` and ``Attribute.Get(time)``.
A missing prim, relationship or attribute is an invalid object that is false, as in pxr.

What a stage holds comes from the LOP node's scene spec:

* ``render_settings``: the RenderSettings prim (default ``/Render/rendersettings``), which the stage also
  names as its ``renderSettingsPrimPath``;
* ``products``: ``{prim path: productName}``; by default one ``/Render/Products/renderproduct`` named by
  the LOP's ``picture`` parm, as Karma Render Settings makes it.

Houdini authors what a LOP computes for the frame it cooks: the stage of a cook at frame F holds F's
product names (``$F4`` expanded for F) whatever time they are read at, so a caller cooks each frame it
needs (``stage(frame=F)``).
"""

from __future__ import annotations

from typing import Any, Optional

DEFAULT_SETTINGS = "/Render/rendersettings"
DEFAULT_PRODUCT = "/Render/Products/renderproduct"


class Attribute:
    def __init__(self, value: Any = None, valid: bool = False) -> None:
        self._value, self._valid = value, valid

    def IsValid(self) -> bool:
        return self._valid

    def __bool__(self) -> bool:
        return self._valid

    def Get(self, time: Any = None) -> Any:
        return self._value if self._valid else None


class Relationship:
    def __init__(self, targets: Optional[list[str]] = None) -> None:
        self._targets = targets

    def IsValid(self) -> bool:
        return self._targets is not None

    def __bool__(self) -> bool:
        return self._targets is not None

    def GetForwardedTargets(self) -> list[str]:
        return list(self._targets or [])


class Prim:
    def __init__(self, path: str, type_name: str = "", attributes: Optional[dict[str, Any]] = None,
                 relationships: Optional[dict[str, list[str]]] = None) -> None:
        self._path, self._type = path, type_name
        self._attributes = attributes or {}
        self._relationships = relationships or {}

    def IsValid(self) -> bool:
        return bool(self._type)

    def __bool__(self) -> bool:
        return bool(self._type)

    def GetPath(self) -> str:
        return self._path

    def GetTypeName(self) -> str:
        return self._type

    def GetAttribute(self, name: str) -> Attribute:
        return Attribute(self._attributes[name], True) if name in self._attributes else Attribute()

    def GetRelationship(self, name: str) -> Relationship:
        return Relationship(self._relationships.get(name))


class Stage:
    def __init__(self, prims: dict[str, Prim], settings: str) -> None:
        self._prims, self._settings = prims, settings

    def GetPrimAtPath(self, path: Any) -> Prim:
        return self._prims.get(str(path), Prim(str(path)))

    def GetMetadata(self, key: str) -> Any:
        return self._settings if key == "renderSettingsPrimPath" else None


def cook(spec: dict[str, Any], picture: str, expand: Any) -> Stage:
    """The stage a LOP node of ``spec`` outputs, cooked by ``expand(text)`` (which expands ``$F4`` and
    the other variables for the cook's frame); ``picture`` is its ``picture`` parm's raw value."""
    settings = str(spec.get("render_settings", DEFAULT_SETTINGS))
    products = dict(spec.get("products") or {DEFAULT_PRODUCT: picture})
    prims = {path: Prim(path, "RenderProduct", {"productName": expand(str(name))})
             for path, name in products.items()}
    prims[settings] = Prim(settings, "RenderSettings", relationships={"products": list(products)})
    return Stage(prims, settings)
