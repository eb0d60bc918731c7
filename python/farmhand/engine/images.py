"""Reading rendered frames with OpenImageIO: is a file a whole image, and its small preview.

OpenImageIO (the ``openimageio`` wheel, Farmhand's optional ``previews`` extra) reads what studios
render to: EXR (multi-part, half and full float), PNG, JPEG, TIFF and more. Without it this module
says so once (:func:`available`) and nothing here is called.

A preview is the colour of the frame as a viewer would show it, at most :data:`PREVIEW_PIXELS` on the
long side: float images (scene-linear EXR) keep their values up to a knee, roll highlights off above it
(Reinhard on the excess, so a 4.0 and a 50.0 stay apart instead of clipping to one white) and get the
sRGB curve; 8/16-bit images (already display-referred) are only scaled. For a multi-part EXR the part
with the beauty (named ``rgba``/``beauty``/``combined``, else the first part with R, G and B) is shown.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Optional

log = logging.getLogger(__name__)

PREVIEW_PIXELS = 256
JPEG_QUALITY = 85
#: Output extensions checked as images (lower case, with the dot); anything else is not an image.
IMAGE_EXTENSIONS = frozenset(
    {".exr", ".sxr", ".mxr", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".tga", ".dpx", ".cin", ".hdr",
     ".bmp", ".webp", ".psd", ".jp2", ".pic", ".rat", ".tx"})
#: Part names that hold the beauty of a multi-part EXR, most telling first.
_BEAUTY = ("rgba", "beauty", "combined", "c")
#: Linear values above this are rolled off smoothly towards white instead of clipped; the shoulder is
#: how far above it a highlight still reads as brighter (4.0 and 50.0 stay apart, neither clips).
_KNEE = 0.8
_SHOULDER = 2.0

_OIIO: Any = None
_TRIED = False


class ImageError(Exception):
    """A file that is not a readable image; the message says why in one line."""


def oiio() -> Any:
    """The OpenImageIO module, or None when it is not installed (said once in the log)."""
    global _OIIO, _TRIED
    if not _TRIED:
        _TRIED = True
        try:
            import OpenImageIO

            _OIIO = OpenImageIO
        except ImportError:
            log.warning("previews and image checks are off: OpenImageIO is not installed "
                        "(pip install 'farmhand[previews]')")
    return _OIIO


def available() -> bool:
    return oiio() is not None


def is_image(path: str) -> bool:
    """``path`` names an image format OpenImageIO reads (by its extension; ``.bgeo.sc`` is not)."""
    return os.path.splitext(path)[1].lower() in IMAGE_EXTENSIONS


def _error(buf: Any, path: str, what: str) -> ImageError:
    detail = " ".join(str(buf.geterror() or "").split()) or "unknown error"
    return ImageError(f"{path} is not a readable image ({what}: {detail[:200]})")


def _parts(path: str) -> list[Any]:
    """One image buffer per part (subimage) of ``path``; only headers are read yet."""
    lib = oiio()
    first = lib.ImageBuf(path)
    if first.has_error or not first.init_spec(path, 0, 0):
        raise _error(first, path, "cannot open")
    return [first] + [lib.ImageBuf(path, part, 0) for part in range(1, max(first.nsubimages, 1))]


def _read(buf: Any, path: str, part: int, parts: int) -> None:
    lib = oiio()
    if not buf.read(part, 0, True, lib.FLOAT) or buf.has_error:
        raise _error(buf, path, f"part {part}" if parts > 1 else "pixels")


def check_image(path: str) -> list[Any]:
    """Read every pixel of every part of ``path``; a truncated or corrupt file raises. Returns the
    parts, read, for :func:`make_preview`.

    Raises:
        ImageError: the file cannot be opened, or some of its pixels cannot be read.
    """
    parts = _parts(path)
    for part, buf in enumerate(parts):
        _read(buf, path, part, len(parts))
    return parts


def _rgb_indexes(names: tuple[str, ...]) -> Optional[tuple[int, ...]]:
    """Indexes of R, G and B (with or without a layer prefix: ``ViewLayer.Combined.R``), or of the one
    grey channel; None when neither is there."""
    by_layer: dict[str, dict[str, int]] = {}
    for i, name in enumerate(names):
        layer, _, last = name.rpartition(".")
        by_layer.setdefault(layer.lower(), {})[last.upper()] = i
    # Unprefixed channels, or a layer named like the beauty, before any other layer (AOVs).
    ranked = sorted(by_layer.items(),
                    key=lambda item: item[0] != "" and item[0].split(".")[-1] not in _BEAUTY)
    for _, chans in ranked:
        if {"R", "G", "B"} <= set(chans):
            return (chans["R"], chans["G"], chans["B"])
    if len(names) == 1:
        return (0,)
    grey = next((chans[k] for _, chans in ranked for k in ("Y", "L", "Z") if k in chans), None)
    return None if grey is None else (grey,)


def _beauty(path: str, parts: list[Any]) -> tuple[int, Any, tuple[int, ...]]:
    """The part a preview shows (its index and buffer) and its channels."""
    found: list[tuple[int, int, Any, tuple[int, ...]]] = []
    for part, buf in enumerate(parts):
        chans = _rgb_indexes(tuple(buf.spec().channelnames))
        if chans is not None:
            name = str(buf.spec().getattribute("name") or "").lower()
            rank = 0 if name in _BEAUTY else 1 if len(chans) == 3 else 2
            found.append((rank, part, buf, chans))
    if not found:
        raise ImageError(f"{path} has no colour or grey channel to show")
    _, part, buf, chans = min(found, key=lambda item: (item[0], item[1]))
    return part, buf, chans


def _display(pixels: Any, linear: bool) -> Any:
    """Float pixels as 8-bit display values: linear light rolled off above the knee, then sRGB."""
    import numpy as np

    values = np.nan_to_num(pixels.astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    if linear:
        values = np.maximum(values, 0.0)
        if values.shape[-1] == 1 and values.max() > 1.0:  # depth or a mask: fit its range
            values = values / max(float(np.percentile(values, 99.0)), 1e-6)
        over = values > _KNEE
        excess = (values[over] - _KNEE) / _SHOULDER
        values[over] = _KNEE + (1.0 - _KNEE) * excess / (1.0 + excess)
        values = np.where(values <= 0.0031308, values * 12.92, 1.055 * np.power(values, 1 / 2.4) - 0.055)
    values = np.clip(values, 0.0, 1.0)
    if values.shape[-1] == 1:
        values = np.repeat(values, 3, axis=-1)
    return (values * 255.0 + 0.5).astype(np.uint8)


def make_preview(
    source: str, dest: Path, size: int = PREVIEW_PIXELS, parts: Optional[list[Any]] = None
) -> Path:
    """Write ``source``'s preview (JPEG, at most ``size`` pixels on the long side) to ``dest``;
    ``parts`` are its parts as :func:`check_image` read them (else only the shown part is read).

    The file appears whole or not at all (written beside it, then renamed).

    Raises:
        ImageError: ``source`` is not a readable image.
    """
    lib = oiio()
    read = parts is not None
    parts = parts if parts is not None else _parts(source)
    part, buf, chans = _beauty(source, parts)
    if not read:
        _read(buf, source, part, len(parts))
    spec = buf.spec()
    # The file's own pixel type (reading converted the buffer to float): float data is scene-linear.
    linear = buf.nativespec().format.basetype in (lib.FLOAT, lib.HALF, lib.DOUBLE)
    picked = lib.ImageBufAlgo.channels(buf, chans)
    scale = min(1.0, size / max(spec.width, spec.height, 1))
    width, height = max(1, round(spec.width * scale)), max(1, round(spec.height * scale))
    if scale < 1.0:
        picked = lib.ImageBufAlgo.resize(picked, roi=lib.ROI(0, width, 0, height, 0, 1, 0, len(chans)))
    pixels = picked.get_pixels(lib.FLOAT)
    if picked.has_error or pixels is None:
        raise _error(picked, source, "pixels")
    out = lib.ImageBuf(lib.ImageSpec(width, height, 3, lib.UINT8))
    shown = _display(pixels.reshape(height, width, -1), linear)
    out.set_pixels(lib.ROI(0, width, 0, height, 0, 1, 0, 3), shown)
    out.specmod().attribute("Compression", f"jpeg:{JPEG_QUALITY}")
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = dest.with_name(f".{dest.name}.{os.getpid()}.part.jpg")
    if not out.write(str(partial), lib.UINT8):
        raise ImageError(f"cannot write the preview {dest}: {out.geterror()}")
    os.replace(partial, dest)
    return dest
