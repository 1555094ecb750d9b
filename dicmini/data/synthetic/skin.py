"""Skin: the face's lit ellipsoid shading with albedo, blush, eye sockets and pores, then skin marks.

The shading is computed on a quarter-resolution grid over the face's box and kept (:class:`SkinShading`),
so flat-coloured features drawn later (eyes, brows, lips) can be lit to match the skin around them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..face_shape import FaceShape
from .canvas import AA, ONE, SHIFT, Roi, blur, fill, fixed_point, new_mask
from .curves import unit
from .grain import grain
from .scene import Scene

_CELL = 4  # canvas pixels per shading-grid cell


@dataclass(frozen=True)
class SkinShading:
    """The face's shading factor (ambient + diffuse, no albedo) on a quarter-resolution grid over ``roi``."""

    roi: Roi
    low: np.ndarray  # gh x gw

    def at(self, point: np.ndarray) -> float:
        """The shading factor near canvas ``point`` (for flat-coloured features)."""
        gh, gw = self.low.shape
        x, y = float(point[0]), float(point[1])
        i = min(max(round((x - self.roi.x0 - 1.5) / _CELL), 0), gw - 1)
        j = min(max(round((y - self.roi.y0 - 1.5) / _CELL), 0), gh - 1)
        return float(self.low[j, i])


def forehead_arc(params: dict[str, float]) -> np.ndarray:
    """The top of the face outline (face frame): an arc from jaw point 16's side over the forehead to 0's."""
    w, jt, fh = params["w"], params["jaw_top"], params["forehead"]
    a = np.linspace(0.0, np.pi, 22)[1:-1]
    return np.stack([w * np.cos(a) * (1 - 0.07 * np.sin(a)), jt - fh * np.sin(a)], axis=1)


