"""Eyes drawn on landmarks 36-47: sclera, iris fibres, limbal ring, pupil, highlight, caruncle, lid shadow,
then lid creases, lower lid lines, eyelid margins and lashes.

Both eyes are drawn in one pass so that they share the gaze, the iris size and the colours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

from .canvas import AA, SHIFT, Canvas, Roi, blur, circle, ellipse, fill, fixed_point, lines, mix, new_mask
from .curves import arc_interp, spline, unit
from .scene import Scene
from .skin import SkinShading


@dataclass(frozen=True)
class Eye:
    """One eye's contours in canvas pixels."""

    upper: np.ndarray  # upper lid, corner to corner through the upper-lid landmarks
    lower: np.ndarray  # lower lid, back to the first corner
    outline: np.ndarray
    image_left: bool  # landmarks 36-41 (the subject's right eye)
    outer: np.ndarray  # outer corner
    inner: np.ndarray  # inner corner
    width: float
    centre: np.ndarray
    out_dir: np.ndarray  # unit vector from the inner to the outer corner


class EyePair(NamedTuple):
    """Both eyes and what they share."""

    eyes: tuple[Eye, Eye]
    width: float  # mean eye width, canvas pixels
    lit: float  # skin shading at the eyes
    up: np.ndarray  # the face's up direction, canvas unit vector


class Iris(NamedTuple):
    """Both irises: radius, pupil radius, centres (after the gaze) and fibre segments (``n x 2 x 2``)."""

    radius: float
    pupil: float
    centres: list[np.ndarray]
    fibres: np.ndarray


def _eye(landmarks: np.ndarray, first: int) -> Eye:
    """The eye of landmarks ``first .. first + 5`` (36 or 42)."""
    pts = landmarks[first:first + 6]
    upper, lower = spline(pts[[0, 1, 2, 3]], 8), spline(pts[[3, 4, 5, 0]], 8)
    image_left = first == 36
    outer, inner = (pts[0], pts[3]) if image_left else (pts[3], pts[0])
    return Eye(upper=upper, lower=lower, outline=np.concatenate([upper, lower[1:-1]]), image_left=image_left,
               outer=outer, inner=inner, width=math.hypot(*(inner - outer)), centre=pts.mean(axis=0),
               out_dir=unit(outer - inner))


def _sclera(rng: np.random.Generator, pair: EyePair, roi: Roi) -> np.ndarray:
    """A planar ``3 x h x w`` layer of sclera colour over ``roi``, darker towards the corners."""
    xs = np.arange(roi.x0, roi.x1, dtype=np.float32)
    ys = np.arange(roi.y0, roi.y1, dtype=np.float32)[:, None]
    d2 = None
    for eye in pair.eyes:
        dd = (xs - np.float32(eye.centre[0])) ** 2 + (ys - np.float32(eye.centre[1])) ** 2
        d2 = dd if d2 is None else np.minimum(d2, dd)
    d2 = np.minimum(d2 * np.float32(4.0 / pair.width**2), 1.0)
    colour = (np.array([0.95, 0.92, 0.89]) * rng.uniform(0.8, 0.98) * (0.55 + 0.45 * pair.lit)).astype(np.float32)
    return colour[:, None, None] * (1.0 - 0.3 * d2)[None]


def _sample_iris(rng: np.random.Generator, canvas: Canvas, pair: EyePair) -> Iris:
    """Iris and pupil size, a gaze shared by both eyes, and radial fibres."""
    ew = pair.width
    radius = ew * rng.uniform(0.2, 0.25)
    pupil = radius * rng.uniform(0.36, 0.5)
    gaze = canvas.vector(rng.normal(0, 0.03), rng.normal(0, 0.01)) / canvas.unit * ew + pair.up * 0.05 * ew
    centres, fibres = [], []
    for eye in pair.eyes:
        centre = eye.centre + gaze
        n = int(rng.integers(14, 30))
        ang = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(0, 0.2, n)
        dirs = np.stack([np.cos(ang), np.sin(ang)], 1)
        at_pupil = centre + dirs * pupil * 1.1
        fibres.append(np.stack([at_pupil, centre + dirs * radius * rng.uniform(0.6, 0.95, (n, 1))], 1))
        centres.append(centre)
    return Iris(radius, pupil, centres, np.concatenate(fibres))


def _paint_iris(layer: np.ndarray, roi: Roi, iris: Iris, colour: np.ndarray) -> None:
    """Irises (fibres in three tones, limbal ring) and pupils over the sclera ``layer``."""
    image = np.empty(layer.shape[1:] + (3,), np.uint8)
    image[:] = np.clip(colour * 255, 0, 255).astype(np.uint8)
    fibres = fixed_point(iris.fibres, roi)
    for k, gain in enumerate((0.55, 1.2, 1.7)):
        cv2.polylines(image, list(fibres[k::3]), False, np.clip(colour * gain * 255, 0, 255).tolist(), 1, AA, SHIFT)
    limbus = (colour * 0.35 * 255).tolist()
    mask = new_mask(roi)
    for centre in iris.centres:
        c = fixed_point(centre[None], roi)[0]
        circle(image, c, iris.radius * 0.95, limbus, max(1, int(0.16 * iris.radius)))
        circle(image, c, iris.pupil, (8, 7, 7))
        circle(mask, c, iris.radius, 255)
    mix(layer, mask, image.transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255))


