"""What Farmhand knows about one node, and the parser for the inventory scripts' output."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from farmhand.nodes.inventory.scripts import BEGIN, END


@dataclass(frozen=True)
class Interface:
    name: str
    mac: Optional[str]
    ipv4: tuple[str, ...] = ()  # "10.0.0.5/24"


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_mb: Optional[int] = None
    driver: Optional[str] = None


@dataclass(frozen=True)
class HoudiniInstall:
    path: str
    version: str

    @property
    def version_tuple(self) -> tuple[int, ...]:
        # ASCII digits, at most 9 at a time: a node's version text must not be able to raise (int() refuses
        # over 4300 digits) or sort by digits of other scripts.
        return tuple(int(p) for p in re.findall(r"[0-9]{1,9}", self.version))


@dataclass(frozen=True)
class Inventory:
    hostname: str
    os: str
    os_name: str = ""
    kernel: str = ""
    arch: str = ""
    cpus_logical: int = 0
    cpus_physical: int = 0
    mem_total_mb: int = 0
    mem_available_mb: int = 0
    load: tuple[float, ...] = ()
    interfaces: tuple[Interface, ...] = ()
    gpus: tuple[Gpu, ...] = ()
    houdini: tuple[HoudiniInstall, ...] = ()
    share_path: Optional[str] = None
    share_free_mb: Optional[int] = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def macs(self) -> list[str]:
        return [i.mac for i in self.interfaces if i.mac and i.mac != "00:00:00:00:00:00"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Inventory:
        return cls(
            **{k: v for k, v in d.items() if k not in ("interfaces", "gpus", "houdini", "load")},
            load=tuple(d.get("load") or ()),
            interfaces=tuple(Interface(i["name"], i.get("mac"), tuple(i.get("ipv4") or ()))
                             for i in d.get("interfaces") or ()),
            gpus=tuple(Gpu(**g) for g in d.get("gpus") or ()),
            houdini=tuple(HoudiniInstall(**h) for h in d.get("houdini") or ()),
        )


class InventoryParseError(ValueError):
    pass


def _int(value: Optional[str]) -> int:
    """A count from node output; anything that is not a sane finite number counts as 0."""
    if not value:
        return 0
    try:
        number = float(value)
    except ValueError:
        return 0
    # "inf", "nan" or 1e400 from a hostile or broken node must not raise (int(inf) does).
    return int(number) if math.isfinite(number) and 0 <= number < 2**53 else 0


def normalise_mac(mac: str) -> Optional[str]:
    hexes = re.findall(r"[0-9a-fA-F]{2}", mac)
    return ":".join(h.lower() for h in hexes) if len(hexes) == 6 else None


def parse(output: str) -> Inventory:
    """Parse the text between the markers; anything outside them (rc-file noise) is ignored."""
    start = output.rfind(BEGIN)
    end = output.find(END, start + 1) if start >= 0 else -1
    if start < 0 or end < 0:
        raise InventoryParseError("inventory output has no begin/end markers (command failed or cut short)")
    lines = _Lines()
    for raw in output[start + len(BEGIN):end].splitlines():
        key, eq, value = raw.strip().partition("=")
        if eq:
            lines.add(key, value)
    return lines.inventory()


_KNOWN = frozenset({"hostname", "os", "os_name", "kernel", "arch", "cpus_logical", "cpus_physical",
                    "mem_total_kb", "mem_available_kb", "load", "load_percent", "share", "share_free_kb"})


class _Lines:
    """The ``key=value`` lines of one inventory, collected, then turned into an :class:`Inventory`."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.ifaces: dict[str, tuple[Optional[str], list[str]]] = {}
        self.gpus: list[Gpu] = []
        self.houdini: list[HoudiniInstall] = []

    def add(self, key: str, value: str) -> None:
        if key == "iface":
            name, _, rest = value.partition(" mac=")
            _mac, addrs = self.ifaces.setdefault(name.strip(), (None, []))
            self.ifaces[name.strip()] = (normalise_mac(rest), addrs)
        elif key == "ipv4":
            name, _, addr = value.partition(" ")
            _mac, addrs = self.ifaces.setdefault(name.strip(), (None, []))
            if addr.strip():
                addrs.append(_cidr(addr.strip()))
        elif key == "gpu":
            parts = [*value.split("|"), "", ""][:3]
            self.gpus.append(Gpu(parts[0].strip(), _int(parts[1]) or None, parts[2].strip() or None))
        elif key == "houdini":
            path, _, version = value.partition("|")
            if path and all(h.path != path for h in self.houdini):
                self.houdini.append(HoudiniInstall(path, version or "unknown"))
        else:
            self.values[key] = value.strip()

    def _load(self) -> tuple[float, ...]:
        values = self.values
        load = tuple(float(x) for x in values.get("load", "").split() if _is_float(x))
        percent = values.get("load_percent", "")
        if not load and _is_float(percent):
            load = (float(percent) / 100.0 * max(1, _int(values.get("cpus_logical"))),)
        return load

    def inventory(self) -> Inventory:
        values = self.values
        if "hostname" not in values or "os" not in values:
            raise InventoryParseError("inventory output lacks hostname/os lines")
        logical = _int(values.get("cpus_logical"))
        share_free = values.get("share_free_kb")
        return Inventory(
            hostname=values["hostname"],
            os=values["os"],
            os_name=values.get("os_name", ""),
            kernel=values.get("kernel", ""),
            arch=values.get("arch", ""),
            cpus_logical=logical,
            cpus_physical=_int(values.get("cpus_physical")) or logical,
            mem_total_mb=_int(values.get("mem_total_kb")) // 1024,
            mem_available_mb=_int(values.get("mem_available_kb")) // 1024,
            load=self._load(),
            interfaces=tuple(Interface(n, m, tuple(a)) for n, (m, a) in sorted(self.ifaces.items())),
            gpus=tuple(self.gpus),
            houdini=tuple(sorted(self.houdini, key=lambda h: h.version_tuple)),
            share_path=values.get("share"),
            share_free_mb=_int(share_free) // 1024 if share_free else None,
            extra={k: v for k, v in values.items() if k not in _KNOWN},
        )


def _cidr(addr: str) -> str:
    """``10.0.0.5/24`` as is; macOS's ``10.0.0.5/0xffffff00`` becomes ``10.0.0.5/24``."""
    ip, _, mask = addr.partition("/")
    if mask.startswith("0x"):
        try:
            return f"{ip}/{bin(int(mask, 16)).count('1')}"
        except ValueError:
            return ip
    return addr


def _is_float(text: str) -> bool:
    """A finite number (a node printing "nan" or "inf" must not put them in the registry's JSON)."""
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
