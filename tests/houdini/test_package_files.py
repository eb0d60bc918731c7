"""The files Houdini reads (package, shelf, ROP menu, Python panel, expanded HDA) are well-formed, match the
structure of real samples (shared/reference/houdini-facts.md §3-4) and call functions that exist."""

from __future__ import annotations

import json
import re
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from fakes import houdini_packages
from farmhand.houdini import entry, hda, panel

ROOT = Path(__file__).resolve().parents[2]
HDA = ROOT / "otls" / "farmhand.hda"
ENTRY_CALL = re.compile(
    r"^import farmhand\.houdini\.entry as farmhand_entry; farmhand_entry\.(\w+)\(kwargs\)$")


def test_package_json() -> None:
    package = json.loads((ROOT / "houdini_package.json").read_text())
    env = {k: v for item in package["env"] for k, v in item.items()}
    assert env["FARMHAND"] == "$HOUDINI_PACKAGE_PATH"
    # The dispatcher started in Houdini inherits it.
    assert env["FARMHAND_NODE_PACKAGE"] == "$FARMHAND/python/farmhand"
    assert env["PYTHONPATH"]["method"] == "prepend"
    assert env["PYTHONPATH"]["value"] == ["$FARMHAND/python", "$FARMHAND_DEPS"]
    assert package["hpath"] == "$FARMHAND"
    assert package["enable"] == "houdini_version >= '19.5' and houdini_version < '22.0'"
    assert set(package) == {"load_package_once", "enable", "env", "hpath"}


@pytest.mark.parametrize("houdini", ["19.5", "20.0", "20.5", "21.0"])
@pytest.mark.parametrize("system", ["linux", "macos", "windows"])
def test_package_json_finds_the_deps_the_installer_writes(houdini: str, system: str, tmp_path: Path) -> None:
    """Used without the installer (HOUDINI_PACKAGE_DIR), the package still puts the installer's deps
    folder for this Houdini's Python and OS on PYTHONPATH (applied as Houdini applies it)."""
    from .test_installer import inst

    checkout = tmp_path / "farmhand"
    checkout.mkdir()
    (checkout / "farmhand.json").write_text((ROOT / "houdini_package.json").read_text())
    python = inst.python_for(houdini)
    session = houdini_packages.Session(houdini, f"python{python}", system)
    env = houdini_packages.apply(checkout / "farmhand.json", session, {})
    assert env is not None
    assert env["FARMHAND_DEPS"] == inst.deps_dir(checkout, python, system).as_posix()
    written = tmp_path / "pref" / "farmhand.json"
    written.parent.mkdir()
    written.write_text(json.dumps(inst.package_json(checkout, inst.deps_dir(checkout, python, system))))
    installed = houdini_packages.apply(written, session, {})
    assert installed is not None and installed["FARMHAND_DEPS"] == env["FARMHAND_DEPS"]
    assert "FARMHAND_PYTHON" not in installed  # the dispatcher launcher's variable stays the launcher's


def test_scripts_folder_does_not_shadow_houdini_startup_scripts() -> None:
    names = {p.name for p in (ROOT / "scripts").iterdir()}
    assert not names & {"123.py", "456.py", "pythonrc.py", "uiready.py", "123.cmd", "456.cmd", "python"}
    assert not any(re.fullmatch(r"python\d\.\d+libs", p.name) for p in ROOT.iterdir())


def test_shelf() -> None:
    root = ET.parse(ROOT / "toolbar" / "farmhand.shelf").getroot()
    assert root.tag == "shelfDocument"
    shelf = root.find("toolshelf")
    assert shelf is not None and shelf.get("name") == "farmhand" and shelf.get("label") == "Farmhand"
    members = [m.get("name") for m in shelf.findall("memberTool")]
    tools = {t.get("name"): t for t in root.findall("tool")}
    assert members == list(tools)
    assert [t.get("label") for t in tools.values()] == ["Render on Farm", "Farm Panel", "Scan for Nodes"]
    for tool in tools.values():
        script = tool.find("script")
        assert script is not None and script.get("scriptType") == "python"
        call = ENTRY_CALL.match((script.text or "").strip())
        assert call, script.text
        assert callable(getattr(entry, call.group(1)))


