"""The hi-res canvas a face is painted on: pose-aware coordinates, anti-aliased masks, compositing.

Masks are uint8 arrays (255 = fully covered) the size of a :class:`Roi`, drawn with OpenCV's
anti-aliased primitives at 1/64-pixel fixed-point precision. Points are canvas pixel coordinates
(``(x, y)``, pixel centres at integers).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np

from ..face_shape import FaceShape

SHIFT = 6  # OpenCV fixed-point fractional bits: coordinates are drawn to 1/64 canvas pixel
ONE = float(1 << SHIFT)
AA = cv2.LINE_AA


class Roi(NamedTuple):
    """A rectangle of canvas pixels, ``x0 <= x < x1`` and ``y0 <= y < y1``."""

    x0: int
    y0: int
    x1: int
    y1: int


def mix(dst: np.ndarray, mask: np.ndarray, colour, alpha: float = 1.0) -> None:
    """In place: ``dst += (colour - dst) * alpha * mask / 255``.

    ``dst`` is a planar ``3 x h x w`` float32 array, ``mask`` an ``h x w`` uint8 mask, ``colour`` an RGB
    triple or a ``3 x h x w`` field.
    """
    a = mask.astype(np.float32)
    a *= np.float32(alpha / 255.0)
    col = np.asarray(colour, dtype=np.float32)
    if col.ndim == 1:
        col = col[:, None, None]
    tmp = col - dst
    tmp *= a
    dst += tmp


def mask_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Product of two uint8 masks (255 = 1)."""
    return cv2.multiply(a, b, scale=1.0 / 255.0)