def _grid_in_face_frame(canvas_factor: int, shape: FaceShape, roi: Roi) -> tuple[np.ndarray, np.ndarray]:
    """Face-frame ``(u, v)`` of the shading-grid cell centres over ``roi``."""
    gw, gh = -(-(roi.x1 - roi.x0) // _CELL), -(-(roi.y1 - roi.y0) // _CELL)
    gx = (roi.x0 + np.arange(gw) * _CELL + 1.5 + 0.5) / canvas_factor - 0.5
    gy = (roi.y0 + np.arange(gh) * _CELL + 1.5 + 0.5) / canvas_factor - 0.5
    uv = shape.to_frame(np.stack(np.meshgrid(gx, gy), -1))
    return uv[..., 0], uv[..., 1]


def _lighting(scene: Scene, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Diffuse shading (with ambient) and a specular sheen of an ellipsoid face at ``(u, v)``."""
    light, ambient = scene.look.light, scene.look.ambient
    ucen = 0.6 * np.sin(scene.shape.yaw)
    nx = (u - ucen) / (1.12 * scene.params["w"])
    ny = (v + 0.18) / 1.38
    nz = np.sqrt(np.clip(1 - nx**2 - ny**2, 0.0, 1.0))
    lam = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1)
    shade = ambient + (1 - ambient) * lam
    half = unit(light + np.array([0, 0, 1.0]))
    spec = np.clip(nx * half[0] + ny * half[1] + nz * half[2], 0, 1) ** 12 * scene.rng.uniform(0.0, 0.12)
    return shade, spec


def _eye_sockets(shape: FaceShape, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Soft face-aligned blobs above and around both eyes (1 at their centres)."""
    lm = shape.to_frame(shape.landmarks)
    socket = np.zeros_like(u)
    for a, b in ((36, 42), (42, 48)):
        c = lm[a:b].mean(0)
        ew = np.hypot(*(lm[a + 3] - lm[a]))
        c = c + (0.05 * ew * np.sign(c[0] - lm[27, 0]), -0.2 * ew)
        socket += np.exp(-(((u - c[0]) / (0.85 * ew)) ** 2 + ((v - c[1]) / (0.5 * ew)) ** 2))
    return socket


def _albedo(scene: Scene, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Skin colour at ``(u, v)``: faint blotches, blush on the cheeks and nose, darker eye sockets."""
    rng, skin = scene.rng, scene.look.skin
    blotch = cv2.resize(rng.normal(0, 1, (6, 6, 3)).astype(np.float32), u.shape[::-1], interpolation=cv2.INTER_CUBIC)
    albedo = skin * (1 + 0.03 * blotch)
    blush_col = np.array([0.85, 0.3, 0.3]) * skin.mean() * 1.4
    blush = rng.uniform(0.0, 0.3) * (np.exp(-(((np.abs(u) - 0.55) / 0.2) ** 2 + ((v - 0.12) / 0.17) ** 2))
                                     + 0.6 * np.exp(-((u / 0.1) ** 2 + ((v - 0.1) / 0.1) ** 2)))
    albedo = albedo + (blush_col - albedo) * blush[..., None]
    albedo *= 1.0 - rng.uniform(0.12, 0.3) * _eye_sockets(scene.shape, u, v)[..., None] * np.array([1.0, 1.1, 1.0])
    return albedo


def draw_skin(scene: Scene, forehead: np.ndarray) -> SkinShading:
    """Paint the face (jaw 0-16 closed by the face-frame ``forehead`` arc): shaded albedo times pore grain."""
    canvas, rng = scene.canvas, scene.rng
    outline = np.concatenate([canvas.landmarks[0:17], canvas.project(forehead)])
    roi = canvas.roi(outline, 2)
    u, v = _grid_in_face_frame(canvas.factor, scene.shape, roi)
    shade, spec = _lighting(scene, u, v)
    low = (_albedo(scene, u, v) * shade[..., None] + spec[..., None]).astype(np.float32)
    h, w = roi.y1 - roi.y0, roi.x1 - roi.x0
    pores = grain(scene.noise, h, w) * np.float32(rng.uniform(0.015, 0.05))  # pixel-scale grain
    pores += np.float32(1.0)
    full = np.empty((3, h, w), np.float32)
    gh, gw = u.shape
    for c, plane in enumerate(cv2.split(low)):
        big = cv2.resize(plane, (gw * _CELL, gh * _CELL), interpolation=cv2.INTER_LINEAR)
        np.multiply(big[:h, :w], pores, out=full[c])
    canvas.blend(roi, fill(new_mask(roi), roi, [outline]), full)
    return SkinShading(roi, shade)


def _freckles(scene: Scene, roi: Roi) -> None:
    """Dozens of small spots of varying strength over the nose and cheeks."""
    canvas, rng = scene.canvas, scene.rng
    n = int(rng.integers(30, 140)) // 2
    spots = [np.stack([rng.normal(s * 0.33, 0.2, n), rng.normal(-0.05, 0.13, n)], 1) for s in (-1, 1)]
    mask = new_mask(roi)
    for q in fixed_point(canvas.project(np.concatenate(spots)), roi):
        radius = int(rng.uniform(0.4, 1.0) * canvas.factor * ONE / 2)
        cv2.circle(mask, (int(q[0]), int(q[1])), radius, int(rng.integers(80, 256)), -1, AA, SHIFT)
    canvas.darken(roi, mask, rng.uniform(0.15, 0.35), (0.7, 1.0, 1.2))


def _mole(scene: Scene, roi: Roi) -> None:
    """One dark spot somewhere on the face."""
    canvas, rng = scene.canvas, scene.rng
    q = fixed_point(canvas.project(np.array([[rng.uniform(-0.8, 0.8), rng.uniform(-0.9, 0.9)]])), roi)[0]
    mask = new_mask(roi)
    cv2.circle(mask, (int(q[0]), int(q[1])), int(rng.uniform(0.6, 1.4) * canvas.factor * ONE / 2), 255, -1, AA,
               SHIFT)
    canvas.darken(roi, mask, rng.uniform(0.3, 0.6), (0.8, 1.0, 1.1))


def _stubble(scene: Scene) -> None:
    """Speckled dark stubble over the lower jaw, chin and upper lip."""
    canvas, rng, lm, vec = scene.canvas, scene.rng, scene.canvas.landmarks, scene.canvas.vector
    region = np.concatenate([lm[3:14], lm[[54]] + vec(0.05, -0.02), lm[[35]] + vec(0.03, 0.06),
                             lm[[33]] + vec(0, 0.05), lm[[31]] + vec(-0.03, 0.06), lm[[48]] + vec(-0.05, -0.02)])
    roi = canvas.roi(region, 2)
    mask = fill(new_mask(roi), roi, [region])
    blur(mask, 0.06 * canvas.unit)
    density = rng.uniform(0.3, 1.0)
    speckle = (grain(scene.noise, *mask.shape) > 1 - 0.7 * density).astype(np.float32) * 0.8 + 0.2 * density
    dark = (mask.astype(np.float32) * speckle).astype(np.uint8)
    canvas.blend(roi, dark, scene.look.brow * 0.6, rng.uniform(0.25, 0.6))


def draw_skin_marks(scene: Scene, shading: SkinShading) -> None:
    """Sometimes freckles, up to two moles, and (on some men) stubble."""
    rng = scene.rng
    if rng.random() < 0.15:
        _freckles(scene, shading.roi)
    for _ in range(int(rng.integers(0, 3))):
        _mole(scene, shading.roi)
    if scene.look.male and rng.random() < 0.35:
        _stubble(scene)
