"""Hair: a style's outline and hairline in the face frame, a strand texture, and its compositing.

The back of the hair is painted before the face, the front (over the forehead, with a soft shadow,
stray strands and flyaways) after it; both take their colour from one strand texture that radiates
from a crown above the parting and carries a sheen band.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..face_shape import FaceShape
from .canvas import Roi, blur, fill, lines, new_mask
from .curves import arc_interp, unit
from .scene import Scene


@dataclass(frozen=True)
class HairShape:
    """Hair polygons in the face frame (posed with :meth:`Canvas.project`)."""

    style: str  # "short", "medium", "long" or "buzz"
    back: np.ndarray  # the whole hair outline: over the top, down the sides, a ragged bottom
    front: np.ndarray  # the part in front of the face: hairline (left to right), then the outer arc
    outer_top: np.ndarray  # the outer arc over the top of the head (right to left)
    hairline: np.ndarray  # from the image-left temple to the right one
    parting_x: float


@dataclass(frozen=True)
class HairTexture:
    """The strand texture: a planar ``3 x h x w`` colour field over ``roi`` (all the hair and flyaways)."""

    roi: Roi
    field: np.ndarray


def _sample_outline(rng: np.random.Generator, params: dict[str, float],
                    male: bool) -> tuple[str, np.ndarray, np.ndarray]:
    """Style, outline polygon and the outer arc over the top (face frame)."""
    w, jt, fh = params["w"], params["jaw_top"], params["forehead"]
    style = rng.choice(["short", "medium", "long", "buzz"], p=[0.36, 0.28, 0.31, 0.05] if male else
                       [0.06, 0.34, 0.6, 0.0])
    # every style's value is drawn (dict literals), so the stream does not depend on the style
    volume_x = {"short": rng.uniform(1.04, 1.16), "medium": rng.uniform(1.08, 1.3), "long": rng.uniform(1.08, 1.35),
                "buzz": 1.02}[style]
    volume_top = {"short": rng.uniform(0.1, 0.28), "medium": rng.uniform(0.14, 0.35),
                  "long": rng.uniform(0.12, 0.35), "buzz": 0.015}[style]
    bottom = {"short": jt + rng.uniform(-0.1, 0.25), "medium": rng.uniform(0.3, 1.1),
              "long": rng.uniform(1.6, 4.0), "buzz": jt - 0.05}[style]
    flare = rng.uniform(1.0, 1.25) if style == "long" else 1.0
    a = np.linspace(-0.12, np.pi + 0.12, 30)
    top = np.stack([w * volume_x * np.cos(a), jt - 0.05 - (fh + volume_top) * np.sin(a)], axis=1)
    side = w * volume_x * flare
    n_bottom = 9
    bx = np.linspace(-side, side, n_bottom)
    by = bottom + rng.uniform(-0.06, 0.06, n_bottom) * (1 if style != "buzz" else 0)
    # outer arc (R->L over the top), down the image-left side, ragged bottom L->R, up the right side
    left = np.array([[-w * volume_x, (top[-1, 1] + bottom) / 2]]) if bottom > top[-1, 1] else np.zeros((0, 2))
    back = np.concatenate([top, left, np.stack([bx, by], 1), left * (-1.0, 1.0)])
    return str(style), back, top


def _sample_hairline(rng: np.random.Generator, shape: FaceShape, style: str,
                     male: bool) -> tuple[np.ndarray, float]:
    """The hairline (face frame, image-left temple to the right one) and the parting's ``x``."""
    params = shape.params
    w, jt, fh = params["w"], params["jaw_top"], params["forehead"]
    x = np.linspace(-1.0, 1.0, 27) * w * 0.99
    brow_top = shape.frame_points[17:27, 1].min() - 0.3 * params["brow_thick"]  # top edge of the brows
    y_temple = jt - rng.uniform(0.08, 0.28)
    fringe = style in ("medium", "long") and rng.random() < 0.35
    y_centre = brow_top - (rng.uniform(0.04, 0.25) if fringe else rng.uniform(0.3, 0.6))
    y_centre = max(y_centre, jt - fh + 0.25)
    y = y_temple + (y_centre - y_temple) * (1 - np.abs(x / w) ** rng.uniform(1.5, 4.0))
    parting_x = rng.uniform(-0.5, 0.5) * w
    y -= rng.uniform(0.0, 0.1) * np.exp(-(((x - parting_x) / 0.08) ** 2))  # a parting
    y = np.maximum(y, jt - fh + 0.2)
    side_sign = rng.choice([-1.0, 1.0])
    y += rng.uniform(0.0, 0.3 if not fringe else 0.1) * np.clip((x - parting_x) * side_sign, 0, None)
    if fringe:  # a ragged edge of locks
        y -= rng.uniform(0, 1, len(x)) * 0.03 + (np.arange(len(x)) % 2) * rng.uniform(0.0, 0.06)
    elif male and rng.random() < 0.25:  # receding temples
        y -= rng.uniform(0.05, 0.2) * np.exp(-(((np.abs(x) - 0.55 * w) / 0.2) ** 2))
    y = np.minimum(y, brow_top - 0.05)  # never over the brows
    return np.stack([x, y], axis=1), parting_x