def blur(mask: np.ndarray, sigma: float) -> np.ndarray:
    """In-place Gaussian blur of a uint8 mask, limited to its non-zero part (large sigmas at low res)."""
    if sigma <= 0.3:
        return mask
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0:
        return mask
    pad = int(3 * sigma) + 1
    x0, y0 = max(x - pad, 0), max(y - pad, 0)
    x1, y1 = min(x + w + pad, mask.shape[1]), min(y + h + pad, mask.shape[0])
    sub = mask[y0:y1, x0:x1]
    if sigma > 2.0:  # blur a 1/k-size copy: same look, a fraction of the cost
        k = max(2, int(sigma // 1.5))
        small = cv2.resize(sub, (-(-(x1 - x0) // k), -(-(y1 - y0) // k)), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), sigma / k)
        mask[y0:y1, x0:x1] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    else:
        mask[y0:y1, x0:x1] = cv2.GaussianBlur(sub, (0, 0), float(sigma))
    return mask


def new_mask(roi: Roi) -> np.ndarray:
    """An empty (all zero) mask covering ``roi``."""
    return np.zeros((roi.y1 - roi.y0, roi.x1 - roi.x0), dtype=np.uint8)


def fixed_point(points: np.ndarray, roi: Roi) -> np.ndarray:
    """Canvas points -> OpenCV fixed-point coordinates (``shift=SHIFT``) relative to ``roi``."""
    p = np.multiply(points, ONE)
    p -= (roi.x0 * ONE, roi.y0 * ONE)
    return np.rint(p).astype(np.int32)


def fill(mask: np.ndarray, roi: Roi, polygons, value: float = 255) -> np.ndarray:
    """Anti-aliased filled polygons (a list of ``k x 2`` arrays) drawn into ``mask``."""
    cv2.fillPoly(mask, [fixed_point(p, roi) for p in polygons], int(value), AA, SHIFT)
    return mask


def lines(mask: np.ndarray, roi: Roi, polylines, thickness: float = 1, value: float = 255) -> np.ndarray:
    """Anti-aliased open polylines; ``polylines`` is a list of ``k x 2`` arrays or one ``n x k x 2`` array."""
    if isinstance(polylines, np.ndarray) and polylines.ndim == 3:
        pts = list(fixed_point(polylines, roi))
    else:
        pts = [fixed_point(p, roi) for p in polylines]
    cv2.polylines(mask, pts, False, int(value), max(1, int(round(thickness))), AA, SHIFT)
    return mask


def ellipse(mask: np.ndarray, roi: Roi, centre, axes, angle_deg: float, value: float = 255, thickness: int = -1,
            start: float = 0.0, end: float = 360.0) -> np.ndarray:
    """An anti-aliased ellipse (filled unless ``thickness > 0``; an arc from ``start`` to ``end`` degrees)."""
    c = fixed_point(np.asarray(centre)[None], roi)[0]
    axes = (float(axes[0]), float(axes[1]))
    ax = np.round(np.maximum(np.asarray(axes, dtype=np.float64), 0.5) * ONE).astype(np.int32)
    cv2.ellipse(mask, (int(c[0]), int(c[1])), (int(ax[0]), int(ax[1])), float(angle_deg), float(start), float(end),
                int(value), int(thickness), AA, SHIFT)
    return mask


def circle(mask: np.ndarray, centre: np.ndarray, radius: float, value, thickness: int = -1) -> np.ndarray:
    """An anti-aliased circle at fixed-point ``centre`` (see :func:`fixed_point`), radius in canvas pixels."""
    cv2.circle(mask, (int(centre[0]), int(centre[1])), int(radius * ONE), value, thickness, AA, SHIFT)
    return mask


class Canvas:
    """The canvas of one face: planar float32 RGB ``pixels`` (``3 x size x size``, values in [0, 1]),
    ``factor`` times larger than the output, and the face's pose on it.

    Planar, because NumPy is slow on a trailing axis of length 3. ``unit`` is the number of canvas
    pixels per face unit; ``landmarks`` are the 68 points in canvas pixels.
    """

    def __init__(self, shape: FaceShape, factor: int):
        self.shape = shape
        self.factor = factor
        self.size = shape.size * factor
        self.pixels = np.empty((3, self.size, self.size), dtype=np.float32)
        self.unit = shape.scale * factor
        cos, sin = float(np.cos(shape.angle)), float(np.sin(shape.angle))
        self._cos_unit, self._sin_unit = cos * self.unit, sin * self.unit
        self.angle_deg = float(np.rad2deg(shape.angle))  # in-plane rotation, for face-aligned ellipses
        self.landmarks = self.from_output(shape.landmarks)

    def from_output(self, points: np.ndarray) -> np.ndarray:
        """Output pixel coordinates -> canvas pixel coordinates."""
        return (np.asarray(points, dtype=np.float64) + 0.5) * self.factor - 0.5

    def project(self, points, z=None) -> np.ndarray:
        """Face-frame points (depth ``z``, default the head surface) -> canvas pixels, posed like the landmarks."""
        return self.from_output(self.shape.project(np.asarray(points, dtype=np.float64), z))

    def vector(self, dx: float, dy: float) -> np.ndarray:
        """A face-frame offset (face units) as a canvas pixel vector."""
        return np.array([dx * self._cos_unit - dy * self._sin_unit, dx * self._sin_unit + dy * self._cos_unit])

    def roi(self, points: np.ndarray, pad: float) -> Roi | None:
        """The box around ``points`` plus ``pad`` pixels, clipped to the canvas (None if under 2 pixels)."""
        p = np.asarray(points).reshape(-1, 2)
        (lx, ly), (hx, hy) = p.min(axis=0).tolist(), p.max(axis=0).tolist()
        x0, y0 = max(math.floor(lx - pad), 0), max(math.floor(ly - pad), 0)
        x1, y1 = min(math.ceil(hx + pad) + 1, self.size), min(math.ceil(hy + pad) + 1, self.size)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        return Roi(x0, y0, x1, y1)

    def _covered(self, roi: Roi, mask: np.ndarray):
        """The pixels and mask restricted to the mask's non-zero bounding box, and that box (or None)."""
        x, y, w, h = cv2.boundingRect(mask)
        if w == 0:
            return None
        rows, cols = slice(y, y + h), slice(x, x + w)
        return self.pixels[:, roi.y0 + y:roi.y0 + y + h, roi.x0 + x:roi.x0 + x + w], mask[rows, cols], (rows, cols)

    def blend(self, roi: Roi, mask: np.ndarray, colour, alpha: float = 1.0) -> None:
        """``pixels += (colour - pixels) * alpha * mask / 255`` in ``roi``; ``colour``: RGB or a 3 x roi field."""
        covered = self._covered(roi, mask)
        if covered is None:
            return
        view, sub, (rows, cols) = covered
        col = np.asarray(colour, dtype=np.float32)
        mix(view, sub, col[:, rows, cols] if col.ndim == 3 else col, alpha)

    def darken(self, roi: Roi, mask: np.ndarray, strength: float, tint=(1.0, 1.0, 1.0)) -> None:
        """Multiply by ``1 - strength * tint * mask / 255`` in ``roi``."""
        covered = self._covered(roi, mask)
        if covered is None:
            return
        view, sub, _ = covered
        a = sub.astype(np.float32)
        a *= np.float32(-strength / 255.0)
        view *= 1.0 + a[None] * np.asarray(tint, dtype=np.float32)[:, None, None]
