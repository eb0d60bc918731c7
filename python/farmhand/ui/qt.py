"""The one place Farmhand imports a Qt binding.

Houdini 20.5 and earlier ship PySide2, Houdini 21 ships PySide6, so the widgets are written against the
subset both share (fully scoped enums, ``Signal``/``Slot``) and import Qt only from here. The binding is:

1. the one named by ``FARMHAND_QT_API`` (``pyside6`` or ``pyside2``) when set;
2. otherwise the one already imported by the host application (Houdini loads its own before us);
3. otherwise PySide6, then PySide2.

No binding is patched: where the two differ (``QAction``'s module, ``exec`` vs ``exec_``, shiboken) this
module exports a neutral name or a small function instead.

For type checking the module always presents PySide6, whose stubs ship with the wheel.
"""

from __future__ import annotations

import importlib
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING, Any

from farmhand.errors import ConfigError

_CHOICES = ("pyside6", "pyside2")


def _wanted() -> list[str]:
    forced = os.environ.get("FARMHAND_QT_API", "").strip().lower()
    if forced:
        if forced not in _CHOICES:
            raise ConfigError(
                f"FARMHAND_QT_API={forced!r} is not a Qt binding Farmhand supports; use pyside6 or pyside2"
            )
        return [forced]
    loaded = [name for name in _CHOICES if ("PySide6" if name == "pyside6" else "PySide2") in sys.modules]
    return loaded + [name for name in _CHOICES if name not in loaded]


def _load() -> tuple[str, ModuleType, ModuleType, ModuleType, ModuleType]:
    errors: list[str] = []
    for name in _wanted():
        package = "PySide6" if name == "pyside6" else "PySide2"
        try:
            core = importlib.import_module(f"{package}.QtCore")
            gui = importlib.import_module(f"{package}.QtGui")
            widgets = importlib.import_module(f"{package}.QtWidgets")
            shiboken = importlib.import_module("shiboken6" if name == "pyside6" else "shiboken2")
        except ImportError as exc:
            errors.append(f"{package}: {exc}")
            continue
        return name, core, gui, widgets, shiboken
    raise ConfigError(
        "no usable Qt binding (" + "; ".join(errors) + "); install PySide6 (pip install PySide6-Essentials)"
        " or run inside Houdini"
    )


if TYPE_CHECKING:
    import shiboken6 as _shiboken
    from PySide6 import QtCore, QtGui, QtWidgets
    from PySide6.QtGui import QAction

    BINDING: str = "pyside6"
else:
    BINDING, QtCore, QtGui, QtWidgets, _shiboken = _load()
    # QAction moved from QtWidgets (Qt 5) to QtGui (Qt 6).
    QAction = QtGui.QAction if BINDING == "pyside6" else QtWidgets.QAction

Qt = QtCore.Qt
Signal = QtCore.Signal
Slot = QtCore.Slot
QT_VERSION: str = QtCore.qVersion()


def binding_problem() -> str | None:
    """Why the loaded binding cannot run a panel for long, or None.

    PySide6 6.12.0 under Python < 3.12 drops a reference to ``None`` on every Qt call that returns
    nothing; the interpreter aborts (``none_dealloc``) after some ten thousand calls.
    """
    version = str(getattr(sys.modules.get("PySide6"), "__version__", ""))
    if BINDING == "pyside6" and sys.version_info < (3, 12) and version.startswith("6.12.0"):
        python = f"{sys.version_info[0]}.{sys.version_info[1]}"
        return (f"PySide6 {version} crashes under Python {python} (it loses references to None); "
                "install another version: pip install 'PySide6-Essentials<6.12'")
    return None


def _exec(obj: object, *args: Any) -> Any:
    # PySide6 names it ``exec``; PySide2 could not use a Python keyword and calls it ``exec_``.
    for name in ("exec", "exec_"):
        run = getattr(obj, name, None)
        if run is not None:
            return run(*args)
    raise TypeError(f"{type(obj).__name__} has no exec method")


def exec_app(app: QtCore.QCoreApplication) -> int:
    """Run the application's event loop until it quits."""
    return int(_exec(app))


def exec_dialog(dialog: QtWidgets.QDialog) -> int:
    """Run a modal dialog and return its result code."""
    return int(_exec(dialog))


def exec_menu(menu: QtWidgets.QMenu, pos: QtCore.QPoint) -> QAction | None:
    """Show a context menu at the global position ``pos`` and return the chosen action."""
    chosen: QAction | None = _exec(menu, pos)
    return chosen


def mouse_pos(event: QtGui.QMouseEvent) -> QtCore.QPoint:
    """The event's position in widget coordinates (``position()`` in Qt 6, ``pos()`` in Qt 5)."""
    position = getattr(event, "position", None)
    if position is not None:
        point: QtCore.QPoint = position().toPoint()
        return point
    return event.pos()


def is_alive(obj: QtCore.QObject) -> bool:
    """False once the C++ side of ``obj`` has been deleted (a closed panel)."""
    return bool(_shiboken.isValid(obj))


__all__ = [
    "BINDING",
    "QT_VERSION",
    "QAction",
    "Qt",
    "QtCore",
    "QtGui",
    "QtWidgets",
    "Signal",
    "Slot",
    "binding_problem",
    "exec_app",
    "exec_dialog",
    "exec_menu",
    "is_alive",
    "mouse_pos",
]
