"""The one image reader of dicmini: any file Pillow opens -> uint8 ``H x W x 3`` RGB, or one named error.

Every command that reads images (``sr``, ``test``, ``train``, ``data show``, ``data prepare``, ``sr-photo``)
goes through :func:`read_rgb`, so every format is handled once:

* 8-bit RGB as is; grey (``L``, ``1``) replicated to three channels (nothing is invented);
* 16-bit grey (``I;16*``, ``I``) scaled to 8 bits (``round(v / 257)``) instead of being clipped to white;
  16-bit RGB PNGs are already reduced to 8 bits by Pillow;
* palette (``P``), ``CMYK``, ``YCbCr``, ``LAB``, ``HSV``, ``RGBX`` converted to RGB;
* alpha (``RGBA``, ``LA``, ``PA``, palette transparency): refused (``alpha="refuse"``: there is no right
  background colour to composite a face on) or dropped (``alpha="drop"``, photos);
* images above :data:`MAX_PIXELS` are refused from the header, before anything is decoded (Pillow's own
  decompression-bomb guard would otherwise stop at 179 MP with a traceback);
* unreadable, truncated or non-image files and 32-bit float images raise :class:`ImageReadError` naming
  the file.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

#: the largest image (width x height) any command decodes: 100 MP, about 300 MB as RGB
MAX_PIXELS = 100_000_000

#: modes with an alpha channel
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")


class ImageReadError(ValueError):
    """An image file that cannot be read as an RGB image (message names the file and what was expected)."""


def _to_uint8_grey(img: Image.Image) -> np.ndarray:
    arr = np.asarray(img).astype(np.float64)
    return np.clip(np.round(arr / 257.0), 0, 255).astype(np.uint8)


def _convert(img: Image.Image, path: Path, alpha: str) -> np.ndarray:
    mode = img.mode
    if mode == "P" and "transparency" in img.info:
        img, mode = img.convert("RGBA"), "RGBA"
    if mode in ALPHA_MODES:
        if alpha == "refuse":
            raise ImageReadError(f"{path}: image has an alpha channel ({mode}); save it as RGB")
        img = img.convert("RGB" if mode in ("RGBA", "RGBa", "PA") else "L")
        mode = img.mode
    if mode in _SIXTEEN_BIT:
        grey = _to_uint8_grey(img)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "F":
        raise ImageReadError(f"{path}: 32-bit float image (mode F) not supported; expected 8- or 16-bit RGB/grey")
    if mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8).copy()


def read_rgb(path: str | os.PathLike, *, alpha: str = "refuse", exif: bool = False,
             max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read ``path`` as uint8 ``H x W x 3`` RGB (module docstring for the formats).

    ``alpha``: ``"refuse"`` (an image with an alpha channel raises) or ``"drop"``. ``exif``: apply
    the EXIF orientation (photos). Raises ``FileNotFoundError`` or :class:`ImageReadError`, one line each.
    """
    if alpha not in ("refuse", "drop"):
        raise ValueError(f"alpha: expected 'refuse' or 'drop', got {alpha!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image not found" + (" (it is a directory)" if path.is_dir() else ""))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                check_size(path, img.width, img.height, max_pixels)
                img.load()
                if exif:
                    img = ImageOps.exif_transpose(img)
                return _convert(img, path, alpha)
    except ImageReadError:
        raise
    except Image.DecompressionBombError:
        raise ImageReadError(f"{path}: image larger than {max_pixels / 1e6:.0f} MP; refusing to decode it") from None
    except (OSError, SyntaxError, ValueError, MemoryError, EOFError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ImageReadError(f"{path}: unreadable or truncated image ({first})") from None


def read_size(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> tuple[int, int, str]:
    """``(width, height, mode)`` from the header only; the same named errors as :func:`read_rgb`."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                check_size(path, img.width, img.height, max_pixels)
                return img.width, img.height, img.mode
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: image not found") from None
    except Image.DecompressionBombError:
        raise ImageReadError(f"{path}: image larger than {max_pixels / 1e6:.0f} MP; refusing to decode it") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ImageReadError(f"{path}: unreadable or not an image ({first})") from None


def check_size(path: str | os.PathLike, width: int, height: int, max_pixels: int = MAX_PIXELS) -> None:
    """Raise :class:`ImageReadError` when ``width x height`` exceeds ``max_pixels`` or is empty."""
    if width < 1 or height < 1:
        raise ImageReadError(f"{path}: empty image ({width}x{height})")
    if width * height > max_pixels:
        raise ImageReadError(f"{path}: image is {width}x{height} ({width * height / 1e6:.0f} MP), above the "
                             f"{max_pixels / 1e6:.0f} MP limit; refusing to decode it")


def is_jpeg(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a JPEG (by its header, else by its suffix)."""
    try:
        with Image.open(path) as img:
            return img.format == "JPEG"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return Path(path).suffix.lower() in (".jpg", ".jpeg")


__all__ = ["MAX_PIXELS", "ImageReadError", "check_size", "is_jpeg", "read_rgb", "read_size"]
