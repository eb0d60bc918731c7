"""The only package that imports ``hou``. It reads scene values and passes plain values inward."""
