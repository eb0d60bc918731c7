"""Farmhand's Qt widgets. Qt is imported only through :mod:`farmhand.ui.qt`; never ``hou``."""
