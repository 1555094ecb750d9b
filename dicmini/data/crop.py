"""The square face crop derived from 68 landmarks, and the exact mapping of points into and out of it.

**The crop rule** (used by ``dicmini data prepare`` and ``dicmini sr-photo``, and by training to re-frame
synthetic faces like real crops: ``hr_crop_rule`` in :class:`dicmini.train.config.TrainConfig`)::

    eye centre   e = mean of the 12 eye points (36-47)
    mouth centre m = mean of the 20 lip points (48-67)
    centre       c = (e + m) / 2                                  # about the tip of the nose
    side         s = CROP_SCALE x max(width, height of the 68 points' bounding box)
    box          = the s x s square centred on c, axis-aligned (no rotation), snapped to whole pixels

With ``CROP_SCALE = 1.6`` the landmarks span about 1/1.6 = 62 % of the crop, as on dicmini's synthetic
faces (63 % measured over seeds 0-11) and on the tight CelebA crops DIC was trained on: the whole face,
forehead to chin, fills most of the frame, with a margin of about 19 % of the side around the landmarks.
The box is **not** rotated to level the eyes (neither DIC's official CelebA crop nor MMagic's CelebA-HQ
protocol rotates), so a tilted head stays tilted. Parts of the box outside the photo are filled by
replicating the border pixels (``pad_mode="edge"``), which a bicubic 128 -> 16 downsampling blurs less
than black.

**Coordinates** follow :mod:`dicmini.data.landmarks`: ``(x, y)`` with pixel *centres* at integers. A box
``CropBox(left, top, side)`` covers source pixels ``left .. left+side-1`` (columns) and ``top ..
top+side-1`` (rows), i.e. the continuous square ``[left - 0.5, left + side - 0.5]``. Resizing it to
``size x size`` with PIL (which samples output pixel ``u`` at source position ``(u + 0.5) * side / size``
in pixel-edge units) maps a point exactly as::

    u = (x - left + 0.5) * size / side - 0.5          (and the same for y with top)

:meth:`CropBox.to_crop` and :meth:`CropBox.from_crop` implement this and its inverse.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

#: side of the crop / largest side of the landmarks' bounding box
CROP_SCALE: float = 1.6

EYES = slice(36, 48)
MOUTH = slice(48, 68)


def _points(landmarks, name: str = "landmarks") -> np.ndarray:
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"{name}: expected 68 (x, y) points, got shape {list(pts.shape)}")
    if not np.all(np.isfinite(pts)):
        raise ValueError(f"{name}: contains NaN or infinite coordinates")
    return pts


@dataclass(frozen=True)
class CropBox:
    """A square of ``side`` source pixels whose top-left pixel is ``(left, top)`` (may lie outside the image)."""

    left: int
    top: int
    side: int

    def __post_init__(self) -> None:
        if self.side < 1:
            raise ValueError(f"CropBox: side must be >= 1 pixel, got {self.side}")

    def to_crop(self, points, size: int) -> np.ndarray:
        """Source-image ``(x, y)`` points -> pixel coordinates in the ``size x size`` resized crop."""
        p = np.asarray(points, dtype=np.float64)
        return (p - np.array([self.left, self.top]) + 0.5) * (size / self.side) - 0.5

    def from_crop(self, points, size: int) -> np.ndarray:
        """Inverse of :meth:`to_crop`: crop pixel coordinates -> source-image coordinates."""
        p = np.asarray(points, dtype=np.float64)
        return (p + 0.5) * (self.side / size) - 0.5 + np.array([self.left, self.top])

    @property
    def right(self) -> int:
        """One past the last column."""
        return self.left + self.side

    @property
    def bottom(self) -> int:
        """One past the last row."""
        return self.top + self.side

    def outside_fraction(self, width: int, height: int) -> float:
        """Fraction of the box's area that lies outside a ``width x height`` image (filled by padding)."""
        w = max(0, min(self.right, width) - max(self.left, 0))
        h = max(0, min(self.bottom, height) - max(self.top, 0))
        return 1.0 - (w * h) / float(self.side * self.side)


def face_box(landmarks, scale: float = CROP_SCALE) -> CropBox:
    """The crop rule (module docstring): square of side ``scale x`` the landmarks' largest extent, centred
    midway between the eye centre and the mouth centre, snapped to whole source pixels."""
    if not scale > 0:
        raise ValueError(f"scale: expected a positive number, got {scale}")
    pts = _points(landmarks)
    centre = (pts[EYES].mean(axis=0) + pts[MOUTH].mean(axis=0)) / 2.0
    extent = float((pts.max(axis=0) - pts.min(axis=0)).max())
    side = max(1, int(round(scale * extent)))
    # first pixel whose area starts at the box edge c - s/2 (pixel i spans [i - 0.5, i + 0.5])
    left = int(np.floor(centre[0] - side / 2.0 + 1.0))
    top = int(np.floor(centre[1] - side / 2.0 + 1.0))
    return CropBox(left, top, side)


def extract(image: np.ndarray, box: CropBox, pad_mode: str = "edge") -> np.ndarray:
    """The ``side x side`` pixels of ``box`` from a ``H x W x C`` image; parts outside are padded
    (``np.pad`` mode: ``"edge"`` replicates the border, ``"constant"`` fills black, ``"reflect"`` mirrors)."""
    img = np.asarray(image)
    h, w = img.shape[:2]
    x0, y0 = max(box.left, 0), max(box.top, 0)
    x1, y1 = min(box.right, w), min(box.bottom, h)
    if x0 >= x1 or y0 >= y1:
        raise ValueError(f"crop box {box} does not overlap the {w}x{h} image")
    region = img[y0:y1, x0:x1]
    pads = ((y0 - box.top, box.bottom - y1), (x0 - box.left, box.right - x1)) + ((0, 0),) * (img.ndim - 2)
    if any(a or b for a, b in pads):
        if pad_mode == "reflect" and (region.shape[0] < 2 or region.shape[1] < 2):
            pad_mode = "edge"
        region = np.pad(region, pads, mode=pad_mode)
    return np.ascontiguousarray(region)


def resize(image: np.ndarray, size: int) -> np.ndarray:
    """PIL bicubic resize of a square uint8 image to ``size x size`` (a copy when already that size)."""
    img = np.asarray(image)
    if img.shape[0] == size and img.shape[1] == size:
        return img.copy()
    return np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC))


def crop_face(image: np.ndarray, box: CropBox, size: int = 128, pad_mode: str = "edge") -> np.ndarray:
    """Cut ``box`` out of a uint8 ``H x W x 3`` image (padding outside) and resize it to ``size x size``
    with PIL bicubic. Points map with ``box.to_crop(points, size)``."""
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image: expected a uint8 H x W x 3 RGB array, got {img.dtype} {list(img.shape)}")
    return resize(extract(img, box, pad_mode), size)


def crop_with_landmarks(image: np.ndarray, landmarks, size: int = 128, scale: float = CROP_SCALE,
                        pad_mode: str = "edge") -> tuple[np.ndarray, np.ndarray, CropBox]:
    """Apply the crop rule: ``(size x size uint8 crop, 68 x 2 landmarks in crop pixels, box)``."""
    box = face_box(landmarks, scale)
    return crop_face(image, box, size, pad_mode), box.to_crop(_points(landmarks), size), box
