"""Brows: a faint soft band plus hundreds of thin hair strokes growing along landmarks 17-26."""

from __future__ import annotations

import numpy as np

from .canvas import blur, fill, lines, new_mask
from .curves import spline, unit
from .scene import Scene
from .skin import SkinShading


def _brow_geometry(scene: Scene, points: np.ndarray, thickness: float) -> tuple[np.ndarray, np.ndarray]:
    """Band polygon and hair strokes (``n x 3 x 2``) of one brow along ``points`` (outer -> inner)."""
    canvas, rng, u = scene.canvas, scene.rng, scene.canvas.unit
    up = canvas.vector(0, -1) / u
    c = spline(points, 6)
    t = np.linspace(0, 1, len(c))[:, None]
    th = thickness * (0.35 + 0.65 * t**0.6)
    band = np.concatenate([c + up * 0.3 * th, (c - up * 0.7 * th)[::-1]])
    seg = np.diff(c, axis=0)
    s = np.concatenate([[0.0], np.cumsum(np.sqrt(np.square(seg).sum(1)))])
    n = int(np.clip(rng.uniform(1.5, 3.2) * (s[-1] / u) * (thickness / u) * 700.0, 25, 450))
    s /= s[-1]
    ts = rng.uniform(0, 1, n) ** 0.8
    k = np.clip(np.searchsorted(s, ts), 1, len(c) - 1)
    frac = ((ts - s[k - 1]) / np.maximum(s[k] - s[k - 1], 1e-9))[:, None]
    root = c[k - 1] + seg[k - 1] * frac
    tangent = unit(seg[k - 1])
    thi = (thickness * (0.35 + 0.65 * ts**0.6))[:, None]
    root += up * rng.uniform(-0.7, 0.25, (n, 1)) * thi
    phi = np.where(ts > 0.82, rng.uniform(0.9, 1.4, n), rng.uniform(0.1, 0.45, n)) + rng.normal(0, 0.12, n)
    d = -tangent * np.cos(phi)[:, None] + up * np.sin(phi)[:, None]
    ln = np.maximum(thi * rng.uniform(0.7, 1.3, (n, 1)), 0.035 * u)
    return band, np.stack([root, root + d * ln * 0.5 + up * ln * 0.06, root + d * ln], 1)


def draw_brows(scene: Scene, shading: SkinShading) -> None:
    """Both brows: a faint soft base plus many thin hair strokes along the brow landmarks."""
    canvas, rng, lm = scene.canvas, scene.rng, scene.canvas.landmarks
    thickness = scene.params["brow_thick"] * canvas.unit
    band_left, strokes_left = _brow_geometry(scene, lm[17:22], thickness)
    band_right, strokes_right = _brow_geometry(scene, lm[26:21:-1], thickness)
    roi = canvas.roi(np.concatenate([band_left, band_right]), 0.4 * thickness + 3)
    if roi is None:
        return
    col = scene.look.brow * rng.uniform(0.6, 1.0) * (0.6 + 0.4 * shading.at(lm[27]))
    base = fill(new_mask(roi), roi, [band_left, band_right])
    blur(base, 0.25 * thickness)
    canvas.blend(roi, base, col, rng.uniform(0.3, 0.6))
    strokes = lines(new_mask(roi), roi, np.concatenate([strokes_left, strokes_right]), 1)
    canvas.blend(roi, strokes, col, rng.uniform(0.75, 0.95))