def _draw_eyeballs(scene: Scene, pair: EyePair, roi: Roi) -> None:
    """The eyeballs, composed in a small layer and then blended inside the eye outlines."""
    canvas, rng, look = scene.canvas, scene.rng, scene.look
    ew = pair.width
    layer = _sclera(rng, pair, roi)
    iris = _sample_iris(rng, canvas, pair)
    _paint_iris(layer, roi, iris, look.iris * (0.6 + 0.4 * pair.lit))
    caruncle, highlight, shadow = new_mask(roi), new_mask(roi), new_mask(roi)
    light_dir = unit(np.array([look.light[0], look.light[1]]) + 1e-3)
    for eye, centre in zip(pair.eyes, iris.centres):
        ellipse(caruncle, roi, eye.inner + (eye.centre - eye.inner) * 0.12, (0.05 * ew, 0.04 * ew), canvas.angle_deg)
        ellipse(highlight, roi, centre + iris.radius * 0.45 * light_dir + pair.up * 0.1 * iris.radius,
                (max(0.45 * canvas.factor, 0.2 * iris.radius),) * 2, 0.0)
    lines(shadow, roi, [eye.upper for eye in pair.eyes], 0.15 * ew)  # shadow of the upper lids
    blur(shadow, 0.06 * ew)
    mix(layer, shadow, (0.0, 0.0, 0.0), rng.uniform(0.3, 0.55))
    mix(layer, caruncle, np.array([0.85, 0.5, 0.5]) * pair.lit, 0.6)
    mix(layer, highlight, (1.0, 1.0, 1.0), rng.uniform(0.7, 0.95))
    canvas.blend(roi, fill(new_mask(roi), roi, [eye.outline for eye in pair.eyes]), layer)


def _lashes(rng: np.random.Generator, eye: Eye, up: np.ndarray, unit_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Upper lashes (``n x 3 x 2``, denser and longer towards the outer corner) and a few lower ones."""
    n = int(rng.integers(10, 24))
    tl = np.sort(rng.uniform(0.02, 0.98, n) ** 0.8)  # from the outer corner, denser there
    roots = arc_interp(eye.upper if eye.image_left else eye.upper[::-1], tl)
    phi = (0.25 + 0.75 * (1 - tl)) * rng.uniform(0.6, 1.0)
    d = unit(up[None] * np.cos(phi)[:, None] + eye.out_dir[None] * np.sin(phi)[:, None])
    ln = (rng.uniform(0.04, 0.085) * unit_px * (0.55 + 0.45 * np.sin(np.pi * (0.25 + 0.6 * (1 - tl)))))[:, None]
    ln *= rng.uniform(0.8, 1.2, (n, 1))
    middle = roots + d * ln * 0.55 + eye.out_dir * ln * 0.05
    upper = np.stack([roots, middle, roots + d * ln + eye.out_dir * ln * 0.2], 1)
    roots = arc_interp(eye.lower[::-1] if eye.image_left else eye.lower, rng.uniform(0.05, 0.7, n // 3))
    lower = np.stack([roots, roots - up * 0.025 * unit_px + eye.out_dir * 0.01 * unit_px], 1)
    return upper, lower


def _draw_lids(scene: Scene, pair: EyePair, roi: Roi) -> None:
    """Lid creases, lower lid lines, eyelid margins (thicker towards the outer corner) and lashes."""
    canvas, rng, u = scene.canvas, scene.rng, scene.canvas.unit
    t = np.linspace(0, 1, len(pair.eyes[0].upper))[:, None]
    crease_h = rng.uniform(0.18, 0.4) * pair.width
    margin_t = rng.uniform(0.012, 0.03) * u
    creases, margins, upper_lashes, lower_lashes = [], [], [], []
    for eye in pair.eyes:
        creases.append((eye.upper + pair.up * crease_h * (0.3 + 0.7 * np.sin(np.pi * t) ** 0.7))[2:-1])
        thick = margin_t * (1.0 - 0.6 * (t if eye.image_left else 1.0 - t))
        margins.append(np.concatenate([eye.upper, (eye.upper + pair.up * thick)[::-1]]))
        upper, lower = _lashes(rng, eye, pair.up, u)
        upper_lashes.append(upper)
        lower_lashes.append(lower)
    mask = new_mask(roi)
    lines(mask, roi, creases, max(1.0, 0.012 * u), int(255 * rng.uniform(0.2, 0.4)))
    lines(mask, roi, [eye.lower for eye in pair.eyes], 1, int(255 * rng.uniform(0.2, 0.35)))
    fill(mask, roi, margins, 230)
    lines(mask, roi, np.concatenate(upper_lashes), 1, int(255 * rng.uniform(0.65, 0.95)))
    lines(mask, roi, np.concatenate(lower_lashes), 1, 110)
    canvas.blend(roi, mask, np.array([0.05, 0.04, 0.035]) * (0.7 + 0.3 * pair.lit))


def draw_eyes(scene: Scene, shading: SkinShading) -> None:
    """Both eyes, lit like the skin around them."""
    canvas = scene.canvas
    eyes = (_eye(canvas.landmarks, 36), _eye(canvas.landmarks, 42))
    pair = EyePair(eyes=eyes, width=0.5 * (eyes[0].width + eyes[1].width),
                   lit=0.5 * (shading.at(eyes[0].centre) + shading.at(eyes[1].centre)),
                   up=canvas.vector(0, -1) / canvas.unit)
    outlines = np.concatenate([eye.outline for eye in eyes])
    eyeball_roi, lid_roi = canvas.roi(outlines, 2), canvas.roi(outlines, 0.5 * pair.width)
    if eyeball_roi is None or lid_roi is None:
        return
    _draw_eyeballs(scene, pair, eyeball_roi)
    _draw_lids(scene, pair, lid_roi)