def _expression_function(body: str) -> Any:
    namespace: dict[str, Any] = {}
    exec("def expression(kwargs):\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    "), namespace)
    return namespace["expression"]


def test_opmenu(make_scene: Any, hou_session: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    root = ET.parse(ROOT / "OPmenu.xml").getroot()
    assert root.tag == "menuDocument"
    menus = root.findall("menu")
    assert len(menus) == 1
    items = menus[0].findall("scriptItem")
    assert [i.get("id") for i in items] == ["farmhand.render_node", "farmhand.render_node_frames"]
    assert [i.findtext("label") for i in items] == ["Render on Farmhand...", "Render Frames on Farmhand..."]
    make_scene([{"path": "/out/m", "type": "ifd"}, {"path": "/obj/geo1/f", "type": "file"}])
    for item in items:
        call = ENTRY_CALL.match((item.findtext("scriptCode") or "").strip())
        assert call and callable(getattr(entry, call.group(1)))
        expression = _expression_function(item.findtext("context/expression") or "")
        assert expression({"node": hou_session.node("/out/m")}) is True
        assert expression({"node": hou_session.node("/obj/geo1/f")}) is False
        assert expression({}) is False
        # Farmhand missing (not installed on this Houdini): the item hides, the menu keeps working.
        monkeypatch.setitem(sys.modules, "farmhand.houdini.entry", None)
        assert expression({"node": hou_session.node("/out/m")}) is False
        monkeypatch.undo()


def test_python_panel(monkeypatch: pytest.MonkeyPatch) -> None:
    root = ET.parse(ROOT / "python_panels" / "farmhand.pypanel").getroot()
    assert root.tag == "pythonPanelDocument"
    item = root.find("interfacesMenu/interfaceItem")
    interface = root.find("interface")
    assert item is not None and interface is not None
    assert item.get("name") == interface.get("name") == panel.INTERFACE  # what the shelf's Farm Panel opens
    assert interface.get("label") == "Farmhand"
    assert interface.find("includeInPaneTabMenu") is not None
    made: list[Any] = []
    monkeypatch.setattr(entry, "create_panel_widget", lambda kwargs: made.append(kwargs) or "widget")
    namespace: dict[str, Any] = {"kwargs": {"paneTab": "pane"}}
    exec(interface.findtext("script") or "", namespace)
    assert namespace["onCreateInterface"]() == "widget"
    assert made == [{"paneTab": "pane"}]


def encode_section(name: str) -> str:
    """Houdini's on-disk names for HDA sections: ``_``→``__``, ``/``→``_1``, ``:``→``_8``."""
    return name.replace("_", "__").replace("/", "_1").replace(":", "_8")


def _sections(folder: Path) -> dict[str, str]:
    lines = (folder / "Sections.list").read_text().splitlines()
    assert lines[0] == '""'
    pairs = [line.split("\t") for line in lines[1:]]
    assert all(len(p) == 2 for p in pairs), lines
    assert all(file == encode_section(section) for file, section in pairs)
    listed = {file: section for file, section in pairs}
    on_disk = {p.name for p in folder.iterdir()} - {"Sections.list"}
    assert set(listed) == on_disk
    return listed


def test_expanded_hda_layout() -> None:
    library = _sections(HDA)
    assert library == {"INDEX__SECTION": "INDEX_SECTION", "houdini.hdalibrary": "houdini.hdalibrary",
                       "Driver_1farmhand": "Driver/farmhand"}
    assert (HDA / "houdini.hdalibrary").read_bytes() == b""
    index = (HDA / "INDEX__SECTION").read_text().splitlines()
    keys = [line[:14] for line in index if line]
    expected = ("Operator", "Label", "Path", "Icon", "Table", "License", "Extra", "User", "Inputs", "Subnet",
                "Python", "Empty", "Modified")
    assert keys == [f"{k}:".ljust(14) for k in expected]
    values = {line[:14].strip(" :"): line[14:] for line in index if line}
    assert values["Operator"] == "farmhand" and values["Table"] == "Driver"
    assert values["Path"] == "oplib:/Driver/farmhand?Driver/farmhand"
    asset = _sections(HDA / "Driver_1farmhand")
    assert list(asset) == ["DialogScript", "CreateScript", "TypePropertiesOptions", "Help", "Tools.shelf",
                           "PythonModule", "ExtraFileOptions"]
    inputs = re.fullmatch(r"(\d+) to (\d+)", values["Inputs"])
    assert inputs is not None
    low, high = int(inputs.group(1)), int(inputs.group(2))
    dialog = (HDA / "Driver_1farmhand" / "DialogScript").read_text()
    assert len(re.findall(r"^    inputlabel\t\d+\t", dialog, re.M)) == high and low == 0


def test_dialog_script_parms_and_callback() -> None:
    folder = HDA / "Driver_1farmhand"
    dialog = (folder / "DialogScript").read_text()
    assert dialog.startswith("# Dialog script for farmhand automatically generated\n")
    assert dialog.count("{") == dialog.count("}")
    assert re.search(r"^    name\tfarmhand$", dialog, re.M)
    assert re.search(r'^    label\t"Farmhand"$', dialog, re.M)
    names = re.findall(r'^\s+name\s+"(\w+)"', dialog, re.M)
    assert len(names) == len(set(names))
    wanted = {"execute", "renderpreview", "executebackground", "renderdialog", "trange", "f", "use_rop_range",
              "preset", "chunk_policy", "chunk_size", "nodes", "priority", "single_node", "job_name",
              "submit"}
    assert wanted <= set(names)
    for base in ("execute", "trange", "f"):
        block = dialog[dialog.index(f'name    "{base}"'):]
        assert block.splitlines()[1].strip() == "baseparm"
    callbacks = re.findall(r'parmtag \{ "script_callback" "([^"]+)" \}', dialog)
    assert callbacks == ["hou.phm().hda_submit(kwargs)"]
    module = (folder / "PythonModule").read_text().splitlines()
    assert len(module) == 1 and module[0].startswith("from farmhand.houdini.entry import hda_submit")
    assert callable(entry.hda_submit)
    # Every parameter the glue reads exists on the asset.
    read = set(re.findall(r'_eval_(?:int|float|str)\(node, "(\w+)"', Path(hda.__file__).read_text()))
    assert {"trange", "priority", "chunk_policy", "nodes"} <= read
    assert read <= set(names)  # (f1-f3, read too, are the components of the "f" base parm)


def test_other_asset_sections() -> None:
    folder = HDA / "Driver_1farmhand"
    options = json.loads((folder / "ExtraFileOptions").read_text())
    assert options["PythonModule/IsPython"] == {"type": "bool", "value": True}
    assert all(re.fullmatch(r"\w+ := [^;]+;", line) for line in (folder / "TypePropertiesOptions").read_text()
               .splitlines())
    create = (folder / "CreateScript").read_text()
    assert '\\set noalias = 1' in create and 'if ( "$arg1" == "" ) then' in create
    assert "opexprlanguage -s hscript $arg1" in create
    tool = ET.parse(folder / "Tools.shelf").getroot().find("tool")
    assert tool is not None and tool.get("name") == "$HDA_DEFAULT_TOOL"
    assert tool.findtext("toolMenuContext/contextNetType") == "ROP"
    assert (folder / "Help").read_text().startswith("= Farmhand =")


def test_fake_farmhand_rop_matches_the_asset() -> None:
    """The fake's Driver/farmhand node (used by the HDA tests) has exactly the asset's value parameters."""
    from fake_hou._types import NODE_TYPES

    dialog = (HDA / "Driver_1farmhand" / "DialogScript").read_text()
    names = set(re.findall(r'^\s+name\s+"(\w+)"', dialog, re.M))
    layout = {"execute", "renderpreview", "executebackground", "renderdialog", "sepparm", "submit", "f"}
    fake = set(NODE_TYPES["farmhand"][2])
    assert fake - {"f1", "f2", "f3"} == names - layout
