"""Install Farmhand into your Houdini preferences (one command, safe to run again).

    python3 scripts/install_farmhand.py                 # every Houdini 19.5–21.x preference folder found
    python3 scripts/install_farmhand.py --houdini 21.0  # only that version
    python3 scripts/install_farmhand.py --dry-run       # show what would change
    python3 scripts/install_farmhand.py --uninstall     # add --remove-deps to delete deps/ as well
    python3 scripts/install_farmhand.py --team          # psycopg too, for a team farm's PostgreSQL store

For each Houdini preference folder (Linux ``~/houdiniX.Y``, macOS ``~/Library/Preferences/houdini/X.Y``,
Windows ``Documents/houdiniX.Y``, or ``$HOUDINI_USER_PREF_DIR``) it writes ``packages/farmhand.json``
pointing at this checkout, and installs paramiko with its compiled dependencies, and tomli, for *that*
Houdini's Python (19.5: 3.9, 20.0: 3.10, 20.5 and 21.0: 3.11) into ``deps/pythonX.Y-<platform>`` in the
checkout, with ``pip install --target … --python-version … --only-binary=:all:``. Needs only Python 3.9+
and pip.

psycopg 3 (the team farm's PostgreSQL store, docs/team.md) is added only for a studio that uses one:
with ``--team``, when this machine's Farmhand already names a farm database (``FARMHAND_STORE``, or
``store`` in ``FARMHAND_HOME/dispatcher.json``), or when the deps folder already holds it (another
artist of a shared checkout asked for it: a run without ``--team`` does not take it away).
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_FILE = "farmhand.json"
#: What Farmhand needs inside Houdini: paramiko (SSH) and tomli (presets read TOML with ``tomllib`` on
#: Python 3.11+ and ``tomli`` below). tomli is vendored for every Houdini, whatever its Python: pip's
#: ``--python-version`` only governs wheel tags and ``Requires-Python`` (pip's own help), so a
#: ``python_version`` marker would be judged by the Python running the installer. tomli is pure Python
#: and simply unused where tomllib exists.
REQUIREMENTS = ("paramiko>=5.1", "tomli>=1.1")
#: Added for a team farm: psycopg 3 with its compiled libpq. ``pip install --dry-run --report`` finds binary
#: wheels for every Python and platform below (psycopg 3.2 for 3.9, 3.3 from 3.10; manylinux2014 or
#: manylinux_2_28 aarch64, macosx_10_9_x86_64 / 11_0_arm64, win_amd64). typing-extensions is named because
#: psycopg asks for it under a ``python_version`` marker, which pip would judge by the installer's Python.
TEAM_REQUIREMENTS = ("psycopg[binary]>=3.1", "typing-extensions>=4.6")
MARKER = ".farmhand-deps.json"

#: Houdini version -> the Python it embeds.
PYTHON_FOR_HOUDINI = {"19.5": "3.9", "20.0": "3.10", "20.5": "3.11", "21.0": "3.11"}
_VERSION = re.compile(r"(\d+)\.(\d+)$")

PipRunner = Callable[[list[str]], int]


@dataclass(frozen=True)
class Target:
    pref_dir: Path
    houdini: str  # "21.0"

    @property
    def python(self) -> str:
        return python_for(self.houdini)


def python_for(houdini: str) -> str:
    if houdini in PYTHON_FOR_HOUDINI:
        return PYTHON_FOR_HOUDINI[houdini]
    major = int(houdini.split(".")[0])
    if major == 21:
        return "3.11"
    raise ValueError(f"Houdini {houdini} is not supported (Farmhand supports 19.5 to 21.x)")


def supported(houdini: str) -> bool:
    try:
        python_for(houdini)
    except ValueError:
        return False
    return True


def os_name(value: Optional[str] = None) -> str:
    raw = value or sys.platform
    if raw.startswith("win"):
        return "windows"
    if raw in ("darwin", "macos"):
        return "macos"
    return "linux"


def pref_dirs(home: Path, system: str, env: Optional[dict[str, str]] = None) -> list[Target]:
    """Houdini preference folders under ``home`` for ``system``, newest version last."""
    env = dict(os.environ) if env is None else env
    override = env.get("HOUDINI_USER_PREF_DIR")
    found: list[Target] = []
    if override:
        if "__HVER__" in override:
            pattern = override.replace("__HVER__", "*")
            for path in glob.glob(os.path.expanduser(pattern)):
                version = _version_in(path, override)
                if version:
                    found.append(Target(Path(path), version))
        else:
            match = _VERSION.search(override.rstrip("/\\"))
            if match:
                found.append(Target(Path(override).expanduser(), f"{match.group(1)}.{match.group(2)}"))
        return sorted(found, key=lambda t: _key(t.houdini))
    if system == "macos":
        base, pattern = home / "Library" / "Preferences" / "houdini", "[0-9]*.[0-9]*"
    elif system == "windows":
        base, pattern = home / "Documents", "houdini[0-9]*.[0-9]*"
    else:
        base, pattern = home, "houdini[0-9]*.[0-9]*"
    for folder in sorted(base.glob(pattern)):
        match = _VERSION.search(folder.name)
        if folder.is_dir() and match:
            found.append(Target(folder, f"{match.group(1)}.{match.group(2)}"))
    return sorted(found, key=lambda t: _key(t.houdini))


def _version_in(path: str, template: str) -> Optional[str]:
    prefix, _, suffix = os.path.expanduser(template).partition("__HVER__")
    middle = path[len(prefix): len(path) - len(suffix) if suffix else None]
    return middle if _VERSION.fullmatch(middle) else None


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def pip_platforms(system: str, machine: Optional[str] = None) -> list[str]:
    """pip ``--platform`` tags for Houdini's machine; pip also accepts every older tag each one implies.

    macOS Intel names 10.15, which accepts wheels tagged 10.4 to 10.15 (x86_64 or universal2). A 10.9
    tag is too old: bcrypt and PyNaCl publish only ``macosx_10_12``/``10_10`` universal2 wheels, so pip
    found no paramiko it could install (checked with ``pip install --dry-run --report``).
    """
    arch = (machine or platform.machine()).lower()
    if system == "windows":
        return ["win_amd64"]
    if system == "macos":
        return ["macosx_11_0_arm64"] if arch in ("arm64", "aarch64") else ["macosx_10_15_x86_64"]
    arch = "aarch64" if arch in ("arm64", "aarch64") else "x86_64"
    return [f"manylinux2014_{arch}", f"manylinux_2_17_{arch}", f"manylinux_2_28_{arch}"]


def deps_dir(root: Path, python: str, system: str) -> Path:
    return root / "deps" / f"python{python}-{system}"


def package_json(root: Path, deps: Path, node_scripts: Optional[str] = None) -> dict[str, object]:
    """The package file for one preference folder: like ``houdini_package.json``, with absolute paths.

    ``FARMHAND_NODE_PACKAGE`` is Farmhand's package folder (it holds the hython worker) as the render
    nodes see it; the dispatcher started from Houdini inherits it. By default it is this checkout's
    ``python/farmhand/`` (right when Farmhand is installed on the share; the dispatcher maps it per node with
    ``pathmap.json``); ``node_scripts`` names a share copy instead.
    """
    return {
        "load_package_once": True,
        "enable": "houdini_version >= '19.5' and houdini_version < '22.0'",
        "env": [
            {"FARMHAND": root.as_posix()},
            {"FARMHAND_DEPS": deps.as_posix()},
            {"FARMHAND_NODE_PACKAGE": node_scripts or "$FARMHAND/python/farmhand"},
            {"PYTHONPATH": {"method": "prepend", "value": ["$FARMHAND/python", "$FARMHAND_DEPS"]}},
        ],
        "hpath": "$FARMHAND",
    }


#: Exit code of :func:`default_pip` when this Python has no pip (pip itself never uses it).
NO_PIP = 127


def pip_available() -> bool:
    return importlib.util.find_spec("pip") is not None


def default_pip(argv: list[str]) -> int:
    if not pip_available():
        return NO_PIP
    return subprocess.call([sys.executable, "-m", "pip", *argv])


def pip_args(target: Path, python: str, platforms: Sequence[str],
             requirements: Sequence[str] = REQUIREMENTS) -> list[str]:
    args = ["install", "--quiet", "--disable-pip-version-check", "--target", str(target),
            "--python-version", python, "--only-binary=:all:", "--implementation", "cp"]
    for tag in platforms:
        args += ["--platform", tag]
    return [*args, *requirements]


def farmhand_home(home: Path, system: str, env: Mapping[str, str]) -> Path:
    """Where Farmhand keeps its state on this machine (as ``farmhand.paths.home``, without creating it)."""
    if env.get("FARMHAND_HOME"):
        return Path(env["FARMHAND_HOME"]).expanduser()
    if system == "macos":
        return home / "Library" / "Application Support" / "Farmhand"
    if system == "windows":
        return Path(env.get("LOCALAPPDATA") or str(home / "AppData" / "Local")) / "Farmhand"
    return Path(env.get("XDG_DATA_HOME") or str(home / ".local" / "share")) / "farmhand"


def farm_store_named(home: Path, system: str, env: Mapping[str, str]) -> Optional[str]:
    """Where this machine's Farmhand names a farm database (so Houdini needs psycopg), or None.

    ``FARMHAND_STORE`` decides when it is set at all (empty: the SQLite store); otherwise ``store`` in
    ``dispatcher.json`` (a URL, or an object with ``url``). A file Farmhand itself would refuse is left to
    Farmhand to report.
    """
    if "FARMHAND_STORE" in env:
        return "FARMHAND_STORE names a farm database" if env["FARMHAND_STORE"].strip() else None
    path = farmhand_home(home, system, env) / "dispatcher.json"
    try:
        store = json.loads(path.read_text(encoding="utf-8")).get("store")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(store, dict):
        store = store.get("url")
    return f"{path} names a farm database" if isinstance(store, str) and store.strip() else None


class Installer:
    def __init__(self, root: Path, system: str, *, dry_run: bool = False, pip: PipRunner = default_pip,
                 machine: Optional[str] = None, out: Callable[[str], None] = print,
                 node_scripts: Optional[str] = None, team: bool = False) -> None:
        self.root = root
        self.team = team
        self.node_scripts = node_scripts
        self.system = system
        self.dry_run = dry_run
        self.pip = pip
        self.machine = machine
        self.out = out

    def install(self, targets: Sequence[Target], *, deps: bool = True, force: bool = False) -> int:
        if not targets:
            self.out("No Houdini preference folder found. Start Houdini once, or name one with --pref-dir.")
            return 1
        failed = done = 0
        for target in targets:
            if not supported(target.houdini):
                self.out(f"skip {target.pref_dir}: Houdini {target.houdini} is not supported (19.5 to 21.x)")
                continue
            folder = deps_dir(self.root, target.python, self.system)
            if deps and not self._deps(folder, target.python, force):
                failed += 1
                continue
            self._write_package(target, folder)
            done += 1
        if not done and not failed:
            self.out("error no supported Houdini (19.5 to 21.x) among the folders found; nothing installed")
            return 1
        where = self.node_scripts or (self.root / "python" / "farmhand").as_posix()
        hint = "" if self.node_scripts else ("; if this checkout is not on the share, copy python/farmhand/ "
                                             "there and run again with --node-scripts DIR")
        self.out(f"note  render nodes run Farmhand's worker from {where} (FARMHAND_NODE_PACKAGE): they must "
                 f"see that folder{hint}")
        return 1 if failed else 0

    def _deps(self, folder: Path, python: str, force: bool) -> bool:
        platforms = pip_platforms(self.system, self.machine)
        had = _installed(folder / MARKER)
        before = had.get("requirements")
        team = self.team or (isinstance(before, list) and TEAM_REQUIREMENTS[0] in before)
        requirements = [*REQUIREMENTS, *TEAM_REQUIREMENTS] if team else list(REQUIREMENTS)
        what = "paramiko, tomli and psycopg" if team else "paramiko and tomli"
        want: dict[str, object] = {"requirements": requirements, "python": python,
                                   "system": self.system, "platforms": platforms}
        if not force and had == want:
            self.out(f"ok    {folder} ({what} for Python {python} already installed)")
            return True
        args = pip_args(folder, python, platforms, requirements)
        if self.dry_run:
            self.out(f"would run: pip {' '.join(shlex.quote(a) for a in args)}")
            return True
        folder.parent.mkdir(parents=True, exist_ok=True)
        # pip into a fresh folder, then swap it in: a failed download never leaves half a deps folder.
        staging = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
        try:
            args = pip_args(staging, python, platforms, requirements)
            self.out(f"pip   installing {what} for Python {python} ({self.system}) into {folder}")
            code = self.pip(args)
            if code == NO_PIP:
                self.out(f"error {sys.executable} has no pip: install it (python3 -m ensurepip --user, or "
                         "the python3-pip package) and run the installer again, or use --no-deps")
                return False
            if code != 0:
                self.out(f"error pip exited {code}; check your network or proxy and run the installer again")
                return False
            (staging / MARKER).write_text(json.dumps(want, indent=1), encoding="utf-8")
            if folder.exists():
                shutil.rmtree(folder)
            staging.rename(folder)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return True

    def _write_package(self, target: Target, folder: Path) -> None:
        path = target.pref_dir / "packages" / PACKAGE_FILE
        text = json.dumps(package_json(self.root, folder, self.node_scripts), indent=4) + "\n"
        if path.exists() and path.read_text(encoding="utf-8") == text:
            self.out(f"ok    {path} (unchanged)")
            return
        if self.dry_run:
            self.out(f"would write {path}")
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        self.out(f"wrote {path}")

    def uninstall(self, targets: Sequence[Target], *, remove_deps: bool = False) -> int:
        """Remove this user's package files. ``deps/`` stays unless asked: on a shared checkout other
        artists' Houdini sessions load paramiko and tomli from it."""
        for target in targets:
            path = target.pref_dir / "packages" / PACKAGE_FILE
            if not path.exists():
                continue
            if not _is_ours(path):
                self.out(f"keep  {path}: it is not a Farmhand package file")
                continue
            if self.dry_run:
                self.out(f"would remove {path}")
            else:
                path.unlink()
                self.out(f"removed {path}")
        deps = self.root / "deps"
        if remove_deps and deps.is_dir():
            if self.dry_run:
                self.out(f"would remove {deps}")
            else:
                shutil.rmtree(deps)
                self.out(f"removed {deps}")
        return 0