def sample_hair(scene: Scene) -> HairShape:
    """A hair style for the scene's face (styles depend on the sex)."""
    male = scene.look.male
    style, back, outer_top = _sample_outline(scene.rng, scene.params, male)
    hairline, parting_x = _sample_hairline(scene.rng, scene.shape, style, male)
    return HairShape(style=style, back=back, front=np.concatenate([hairline, outer_top]), outer_top=outer_top,
                     hairline=hairline, parting_x=parting_x)


def _strand_angles(rng: np.random.Generator, unit_px: float, roi: Roi,
                   crown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Angle and distance of every ``roi`` pixel as seen from the crown (angles bent for wavy hair)."""
    dx = np.arange(roi.x0, roi.x1, dtype=np.float32) - np.float32(crown[0])
    dy = np.arange(roi.y0, roi.y1, dtype=np.float32) - np.float32(crown[1])
    theta = np.arctan2(dx[None, :], dy[:, None])
    rad = np.sqrt(dx[None, :] ** 2 + dy[:, None] ** 2)
    if rng.random() < 0.3:  # wavy: strands displaced sideways by a sine along their length
        amp, lam = rng.uniform(3.0, 8.0) * unit_px / 80.0, rng.uniform(40.0, 120.0) * unit_px / 80.0
        phase = rng.uniform(0, 6.3)
        wave = np.sin(rad * np.float32(2 * np.pi / lam) + np.float32(phase))
        theta += np.float32(amp) * wave / np.maximum(rad, 20.0)
    return theta, rad


def _strand_shades(rng: np.random.Generator, theta: np.ndarray) -> np.ndarray:
    """Per-pixel brightness of the strands: a random table of fine and coarse streaks looked up by angle."""
    nt = 1024
    fine = rng.random(nt) ** rng.uniform(0.7, 1.5)
    coarse_knots = rng.random(40)
    coarse = np.interp(np.arange(nt), np.linspace(0, nt, 41), np.r_[coarse_knots, coarse_knots[0]])
    table = (0.55 * fine + 0.45 * coarse).astype(np.float32)
    idx = (theta * np.float32(nt / (2 * np.pi) * rng.uniform(0.5, 1.0))).astype(np.int32) & (nt - 1)
    shades = table[idx]
    contrast = rng.uniform(0.5, 0.9)
    shades *= np.float32(contrast)
    shades += np.float32(1.0 - contrast / 2)
    return shades


def _colour_field(rng: np.random.Generator, unit_px: float, rad: np.ndarray, shades: np.ndarray,
                  colour: np.ndarray) -> np.ndarray:
    """Hair colour times the strand shades, plus a sheen band round the crown (a bump in ``rad``)."""
    bump = (rad - np.float32(rng.uniform(0.35, 0.8) * unit_px)) * np.float32(1.0 / (0.2 * unit_px))
    np.square(bump, out=bump)
    np.subtract(1.0, bump, out=bump)
    np.maximum(bump, 0.0, out=bump)
    bump *= np.float32(rng.uniform(0.05, 0.35)) * shades
    base = colour.astype(np.float32)
    field = np.empty((3,) + shades.shape, np.float32)
    for c in range(3):
        np.multiply(shades, base[c], out=field[c])
        field[c] += bump * np.float32(0.3 + base[c])
    return np.minimum(field, 1.0, out=field)


def hair_texture(scene: Scene, hair: HairShape) -> HairTexture | None:
    """The strand texture over the whole hair area (None when the hair is off the canvas)."""
    canvas = scene.canvas
    polygons = [canvas.project(hair.back), canvas.project(hair.front)]
    roi = canvas.roi(np.concatenate(polygons), pad=0.08 * canvas.unit)  # room for flyaways
    if roi is None:
        return None
    crown = canvas.project(np.array([[hair.parting_x * 0.6, hair.outer_top[:, 1].min() - 0.3]]))[0]  # above the hair
    theta, rad = _strand_angles(scene.rng, canvas.unit, roi, crown)
    shades = _strand_shades(scene.rng, theta)
    return HairTexture(roi, _colour_field(scene.rng, canvas.unit, rad, shades, scene.look.hair))


def composite_hair(scene: Scene, hair: HairShape, texture: HairTexture | None, polygon: np.ndarray) -> None:
    """Paint the face-frame ``polygon`` with the strand texture (a buzz cut lets some skin through)."""
    if texture is None:
        return
    canvas, roi = scene.canvas, texture.roi
    mask = fill(new_mask(roi), roi, [canvas.project(polygon)])
    canvas.blend(roi, mask, texture.field, 0.75 if hair.style == "buzz" else 1.0)


def _stray_strands(scene: Scene, hair: HairShape, down: np.ndarray) -> np.ndarray:
    """A few strands falling over the hairline: ``n x 3 x 2`` canvas polylines."""
    canvas, rng = scene.canvas, scene.rng
    n = int(rng.integers(3, 10))
    root = arc_interp(canvas.project(hair.hairline), rng.uniform(0.1, 0.9, n))
    d = unit(rng.normal(0, 0.35, (n, 2)) + down)
    length = rng.uniform(0.04, 0.12, (n, 1)) * canvas.unit
    side = np.stack([-d[:, 1], d[:, 0]], 1) * rng.normal(0, 0.15, (n, 1)) * length
    return np.stack([root - d * length * 0.3, root + d * length * 0.4 + side, root + d * length + 2 * side], 1)


def _flyaways(scene: Scene, hair: HairShape, down: np.ndarray) -> np.ndarray:
    """Hairs sticking out of the outline, away from the head: ``k x 3 x 2`` canvas polylines."""
    canvas, rng = scene.canvas, scene.rng
    k = int(rng.integers(10, 40))
    root = arc_interp(canvas.project(hair.outer_top), rng.uniform(0.03, 0.97, k))
    centre = canvas.project(np.array([[0.0, scene.params["jaw_top"] - 0.3]]))[0]
    d = unit(unit(root - centre) + rng.normal(0, 0.5, (k, 2)) + 0.5 * down)
    length = rng.uniform(0.03, 0.1, (k, 1)) * canvas.unit
    side = np.stack([-d[:, 1], d[:, 0]], 1) * rng.normal(0, 0.2, (k, 1)) * length
    return np.stack([root - d * length * 0.5, root + d * length * 0.1 + side, root + d * length * 0.5 + 2 * side], 1)


def draw_front_hair(scene: Scene, hair: HairShape, texture: HairTexture | None) -> None:
    """The hair over the forehead, its soft shadow just under the hairline, stray strands and flyaways."""
    if texture is None:
        return
    canvas, rng, roi = scene.canvas, scene.rng, texture.roi
    shadow = lines(new_mask(roi), roi, [canvas.project(hair.hairline) + canvas.vector(0.0, 0.02)], 0.08 * canvas.unit)
    blur(shadow, 0.04 * canvas.unit)
    canvas.darken(roi, shadow, rng.uniform(0.15, 0.4))
    composite_hair(scene, hair, texture, hair.front)
    if hair.style == "buzz":
        return
    down = canvas.vector(0, 1) / canvas.unit
    strands = np.concatenate([_stray_strands(scene, hair, down), _flyaways(scene, hair, down)])
    canvas.blend(roi, lines(new_mask(roi), roi, strands, 1), scene.look.hair * 0.85, 0.6)
