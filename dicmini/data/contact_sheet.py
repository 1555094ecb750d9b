"""Contact sheets of faces with their 68 landmarks overlaid (PIL only: fast and deterministic)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .landmarks import GROUP_COLORS, NUM_LANDMARKS, per_landmark

#: Dot colour (RGB, 0-255) of each landmark group: :data:`dicmini.data.landmarks.GROUP_COLORS` in 8 bits.
GROUP_COLOURS: dict[str, tuple[int, int, int]] = {
    name: tuple(round(255 * c) for c in rgb) for name, rgb in GROUP_COLORS.items()}  # type: ignore[misc]


_COLOURS = per_landmark(GROUP_COLOURS, (255, 255, 255))


def _as_uint8_rgb(image, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name}: expected a uint8 H x W x 3 RGB image, got {image.dtype} {list(image.shape)}")
    return image


def _draw(pil: Image.Image, points: np.ndarray, radius: float) -> None:
    draw = ImageDraw.Draw(pil)
    for (x, y), colour in zip(points, _COLOURS if len(points) == NUM_LANDMARKS else [(255, 255, 255)] * len(points)):
        if np.isfinite(x) and np.isfinite(y):
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour, outline=(0, 0, 0))


def draw_landmarks(image: np.ndarray, points: np.ndarray, radius: float = 1.5) -> np.ndarray:
    """A copy of ``image`` (uint8 ``H x W x 3``) with ``points`` (``N x 2``, (x, y) pixels) drawn as dots.

    68-point sets are coloured per component (:data:`GROUP_COLOURS`), other sets white.
    """
    image = _as_uint8_rgb(image, "image")
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    pil = Image.fromarray(image)
    _draw(pil, points, radius)
    return np.asarray(pil)


def contact_sheet(images: Sequence[np.ndarray] | np.ndarray, landmarks: Sequence[np.ndarray] | np.ndarray | None = None,
                  cols: int = 4, zoom: int = 2, labels: Sequence[str] | None = None, radius: float | None = None,
                  resample: str = "nearest", pad: int = 2) -> np.ndarray:
    """Tile faces into a grid, each enlarged ``zoom`` times, optionally with landmarks and labels.

    ``images``: uint8 ``H x W x 3`` images (same size); ``landmarks``: matching ``N x 2`` point sets in
    pixels of the images (or None); ``labels``: text drawn in each tile's corner. ``resample``:
    ``"nearest"`` or ``"bicubic"`` enlargement. Returns a uint8 RGB array.
    """
    images = [_as_uint8_rgb(im, "images[i]") for im in images]
    if not images:
        raise ValueError("images: expected at least one image")
    if cols < 1 or zoom < 1:
        raise ValueError(f"cols and zoom must be >= 1, got cols={cols}, zoom={zoom}")
    if landmarks is not None and len(landmarks) != len(images):
        raise ValueError(f"landmarks: expected {len(images)} point sets, got {len(landmarks)}")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"labels: expected {len(images)} labels, got {len(labels)}")
    if resample not in ("nearest", "bicubic"):
        raise ValueError(f"resample: expected 'nearest' or 'bicubic', got {resample!r}")
    h, w = images[0].shape[:2]
    if any(im.shape[:2] != (h, w) for im in images):
        raise ValueError("images: all images must have the same size")
    th, tw = h * zoom, w * zoom
    rows = -(-len(images) // cols)
    sheet = Image.new("RGB", (cols * tw + (cols + 1) * pad, rows * th + (rows + 1) * pad), (255, 255, 255))
    method = Image.NEAREST if resample == "nearest" else Image.BICUBIC
    r = radius if radius is not None else max(1.0, 0.75 * zoom * max(h, w) / 128)
    for k, im in enumerate(images):
        tile = Image.fromarray(im)
        if zoom != 1:
            tile = tile.resize((tw, th), method)
        if landmarks is not None:
            pts = (np.asarray(landmarks[k], dtype=np.float64).reshape(-1, 2) + 0.5) * zoom - 0.5
            _draw(tile, pts, r)
        if labels is not None:
            d = ImageDraw.Draw(tile)
            text = str(labels[k])
            box = d.textbbox((2, 1), text)
            d.rectangle([box[0] - 1, box[1] - 1, box[2] + 1, box[3] + 1], fill=(0, 0, 0))
            d.text((2, 1), text, fill=(255, 255, 255))
        row, col = divmod(k, cols)
        sheet.paste(tile, (pad + col * (tw + pad), pad + row * (th + pad)))
    return np.asarray(sheet)
