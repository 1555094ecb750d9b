"""The nose: side shading along the bridge 27-30, its tip highlight, nostrils beside 31-35, alar creases."""

from __future__ import annotations

import numpy as np

from .canvas import Roi, blur, ellipse, lines, new_mask
from .scene import Scene


def _nose_shadows(scene: Scene, roi: Roi, half_width: float) -> None:
    """Soft shadows beside the bridge (stronger on the side away from the light), under the tip and philtrum."""
    canvas, lm, vec, u = scene.canvas, scene.canvas.landmarks, scene.canvas.vector, scene.canvas.unit
    lx = scene.look.light[0]
    soft = new_mask(roi)
    for sgn, a in ((-1, 31), (1, 35)):
        side = np.stack([lm[27] + vec(sgn * 0.07, 0.04), lm[28] + vec(sgn * 0.08, 0), lm[29] + vec(sgn * 0.085, 0),
                         lm[a] + vec(sgn * 0.0, -0.1)])
        strength = np.clip(0.45 - 0.5 * sgn * lx, 0.15, 1.0)
        lines(soft, roi, [side], 0.07 * u, 255 * strength)
        ellipse(soft, roi, lm[a] + vec(-sgn * 0.01, -0.035), (0.055 * u, 0.05 * u), canvas.angle_deg, 150 * strength)
    ellipse(soft, roi, (lm[32] + lm[34]) / 2 + vec(0, 0.012), (0.9 * half_width * u, 0.03 * u), canvas.angle_deg,
            230)
    ellipse(soft, roi, (lm[33] + lm[51]) / 2, (0.025 * u, np.linalg.norm(lm[51] - lm[33]) / 2), canvas.angle_deg, 70)
    blur(soft, 0.05 * u)
    canvas.darken(roi, soft, scene.rng.uniform(0.2, 0.38), (0.95, 1.05, 1.1))


def _nose_highlight(scene: Scene, roi: Roi) -> None:
    """A light line down the bridge and a highlight on the tip, shifted towards the light."""
    canvas, lm, vec, u = scene.canvas, scene.canvas.landmarks, scene.canvas.vector, scene.canvas.unit
    lx = scene.look.light[0]
    light = new_mask(roi)
    lines(light, roi, [np.stack([lm[28], lm[29], lm[30] + vec(0, -0.03)]) + vec(0.02 * lx, 0)], 0.04 * u, 140)
    ellipse(light, roi, lm[30] + vec(0.03 * lx, -0.035), (0.045 * u, 0.035 * u), canvas.angle_deg, 255)
    blur(light, 0.03 * u)
    canvas.blend(roi, light, np.minimum(scene.look.skin * 1.25 + 0.08, 1.0), scene.rng.uniform(0.12, 0.3))


def _nostrils(scene: Scene, roi: Roi, half_width: float) -> None:
    """Dark nostrils and the alar creases round the wings of the nose."""
    canvas, rng, lm, vec, u = scene.canvas, scene.rng, scene.canvas.landmarks, scene.canvas.vector, scene.canvas.unit
    sharp = new_mask(roi)
    for sgn, a, b in ((-1, 31, 32), (1, 35, 34)):
        c = 0.5 * lm[a] + 0.5 * lm[b] + vec(0, -0.024)
        ellipse(sharp, roi, c, (half_width * u * rng.uniform(0.42, 0.67), 0.02 * u),
                canvas.angle_deg - sgn * rng.uniform(5, 25), 255)
    crease = int(255 * rng.uniform(0.15, 0.35))
    for sgn, a in ((-1, 31), (1, 35)):
        c = lm[a] + vec(-sgn * 0.04, -0.055)
        start, end = (110, 240) if sgn < 0 else (-60, 70)
        ellipse(sharp, roi, c, (0.045 * u, 0.06 * u), canvas.angle_deg, crease, 1, start, end)
    blur(sharp, 0.01 * u)
    canvas.darken(roi, sharp, rng.uniform(0.45, 0.7), (0.9, 1.0, 1.0))


def draw_nose(scene: Scene) -> None:
    """Shading, highlight and nostrils around nose landmarks 27-35."""
    canvas, lm = scene.canvas, scene.canvas.landmarks
    roi = canvas.roi(np.concatenate([lm[27:36], lm[[51]]]), 0.15 * canvas.unit)
    half_width = np.linalg.norm(lm[35] - lm[31]) / 2 / canvas.unit  # face units
    _nose_shadows(scene, roi, half_width)
    _nose_highlight(scene, roi)
    _nostrils(scene, roi, half_width)
