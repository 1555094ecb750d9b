"""Neck (with the jaw's shadow), clothes with a neckline, stripes and folds, and the ears."""

from __future__ import annotations

import numpy as np

from .canvas import Roi, blur, fill, lines, mask_product, new_mask
from .scene import Scene


def _draw_neck(scene: Scene) -> float:
    """The neck below the jaw, shadowed by it; returns its half width (face units)."""
    canvas, rng, look = scene.canvas, scene.rng, scene.look
    half_width = rng.uniform(0.45, 0.6) * scene.params["w"]
    neck = np.array([[-half_width, 0.45], [half_width, 0.45], [half_width * 1.08, 3.0], [-half_width * 1.08, 3.0]])
    poly = canvas.project(neck, 0.3)
    roi = canvas.roi(poly, 2)
    col = look.skin * rng.uniform(0.75, 0.9) * (look.ambient + 0.3 * (1 - look.ambient))
    if roi is not None:
        canvas.blend(roi, fill(new_mask(roi), roi, [poly]), col)
        lm = canvas.landmarks
        jaw = lm[2:15] + canvas.vector(0.0, rng.uniform(0.08, 0.16))
        shadow = fill(new_mask(roi), roi, [np.concatenate([jaw, lm[[14, 2]] + canvas.vector(0, -0.5)])])
        blur(shadow, 0.1 * canvas.unit)
        canvas.darken(roi, shadow, rng.uniform(0.35, 0.6))
    return half_width


def _clothes_outline(rng: np.random.Generator, neck_half_width: float) -> tuple[np.ndarray, float]:
    """The clothes polygon (face frame, a round or V neckline) and the height of the neckline."""
    yc = rng.uniform(1.45, 1.85)
    dip = rng.uniform(0.05, 0.6)
    nx = np.linspace(-1, 1, 9)
    v_neck = rng.random() < 0.4
    neckline = np.stack([nx * neck_half_width * 1.25, yc + dip * (1 - (np.abs(nx) if v_neck else nx**2))], 1)
    shoulders = np.array([[3.5, yc + 1.4], [3.5, 8.0], [-3.5, 8.0], [-3.5, yc + 1.4], [-2.5, yc + 0.65],
                          [-1.4, yc + 0.18]])
    return np.concatenate([neckline, [[1.4, yc + 0.18], [2.5, yc + 0.65]], shoulders]), yc


def _fabric(rng: np.random.Generator, roi: Roi) -> np.ndarray:
    """The clothes' colour: plain RGB or (one time in three) horizontal stripes over ``roi``."""
    c = rng.random(3) ** 1.3
    if rng.random() >= 0.35:
        return c
    ys = np.arange(roi.y0, roi.y1, dtype=np.float32)
    band = 1.0 - np.float32(rng.uniform(0.1, 0.5)) * (np.sin(ys * np.float32(rng.uniform(0.15, 0.6))) > 0)
    col = np.empty((3, roi.y1 - roi.y0, roi.x1 - roi.x0), np.float32)
    col[:] = (c.astype(np.float32)[:, None] * band[None])[:, :, None]
    return col


def _draw_clothes(scene: Scene, neck_half_width: float) -> None:
    """Clothes up to the neckline, with a few soft folds."""
    canvas, rng = scene.canvas, scene.rng
    outline, yc = _clothes_outline(rng, neck_half_width)
    poly = canvas.project(outline, 0.0)
    roi = canvas.roi(poly, 2)
    if roi is None:
        return
    mask = fill(new_mask(roi), roi, [poly])
    canvas.blend(roi, mask, _fabric(rng, roi))
    folds = new_mask(roi)
    for _ in range(int(rng.integers(1, 5))):
        fold = canvas.project(np.array([[rng.uniform(-2.5, 2.5), yc + 0.6], [rng.uniform(-3, 3), yc + 2.5]]), 0.0)
        lines(folds, roi, [fold], 0.06 * canvas.unit)
    blur(folds, 0.08 * canvas.unit)
    canvas.darken(roi, mask_product(folds, mask), 0.3)


def draw_neck_and_clothes(scene: Scene) -> None:
    """The neck, then the clothes over its lower part."""
    _draw_clothes(scene, _draw_neck(scene))


def draw_ears(scene: Scene, hair_style: str) -> None:
    """Both ears beside the jaw top, unless the hair hides them (long hair always, medium hair often)."""
    canvas, rng, look, params = scene.canvas, scene.rng, scene.look, scene.params
    if hair_style == "long" or (hair_style == "medium" and rng.random() < 0.6):
        return
    w, jt = params["w"], params["jaw_top"]
    h, wd, y = rng.uniform(0.3, 0.42), rng.uniform(0.12, 0.18), jt + rng.uniform(0.02, 0.16)
    col = look.skin * (look.ambient + 0.55 * (1 - look.ambient))
    t = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    for sgn in (-1.0, 1.0):
        ear = np.stack([sgn * (w - 0.04 + wd * (1 + np.cos(t)) * (0.85 + 0.15 * np.sin(t))),
                        y + 0.5 * h * np.sin(t) * (1 + 0.25 * (np.sin(t) > 0))], 1)
        poly = canvas.project(ear, -0.15)
        roi = canvas.roi(poly, 3)
        if roi is None:
            continue
        canvas.blend(roi, fill(new_mask(roi), roi, [poly]), col)
        bowl = np.stack([sgn * (w + 0.45 * wd + 0.5 * wd * np.cos(t)), y - 0.03 + 0.3 * h * np.sin(t)], 1)
        shadow = fill(new_mask(roi), roi, [canvas.project(bowl, -0.15)])
        lines(shadow, roi, [poly[2:16]], 0.015 * canvas.unit, 180)
        blur(shadow, 0.015 * canvas.unit)
        canvas.darken(roi, shadow, 0.35)
