"""The mouth: lips filled between the outer (48-59) and inner (60-67) contours in two tones, shadows,
an open mouth with teeth, a lower-lip highlight, the vermilion border and vertical lip creases."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .canvas import Roi, blur, ellipse, fill, lines, mask_product, new_mask
from .curves import arc_interp, spline
from .look import LIPSTICKS, pick_colour
from .scene import Scene
from .skin import SkinShading

_LUMA = np.array([0.299, 0.587, 0.114])


class LipContours(NamedTuple):
    """Splines through the lip landmarks, each from the image-left corner to the right one (or back)."""

    upper_outer: np.ndarray  # 48-54
    lower_outer: np.ndarray  # 54-59, 48
    upper_inner: np.ndarray  # 60-64
    lower_inner: np.ndarray  # 64-67, 60


def _lip_contours(lm: np.ndarray) -> LipContours:
    """The four lip splines through canvas landmarks ``lm``."""
    return LipContours(spline(lm[48:55], 6), spline(lm[[54, 55, 56, 57, 58, 59, 48]], 6), spline(lm[60:65], 6),
                       spline(lm[[64, 65, 66, 67, 60]], 6))


def _mouth_shadows(scene: Scene, roi: Roi, half_width: float) -> None:
    """Soft shadows under the lower lip and at the mouth corners."""
    canvas, lm, u = scene.canvas, scene.canvas.landmarks, scene.canvas.unit
    soft = new_mask(roi)
    ellipse(soft, roi, lm[57] + canvas.vector(0, 0.05), (0.55 * half_width, 0.045 * u), canvas.angle_deg, 255)
    for k in (48, 54):
        ellipse(soft, roi, lm[k], (0.04 * u, 0.03 * u), canvas.angle_deg, 255)
    blur(soft, 0.04 * u)
    canvas.darken(roi, soft, scene.rng.uniform(0.15, 0.35))


def _lip_colour(scene: Scene, lit: float) -> np.ndarray:
    """Natural lips a little darker than the skin, or (on some women) lipstick; lit like the skin."""
    rng, skin = scene.rng, scene.look.skin
    lip = skin * np.array([0.8, 0.5, 0.52]) + np.array([0.12, 0.0, 0.02])
    lip = lip * rng.uniform(0.85, 1.1) * (1 + rng.normal(0, 0.04, 3))
    if not scene.look.male and rng.random() < 0.3:
        lip = pick_colour(rng, LIPSTICKS, None, 0.08) * (0.7 + 0.3 * skin.mean() / 0.7)
    lip = lip * min(1.0, 0.85 * (skin @ _LUMA) / max(lip @ _LUMA, 1e-3))  # lips a little darker than skin
    return np.clip(lip * (0.5 + 0.5 * lit), 0, 1)


def _teeth(scene: Scene, roi: Roi, lips: LipContours, interior: np.ndarray, gap: float, lit: float) -> None:
    """Upper teeth under the upper lip, with dark gaps between them."""
    canvas, rng, u = scene.canvas, scene.rng, scene.canvas.unit
    ui = lips.upper_inner
    down = canvas.vector(0, 1) / u
    height = min(scene.params["teeth"] * u, 0.6 * gap)
    teeth = mask_product(fill(new_mask(roi), roi, [np.concatenate([ui, (ui + down * height)[::-1]])]), interior)
    canvas.blend(roi, teeth, np.array([0.93, 0.9, 0.83]) * rng.uniform(0.75, 1.0) * lit)
    gaps = new_mask(roi)
    xs = np.arange(-4, 5) * 0.055 * u
    mid = ui[len(ui) // 2]
    right = canvas.vector(1, 0) / u
    lines(gaps, roi, [np.stack([mid + right * x, mid + right * x + down * height]) for x in xs], 1, 200)
    canvas.darken(roi, mask_product(gaps, teeth), 0.3)


def _open_mouth(scene: Scene, roi: Roi, lips: LipContours, lit: float) -> None:
    """The dark interior between the inner contours when the lips part, and usually teeth."""
    canvas, lm, u = scene.canvas, scene.canvas.landmarks, scene.canvas.unit
    gap = np.linalg.norm(lm[66] - lm[62])
    if gap <= 0.025 * u:
        return
    interior = fill(new_mask(roi), roi, [np.concatenate([lips.upper_inner, lips.lower_inner])])
    canvas.blend(roi, interior, np.array([0.16, 0.05, 0.06]) * lit)
    if gap > 0.04 * u and scene.rng.random() < 0.85:
        _teeth(scene, roi, lips, interior, gap, lit)


def _lip_highlights(scene: Scene, roi: Roi, lips: LipContours, lower_lip: np.ndarray, lip: np.ndarray,
                    half_width: float) -> None:
    """A soft highlight on the lower lip and a light line along the upper lip's vermilion border."""
    canvas, rng, lm, u = scene.canvas, scene.rng, scene.canvas.landmarks, scene.canvas.unit
    light = new_mask(roi)
    ellipse(light, roi, 0.55 * lm[57] + 0.45 * lm[66],
            (0.4 * half_width, 0.25 * np.linalg.norm(lm[57] - lm[66]) + 1), canvas.angle_deg, 255)
    blur(light, 0.03 * u)
    canvas.blend(roi, mask_product(light, lower_lip), np.minimum(lip * 1.5 + 0.1, 1), rng.uniform(0.2, 0.5))
    border = lines(new_mask(roi), roi, [lips.upper_outer[3:-3] + canvas.vector(0, -0.012)], 1)
    blur(border, 0.6)
    canvas.blend(roi, border, np.minimum(scene.look.skin * 1.3 + 0.1, 1), rng.uniform(0.1, 0.3))