def _installed(marker: Path) -> dict[str, object]:
    """What a deps folder's marker says was installed there (empty: nothing, or a damaged marker)."""
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _is_ours(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    env = data.get("env", []) if isinstance(data, dict) else []
    return any(isinstance(item, dict) and "FARMHAND" in item for item in env)


def main(argv: Optional[Sequence[str]] = None, *, pip: PipRunner = default_pip,
         env: Optional[Mapping[str, str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Install Farmhand into Houdini's preferences.")
    parser.add_argument("--houdini", action="append", default=[], metavar="X.Y",
                        help="only these Houdini versions (repeatable)")
    parser.add_argument("--pref-dir", action="append", default=[], type=Path, metavar="DIR",
                        help="a Houdini preference folder to install into (repeatable); its name gives "
                             "the version unless --houdini is given")
    parser.add_argument("--home", type=Path, default=Path.home(), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--os", dest="system", choices=("linux", "macos", "windows"), help=argparse.SUPPRESS)
    parser.add_argument("--uninstall", action="store_true", help="remove Farmhand's package files")
    parser.add_argument("--remove-deps", action="store_true",
                        help="with --uninstall: also delete the checkout's deps/ folder (other artists "
                             "using this checkout lose paramiko and tomli)")
    parser.add_argument("--no-deps", action="store_true", help="skip installing paramiko and tomli")
    parser.add_argument("--team", action="store_true",
                        help="also install psycopg for a team farm's PostgreSQL store (docs/team.md); "
                             "automatic when FARMHAND_STORE or store in dispatcher.json names one")
    parser.add_argument("--force", action="store_true",
                        help="reinstall paramiko and tomli even when up to date")
    parser.add_argument("--dry-run", action="store_true", help="show what would change, change nothing")
    parser.add_argument("--node-scripts", metavar="DIR",
                        help="Farmhand's scripts/ folder as the render nodes see it (a copy on the share); "
                             "default: this checkout's scripts/")
    args = parser.parse_args(argv)
    system = os_name(args.system)
    if args.pref_dir:
        targets = []
        for folder in args.pref_dir:
            if not args.uninstall and not folder.expanduser().is_dir():
                parser.error(f"{folder} is not a folder; check the path (Houdini creates its preference "
                             "folder the first time it starts)")
            folder = folder.expanduser()
            match = _VERSION.search(folder.name)
            named = f"{match.group(1)}.{match.group(2)}" if match else ""
            version = args.houdini[0] if args.houdini else named
            if not version:
                parser.error(f"cannot tell the Houdini version of {folder}; add --houdini X.Y")
            targets.append(Target(folder, version))
    else:
        targets = pref_dirs(args.home, system)
        if args.houdini:
            targets = [t for t in targets if t.houdini in args.houdini]
    node_scripts = args.node_scripts.replace("\\", "/") if args.node_scripts else None
    why = "--team" if args.team else farm_store_named(args.home, system, os.environ if env is None else env)
    installer = Installer(args.root.resolve(), system, dry_run=args.dry_run, pip=pip,
                          node_scripts=node_scripts, team=bool(why))
    if why and not args.uninstall and not args.no_deps:
        installer.out(f"team  psycopg for the team farm's PostgreSQL store as well ({why})")
    if args.uninstall:
        return installer.uninstall(targets, remove_deps=args.remove_deps)
    return installer.install(targets, deps=not args.no_deps, force=args.force)


if __name__ == "__main__":
    sys.exit(main())
