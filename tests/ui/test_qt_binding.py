"""The one Qt import module: which binding it picks, and that it patches none."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.ui


def test_binding_is_the_one_asked_for() -> None:
    from farmhand.ui import qt

    wanted = os.environ.get("FARMHAND_QT_API")
    if wanted:
        assert wanted == qt.BINDING
    assert qt.QtCore.__name__ == ("PySide6.QtCore" if qt.BINDING == "pyside6" else "PySide2.QtCore")
    assert qt.QtWidgets.__name__.split(".")[0] == qt.QtCore.__name__.split(".")[0]


def test_no_binding_is_monkey_patched() -> None:
    from farmhand.ui import panel, qt  # noqa: F401 - importing everything must not patch anything

    # QAction lives in QtGui (Qt 6) or QtWidgets (Qt 5); the shim exports it without moving it.
    if qt.BINDING == "pyside6":
        assert not hasattr(qt.QtWidgets, "QAction")
        assert qt.QAction is qt.QtGui.QAction
    else:
        assert not hasattr(qt.QtGui, "QAction")
        assert qt.QAction is qt.QtWidgets.QAction
        assert not hasattr(qt.QtWidgets.QDialog, "exec")


def test_bad_binding_name_is_one_clear_line() -> None:
    env = dict(os.environ, FARMHAND_QT_API="pyqt4")
    proc = subprocess.run([sys.executable, "-c", "import farmhand.ui.qt"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    expected = "FARMHAND_QT_API='pyqt4' is not a Qt binding Farmhand supports; use pyside6 or pyside2"
    assert expected in proc.stderr


def test_ui_modules_import_without_hou() -> None:
    code = ("import sys, pkgutil, importlib, farmhand.ui as ui\n"
            "for m in pkgutil.iter_modules(ui.__path__):\n"
            "    importlib.import_module('farmhand.ui.' + m.name)\n"
            "assert 'hou' not in sys.modules, 'a UI module imported hou'\n"
            "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, QT_QPA_PLATFORM="offscreen"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
