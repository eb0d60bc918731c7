"""Node types the fake knows: category, class, default parameters (as a fresh node of that type has)."""

from __future__ import annotations

from typing import Any

_RANGE: dict[str, Any] = {
    "trange": 0,
    "f1": {"expr": "$FSTART"},
    "f2": {"expr": "$FEND"},
    "f3": 1,
    "take": "_current_",
}
_IMAGE = "$HIP/render/$HIPNAME.$OS.$F4.exr"
#: What a USD render ROP renders: a LOP node's stage, its RenderSettings prim, a Hydra delegate.
_LOP: dict[str, Any] = {"loppath": "/stage/karmarendersettings1", "rendersettings": "/Render/rendersettings",
                        "renderer": "BRAY_HdKarma"}
_GEO = "$HIP/geo/$HIPNAME.$OS.$F4.bgeo.sc"

#: type name -> (category name, fake class name, default parms)
NODE_TYPES: dict[str, tuple[str, str, dict[str, Any]]] = {
    # /out (Driver) ROPs
    "ifd": ("Driver", "RopNode", {
        **_RANGE, "vm_picture": _IMAGE, "vm_alfprogress": 0, "vm_verbose": 0, "override_camerares": 0,
        "res_fraction": "specific", "res_overridex": 1920, "res_overridey": 1080,
    }),
    "karma": ("Driver", "RopNode", {**_RANGE, "picture": _IMAGE, "alfprogress": 0, "verbosity": "", **_LOP}),
    # Its Output Image is an override, empty as a new node has it: the stage's RenderProducts name the files.
    "usdrender": ("Driver", "RopNode", {**_RANGE, "outputimage": "", "alfprogress": 0, "verbosity": "",
                                        **_LOP}),
    # The USD ROP writes a LOP network's stage to a USD file (one file for the range by default).
    "usd": ("Driver", "RopNode", {**_RANGE, "loppath": "", "lopoutput": "$HIP/usd/$OS.usd"}),
    "geometry": ("Driver", "RopNode", {**_RANGE, "sopoutput": _GEO, "soppath": "", "alfprogress": 0,
                                       "initsim": 0}),
    "alembic": ("Driver", "RopNode", {**_RANGE, "filename": "$HIP/$OS.abc"}),
    "opengl": ("Driver", "RopNode", {**_RANGE, "picture": _IMAGE}),
    "Redshift_ROP": ("Driver", "RopNode", {**_RANGE, "RS_outputFileNamePrefix": _IMAGE}),
    "arnold": ("Driver", "RopNode", {**_RANGE, "ar_picture": _IMAGE}),
    # Merge and Fetch have no frame range parameters (SideFX's node help lists none).
    "merge": ("Driver", "RopNode", {}),
    "fetch": ("Driver", "RopNode", {"source": ""}),
    "null": ("Driver", "RopNode", dict(_RANGE)),
    # The Wedge ROP renders its driver once per wedge; a scene lists its wedges as
    # "wedges": [[["/obj/geo1/box/scale", 2.0]], ...] (parm path and value per change).
    "wedge": ("Driver", "RopNode", {"driver": "", "prefix": "wedge"}),
    # Switch renders the input "index" selects; Batch renders its inputs' whole range as one batch.
    "switch": ("Driver", "RopNode", {"index": 0}),
    "batch": ("Driver", "RopNode", dict(_RANGE)),
    "ropnet": ("Driver", "RopNode", {}),
    # Farmhand's own ROP (otls/farmhand.hda), with the parameters of its DialogScript
    "farmhand": ("Driver", "RopNode", {
        "trange": 1, "f1": {"expr": "$FSTART"}, "f2": {"expr": "$FEND"}, "f3": 1, "use_rop_range": 0,
        "preset": "auto", "chunk_policy": "auto", "chunk_size": 5, "nodes": "", "priority": 50,
        "single_node": 0, "job_name": "", "usd_mode": "rop", "take": "_current_", "groups": "", "env": "",
    }),
    # SOP-level ROPs and the file cache
    "rop_geometry": ("Sop", "RopNode", {**_RANGE, "sopoutput": _GEO, "alfprogress": 0}),
    "rop_alembic": ("Sop", "RopNode", {**_RANGE, "filename": "$HIP/$OS.abc"}),
    "filecache": ("Sop", "SopNode", {**_RANGE, "file": _GEO}),
    "file": ("Sop", "SopNode", {"file": "default.bgeo"}),
    # LOP nodes (a stage a USD render ROP renders)
    # Karma Render Settings: a RenderSettings prim and one RenderProduct named by its Output Picture
    # (a scene may list "products": {prim path: productName} and "render_settings" instead).
    "karmarendersettings": ("Lop", "LopNode", {"picture": _IMAGE}),
    # containers
    "geo": ("Object", "OpNode", {}),
    "subnet": ("Object", "OpNode", {}),
    "obj": ("Manager", "OpNode", {}),
    "out": ("Manager", "OpNode", {}),
    "stage": ("Manager", "OpNode", {}),
    "root": ("Director", "OpNode", {}),
}

#: Containers made for paths a scene names implicitly.
CONTAINER_TYPES = {"/obj": "obj", "/out": "out", "/stage": "stage"}

#: Parameters whose values are file references when a scene does not say otherwise.
FILE_PARMS = {
    "vm_picture", "picture", "outputimage", "sopoutput", "filename", "RS_outputFileNamePrefix",
    "ar_picture", "file",
}

#: ROP types whose ALF_PROGRESS counts one frame (0..100 per frame); others count the whole range.
PER_FRAME_PROGRESS = {"ifd", "karma", "usdrender", "opengl", "Redshift_ROP", "arnold"}

TRANGE_TOKENS = ("off", "normal", "on", "stage")


def type_info(type_name: str) -> tuple[str, str, dict[str, Any]]:
    if type_name in NODE_TYPES:
        return NODE_TYPES[type_name]
    raise ValueError(f"fake hou does not know node type {type_name!r}; add it to fake_hou/_types.py")
