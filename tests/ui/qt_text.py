"""What Qt shows for a piece of rich text (a tooltip, a rich label), for tests that read it back."""

from __future__ import annotations

from farmhand.ui.qt import QtGui


def shown(rich: str) -> str:
    """The text a reader sees once Qt has rendered ``rich`` as HTML (entities decoded, tags gone)."""
    document = QtGui.QTextDocument()
    document.setHtml(rich)
    return document.toPlainText()
