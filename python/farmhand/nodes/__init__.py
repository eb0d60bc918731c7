"""Render nodes: discovery (scan), the registry, inventory, node actions and Wake-on-LAN."""
