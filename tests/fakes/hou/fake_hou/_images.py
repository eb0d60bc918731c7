"""Small real image files for the fake renderers (tests only): the fake ROPs and the fake husk write a real
OpenEXR or PNG where a real renderer would, so the dispatcher's image check (it reads every output whole,
with OpenImageIO) passes on their frames as on real ones. Standard library only: the fake installs run
this under their bundled Python, which has no imaging library.

OpenEXR: one part, scanlines, no compression, HALF R, G, B, A (the file layout of the OpenEXR file format
document: magic, version, header attributes, line offset table, one scanline per chunk). PNG: 8-bit RGB.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

SIZE = 4  # pixels on a side
EXR_MAGIC = 20000630


def colour(seed: str) -> tuple[float, float, float]:
    """A colour of its own for each frame or ROP (so two outputs never read as the same image)."""
    value = zlib.crc32(seed.encode())
    return tuple(((value >> shift) & 0xFF) / 255.0 for shift in (0, 8, 16))  # type: ignore[return-value]


def write(path: Path, seed: str) -> bool:
    """Write a tiny image at ``path`` in the format its extension names; False for other extensions."""
    suffix = path.suffix.lower()
    if suffix == ".exr":
        path.write_bytes(exr(colour(seed)))
    elif suffix == ".png":
        path.write_bytes(png(colour(seed)))
    else:
        return False
    return True


def _attribute(name: str, kind: str, value: bytes) -> bytes:
    return name.encode() + b"\0" + kind.encode() + b"\0" + struct.pack("<i", len(value)) + value


def exr(rgb: tuple[float, float, float]) -> bytes:
    """A SIZE x SIZE uncompressed scanline OpenEXR of one colour, opaque."""
    channels = b"".join(name.encode() + b"\0" + struct.pack("<iB3xii", 1, 0, 1, 1) for name in "ABGR") + b"\0"
    window = struct.pack("<iiii", 0, 0, SIZE - 1, SIZE - 1)
    header = b"".join([
        struct.pack("<ii", EXR_MAGIC, 2),
        _attribute("channels", "chlist", channels),
        _attribute("compression", "compression", b"\0"),
        _attribute("dataWindow", "box2i", window),
        _attribute("displayWindow", "box2i", window),
        _attribute("lineOrder", "lineOrder", b"\0"),
        _attribute("pixelAspectRatio", "float", struct.pack("<f", 1.0)),
        _attribute("screenWindowCenter", "v2f", struct.pack("<ff", 0.0, 0.0)),
        _attribute("screenWindowWidth", "float", struct.pack("<f", 1.0)),
        b"\0",
    ])
    values = {"A": 1.0, "B": rgb[2], "G": rgb[1], "R": rgb[0]}
    pixels = b"".join(struct.pack(f"<{SIZE}e", *([values[c]] * SIZE)) for c in "ABGR")
    chunks = [struct.pack("<ii", y, len(pixels)) + pixels for y in range(SIZE)]
    first = len(header) + 8 * SIZE
    offsets = [first + sum(len(c) for c in chunks[:y]) for y in range(SIZE)]
    return header + struct.pack(f"<{SIZE}Q", *offsets) + b"".join(chunks)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(rgb: tuple[float, float, float]) -> bytes:
    """A SIZE x SIZE 8-bit RGB PNG of one colour."""
    pixel = bytes(round(c * 255) for c in rgb)
    rows = b"".join(b"\0" + pixel * SIZE for _ in range(SIZE))
    return b"".join([b"\x89PNG\r\n\x1a\n",
                     _png_chunk(b"IHDR", struct.pack(">IIBBBBB", SIZE, SIZE, 8, 2, 0, 0, 0)),
                     _png_chunk(b"IDAT", zlib.compress(rows)), _png_chunk(b"IEND", b"")])