def _lip_creases(scene: Scene, roi: Roi, lips: LipContours, lip: np.ndarray) -> None:
    """Vertical creases across both lips and the dark line between the lips."""
    canvas, rng, u = scene.canvas, scene.rng, scene.canvas.unit
    dark = new_mask(roi)
    crease = int(255 * rng.uniform(0.15, 0.35))
    pairs = ((lips.upper_outer, lips.upper_inner), (lips.lower_outer, lips.lower_inner))  # same direction
    for outer, inner in pairs:
        k = int(rng.integers(6, 14))
        tt = rng.uniform(0.15, 0.85, k)
        a, b = arc_interp(outer, tt), arc_interp(inner, tt)
        f = rng.uniform(0.3, 0.8, (k, 1))
        lines(dark, roi, np.stack([a + (b - a) * 0.1, a + (b - a) * f], 1), 1, crease)
    lines(dark, roi, [lips.upper_inner], max(1.0, 0.014 * u), 215)
    canvas.blend(roi, dark, lip * 0.3)


def draw_mouth(scene: Scene, shading: SkinShading) -> None:
    """Lips (upper a little darker than lower), the open mouth and the lip details."""
    canvas, lm = scene.canvas, scene.canvas.landmarks
    lips = _lip_contours(lm)
    roi = canvas.roi(np.concatenate([lips.upper_outer, lips.lower_outer]), 0.15 * canvas.unit)
    if roi is None:
        return
    lit = shading.at(lm[[51, 57]].mean(0))
    half_width = np.linalg.norm(lm[54] - lm[48]) / 2
    _mouth_shadows(scene, roi, half_width)
    lip = _lip_colour(scene, lit)
    upper = fill(new_mask(roi), roi, [np.concatenate([lips.upper_outer, lips.upper_inner[::-1]])])
    lower = fill(new_mask(roi), roi, [np.concatenate([lips.lower_outer, lips.lower_inner[::-1]])])
    canvas.blend(roi, upper, lip * 0.82)
    canvas.blend(roi, lower, lip)
    _open_mouth(scene, roi, lips, lit)
    _lip_highlights(scene, roi, lips, lower, lip, half_width)
    _lip_creases(scene, roi, lips, lip)
