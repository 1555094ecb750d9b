"""Procedural 128x128 faces whose 68 iBUG landmarks are exact by construction.

:func:`render_face` samples a face shape (:mod:`dicmini.data.face_shape`: identity, expression, pose)
and then *draws the face from those very points*: the jaw polygon is the skin boundary, the eye
contours pass through 36-47, the lips are filled between the outer (48-59) and inner (60-67)
contours, the brow hairs grow along 17-26, the nose is shaded along the bridge 27-30 with nostrils
beside 31-35. Hair, ears, neck, clothes and background are posed with the same transform.

Rendering happens on a canvas ``f`` times larger than the output (``f >= 2``, canvas >= 256 px) with
OpenCV anti-aliased drawing and NumPy shading, then an exact ``f x f`` box (area) downsample. A point
at hi-res pixel-centre coordinate ``X`` is at ``(X + 0.5) / f - 0.5`` in the output, so the returned
landmarks are in the output's convention: ``(x, y)`` = (column, row), pixel centres at integers.

What is drawn: a background (gradient, blobs, shapes, stripes or grain), hair (styles from buzz cut
to long, fringes, partings, a strand texture radiating from the crown, a sheen band, flyaways),
neck, clothes, ears, skin (lit ellipsoid shading, specular, blush, eye-socket shadows, pore grain,
freckles, moles, stubble), the nose (bridge shading, tip highlight, nostrils, alar creases), eyes
(sclera, iris fibres, limbal ring, pupil, highlight, caruncle, lid shadow, crease, lid margin,
lashes), brows as hundreds of thin hair strokes, and lips (two tones, highlight, vertical creases,
the line between the lips, an open mouth with teeth). The fine detail (lashes, iris, brow hairs,
lip creases, grain) is exactly what an x8 downsampling destroys.

Everything random comes from ``np.random.default_rng(seed)``: the same seed gives the same image,
bit for bit, in every call and process (on one machine and library build), and the same face at
every output size. About 100+ faces/s on one CPU core at 128x128
(``python benchmarks/bench_synthetic.py``). ``python -m dicmini.data.synthetic --out FILE.png``
writes a contact sheet with the landmarks overlaid.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import cv2
import numpy as np

from .face_shape import FaceShape, sample_shape
from .landmarks import NUM_LANDMARKS

__all__ = ["HELD_OUT_SEED_START", "is_held_out", "render_face", "render_faces", "sample_shape", "FaceShape"]

HELD_OUT_SEED_START: int = 900_000
"""Seeds ``>= 900_000`` are reserved for held-out evaluation and are never used for training.

Training and validation sets draw seeds below this value; test sets of synthetic faces use seeds from
``HELD_OUT_SEED_START`` upwards, so no test face can have been seen in training.
"""

_SHIFT = 6  # OpenCV fixed-point fractional bits: coordinates are drawn to 1/64 hi-res pixel
_ONE = float(1 << _SHIFT)
_AA = cv2.LINE_AA


def _check_seed(seed, name: str = "seed") -> int:
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"{name}: expected a non-negative integer, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"{name}: expected a non-negative integer, got {seed}")
    return int(seed)


def is_held_out(seed: int) -> bool:
    """Whether ``seed`` is reserved for held-out evaluation (``seed >= HELD_OUT_SEED_START``)."""
    return _check_seed(seed) >= HELD_OUT_SEED_START


# ------------------------------------------------------------------------------------------ geometry
def _fix(points: np.ndarray) -> np.ndarray:
    """Float pixel coordinates -> OpenCV fixed point (``shift=_SHIFT``)."""
    return np.rint(np.multiply(points, _ONE)).astype(np.int32)


def _catmull_basis(n: int) -> np.ndarray:
    t = np.arange(n) / n
    return 0.5 * np.stack([-t**3 + 2 * t**2 - t, 3 * t**3 - 5 * t**2 + 2, -3 * t**3 + 4 * t**2 + t, t**3 - t**2], 1)


_BASIS = {n: _catmull_basis(n) for n in (4, 6, 8, 10)}


def _curve(points: np.ndarray, n: int = 6, closed: bool = False) -> np.ndarray:
    """A Catmull-Rom spline that passes exactly through ``points`` (``n`` samples per segment)."""
    p = np.asarray(points, dtype=np.float64)
    if closed:
        ext = np.concatenate([p[-1:], p, p[:2]])
        m = len(p)
    else:
        ext = np.concatenate([2 * p[:1] - p[1:2], p, 2 * p[-1:] - p[-2:-1]])
        m = len(p) - 1
    seg = ext[np.arange(m)[:, None] + np.arange(4)[None, :]]  # m x 4 x 2
    out = np.einsum("nk,mkd->mnd", _BASIS[n], seg).reshape(-1, 2)
    return out if closed else np.concatenate([out, p[-1:]])


def _arc_interp(curve: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points at arc-length fractions ``t`` in [0, 1] along a polyline."""
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(curve, axis=0).T))])
    s /= max(s[-1], 1e-9)
    t = np.asarray(t, dtype=np.float64)
    out = np.empty(t.shape + (2,))
    out[..., 0] = np.interp(t, s, curve[:, 0])
    out[..., 1] = np.interp(t, s, curve[:, 1])
    return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.sqrt(np.square(v).sum(axis=-1, keepdims=True)), 1e-9)


# ------------------------------------------------------------------------------------------- colours
_SKIN = np.array([[0.98, 0.86, 0.77], [0.95, 0.78, 0.66], [0.88, 0.67, 0.53], [0.76, 0.55, 0.40],
                  [0.60, 0.41, 0.28], [0.44, 0.29, 0.19], [0.30, 0.20, 0.14]])
_HAIR = np.array([[0.04, 0.035, 0.03], [0.13, 0.085, 0.055], [0.28, 0.18, 0.10], [0.48, 0.33, 0.18],
                  [0.80, 0.65, 0.42], [0.52, 0.20, 0.08], [0.62, 0.61, 0.60], [0.90, 0.88, 0.84],
                  [0.55, 0.12, 0.30], [0.15, 0.25, 0.55]])
_HAIR_P = np.array([0.25, 0.25, 0.17, 0.11, 0.09, 0.05, 0.04, 0.02, 0.01, 0.01])
_DYED = 8  # hair colours from this index on are dyed (brows stay natural)
_IRIS = np.array([[0.30, 0.17, 0.08], [0.16, 0.09, 0.05], [0.42, 0.32, 0.14], [0.28, 0.42, 0.24],
                  [0.30, 0.46, 0.66], [0.45, 0.50, 0.55]])
_IRIS_P = np.array([0.3, 0.3, 0.12, 0.08, 0.13, 0.07])
_LIPSTICK = np.array([[0.70, 0.08, 0.12], [0.86, 0.38, 0.48], [0.45, 0.12, 0.22], [0.88, 0.42, 0.36]])


_GRAIN_SIZE = 1024
_GRAIN: list[np.ndarray] = []


def _grain_texture() -> np.ndarray:
    """A fixed ``1024 x 1024`` field of uniform noise in [-1, 1) (made once; random crops give grain)."""
    if not _GRAIN:
        g = np.random.default_rng(0x5EED).integers(0, 256, (_GRAIN_SIZE, _GRAIN_SIZE), dtype=np.uint8)
        _GRAIN.append((g.astype(np.float32) - np.float32(127.5)) * np.float32(1 / 127.5))
    return _GRAIN[0]


def _grain(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """An ``h x w`` crop of the grain texture at a random offset (tiled for very large canvases)."""
    tex = _grain_texture()
    if h > _GRAIN_SIZE or w > _GRAIN_SIZE:
        tex = np.tile(tex, (-(-h // _GRAIN_SIZE) + 1, -(-w // _GRAIN_SIZE) + 1))
    y0 = int(rng.integers(0, tex.shape[0] - h + 1))
    x0 = int(rng.integers(0, tex.shape[1] - w + 1))
    return tex[y0:y0 + h, x0:x0 + w]


def _pick(rng: np.random.Generator, table: np.ndarray, p: np.ndarray | None = None, jitter: float = 0.05):
    c = table[rng.choice(len(table), p=p)]
    return np.clip(c * (1.0 + rng.normal(0.0, jitter, 3)), 0.0, 1.0)


def _mix(dst: np.ndarray, m: np.ndarray, colour, alpha: float = 1.0) -> None:
    """In place: ``dst += (colour - dst) * alpha * m / 255``.

    ``dst`` is a planar ``3 x h x w`` float32 array, ``m`` an ``h x w`` uint8 mask, ``colour`` an RGB
    triple or a ``3 x h x w`` field.
    """
    a = m.astype(np.float32)
    a *= np.float32(alpha / 255.0)
    col = np.asarray(colour, dtype=np.float32)
    if col.ndim == 1:
        col = col[:, None, None]
    tmp = col - dst
    tmp *= a
    dst += tmp


def _mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Product of two uint8 masks (255 = 1)."""
    return cv2.multiply(a, b, scale=1.0 / 255.0)


# ------------------------------------------------------------------------------------------- painter
class _Painter:
    """A planar float32 RGB canvas (``3 x n x n``, values in [0, 1]) with ROI-limited mask drawing and
    compositing helpers. Planar, because NumPy is slow on a trailing axis of length 3."""

    def __init__(self, shape: FaceShape, factor: int):
        self.shape, self.f = shape, factor
        self.n = shape.size * factor
        self.img = np.empty((3, self.n, self.n), dtype=np.float32)
        self.u = shape.scale * factor  # hi-res pixels per face unit
        c, s = float(np.cos(shape.angle)), float(np.sin(shape.angle))
        self.ex, self.ey = np.array([c, s]), np.array([-s, c])  # face x and y axes in the image
        self._c, self._s = c * self.u, s * self.u
        self.L = self.hi(shape.landmarks)

    def hi(self, points: np.ndarray) -> np.ndarray:
        """Output pixel coordinates -> canvas pixel coordinates."""
        return (np.asarray(points, dtype=np.float64) + 0.5) * self.f - 0.5

    def proj(self, points, z=None) -> np.ndarray:
        """Face-frame points -> canvas pixels (same pose as the landmarks)."""
        return self.hi(self.shape.project(np.asarray(points, dtype=np.float64), z))

    def fr(self, dx: float, dy: float) -> np.ndarray:
        """A face-frame offset (face units) as a canvas pixel vector."""
        return np.array([dx * self._c - dy * self._s, dx * self._s + dy * self._c])

    def roi(self, points: np.ndarray, pad: float):
        p = np.asarray(points).reshape(-1, 2)
        (lx, ly), (hx, hy) = p.min(axis=0).tolist(), p.max(axis=0).tolist()
        x0, y0 = max(math.floor(lx - pad), 0), max(math.floor(ly - pad), 0)
        x1, y1 = min(math.ceil(hx + pad) + 1, self.n), min(math.ceil(hy + pad) + 1, self.n)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        return x0, y0, x1, y1

    @staticmethod
    def mask(roi) -> np.ndarray:
        return np.zeros((roi[3] - roi[1], roi[2] - roi[0]), dtype=np.uint8)

    @staticmethod
    def loc(points: np.ndarray, roi) -> np.ndarray:
        """Canvas points -> fixed-point coordinates relative to ``roi``."""
        p = np.multiply(points, _ONE)
        p -= (roi[0] * _ONE, roi[1] * _ONE)
        return np.rint(p).astype(np.int32)

    def fill(self, m, roi, polys, value=255):
        cv2.fillPoly(m, [self.loc(p, roi) for p in polys], int(value), _AA, _SHIFT)
        return m

    def lines(self, m, roi, polylines, thickness=1, value=255, closed=False):
        """Anti-aliased polylines; ``polylines`` is a list of ``k x 2`` arrays or one ``n x k x 2`` array."""
        if isinstance(polylines, np.ndarray) and polylines.ndim == 3:
            pts = list(self.loc(polylines, roi))
        else:
            pts = [self.loc(p, roi) for p in polylines]
        cv2.polylines(m, pts, closed, int(value), max(1, int(round(thickness))), _AA, _SHIFT)
        return m

    def ellipse(self, m, roi, centre, axes, angle_deg, value=255, thickness=-1, start=0.0, end=360.0):
        c = self.loc(np.asarray(centre)[None], roi)[0]
        axes = (float(axes[0]), float(axes[1]))
        ax = np.round(np.maximum(np.asarray(axes, dtype=np.float64), 0.5) * _ONE).astype(np.int32)
        cv2.ellipse(m, (int(c[0]), int(c[1])), (int(ax[0]), int(ax[1])), float(angle_deg), float(start), float(end),
                    int(value), int(thickness), _AA, _SHIFT)
        return m

    @staticmethod
    def blur(m, sigma):
        """In-place Gaussian blur of a uint8 mask, limited to its non-zero part (large sigmas at low res)."""
        if sigma <= 0.3:
            return m
        x, y, w, h = cv2.boundingRect(m)
        if w == 0:
            return m
        pad = int(3 * sigma) + 1
        x0, y0 = max(x - pad, 0), max(y - pad, 0)
        x1, y1 = min(x + w + pad, m.shape[1]), min(y + h + pad, m.shape[0])
        sub = m[y0:y1, x0:x1]
        if sigma > 2.0:  # blur a 1/k-size copy: same look, a fraction of the cost
            k = max(2, int(sigma // 1.5))
            small = cv2.resize(sub, (-(-(x1 - x0) // k), -(-(y1 - y0) // k)), interpolation=cv2.INTER_AREA)
            small = cv2.GaussianBlur(small, (0, 0), sigma / k)
            m[y0:y1, x0:x1] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        else:
            m[y0:y1, x0:x1] = cv2.GaussianBlur(sub, (0, 0), float(sigma))
        return m

    def _sub(self, roi, m):
        """The canvas view and mask restricted to the mask's non-zero bounding box (or None)."""
        x, y, w, h = cv2.boundingRect(m)
        if w == 0:
            return None
        return (self.img[:, roi[1] + y:roi[1] + y + h, roi[0] + x:roi[0] + x + w], m[y:y + h, x:x + w],
                (slice(y, y + h), slice(x, x + w)))

    def blend(self, roi, m, colour, alpha=1.0):
        """``img += (colour - img) * alpha * m / 255`` inside ``roi``; ``colour``: RGB or a 3 x ROI field."""
        sub = self._sub(roi, m)
        if sub is None:
            return
        view, ms, sl = sub
        col = np.asarray(colour, dtype=np.float32)
        _mix(view, ms, col[:, sl[0], sl[1]] if col.ndim == 3 else col, alpha)

    def darken(self, roi, m, strength, tint=(1.0, 1.0, 1.0)):
        """Multiply by ``1 - strength * tint * m / 255`` inside ``roi``."""
        sub = self._sub(roi, m)
        if sub is None:
            return
        view, ms, _ = sub
        a = ms.astype(np.float32)
        a *= np.float32(-strength / 255.0)
        view *= 1.0 + a[None] * np.asarray(tint, dtype=np.float32)[:, None, None]

    @property
    def angle_deg(self) -> float:
        return float(np.rad2deg(self.shape.angle))


# ------------------------------------------------------------------------------------------ the face
class _Face:
    """One face being rendered: the painter, the shape, the random stream and the sampled look."""

    def __init__(self, shape: FaceShape, rng: np.random.Generator, factor: int):
        self.P = _Painter(shape, factor)
        self.shape, self.rng, self.p = shape, rng, shape.params
        r = rng
        # look
        t = (len(_SKIN) - 1.0) * r.uniform(0.0, 1.0) ** 1.6  # light to dark, lighter skin more often
        i = min(int(t), len(_SKIN) - 2)
        skin = _SKIN[i] + (_SKIN[i + 1] - _SKIN[i]) * (t - i)
        # lightness and hue jitter that stays within skin hues (R > G > B, G/R and B/G in natural ranges)
        skin = skin * r.uniform(0.92, 1.06) * np.array([1.0, r.uniform(0.95, 1.02), r.uniform(0.9, 1.06)])
        skin[1] = np.clip(skin[1], 0.6 * skin[0], 0.84 * skin[0])
        skin[2] = np.clip(skin[2], 0.62 * skin[1], 0.88 * skin[1])
        self.skin = np.clip(skin, 0.05, 1.0)
        k = r.choice(len(_HAIR), p=_HAIR_P)
        self.hair = np.clip(_HAIR[k] * (1.0 + r.normal(0.0, 0.08, 3)), 0.0, 1.0)
        natural = self.hair if k < _DYED else _HAIR[1]
        brow = natural if natural.mean() < 0.5 else natural * 0.5 + 0.05
        self.brow_col = np.minimum(brow, self.skin * 0.55)  # brows are always darker than the skin
        self.iris = _pick(r, _IRIS, _IRIS_P, 0.1)
        lx, ly = r.normal(0.0, 0.45), r.normal(-0.25, 0.3)
        light = np.array([lx, ly, r.uniform(0.7, 1.3)])
        self.light = light / np.linalg.norm(light)
        self.ambient = r.uniform(0.35, 0.6)
        self.male = r.random() < 0.5
        # grain offsets come from their own stream, so that the same seed draws the same face at
        # every output size
        self.noise = np.random.default_rng(int(r.integers(0, 2**63)))

    # ---------------------------------------------------------------------------------- main
    def render(self) -> np.ndarray:
        self.background()
        self.hair_geometry()
        self.hair_field()
        self.composite_hair(self.back_poly, 1.0)
        self.neck_and_clothes()
        self.ears()
        self.skin_face()
        self.skin_marks()
        self.nose()
        self.eyes()
        self.brows()
        self.mouth()
        self.front_hair()
        return self.P.img

    # ---------------------------------------------------------------------------- background
    def background(self):
        P, r = self.P, self.rng
        g, gs = P.n // 2, 32  # shapes are drawn at half, the smooth base at 1/8 resolution
        grey = r.uniform(0.15, 0.85)
        c1 = grey + (r.random(3) - 0.5) * r.uniform(0.1, 0.9)
        c2 = c1 + (r.random(3) - 0.5) * r.uniform(0.1, 0.8)
        ang = r.uniform(0, 2 * np.pi)
        ax = np.linspace(-0.5, 0.5, gs, dtype=np.float32)
        ramp = np.clip(ax[None, :] * np.cos(ang) + ax[:, None] * np.sin(ang) + 0.5, 0, 1)
        low = c1.astype(np.float32) + (c2 - c1).astype(np.float32) * ramp[..., None]
        k = int(r.integers(2, 7))
        blobs = cv2.resize(r.random((k, k, 3)).astype(np.float32), (gs, gs), interpolation=cv2.INTER_CUBIC)
        low += (blobs - 0.5) * np.float32(r.uniform(0.0, 0.5))
        low8 = cv2.resize((np.clip(low, 0, 1) * 255).astype(np.uint8), (g, g), interpolation=cv2.INTER_LINEAR)
        for _ in range(int(r.integers(0, 7))):  # objects / bokeh
            col = tuple(int(v) for v in r.integers(0, 256, 3))
            c = (int(r.integers(0, g)), int(r.integers(0, g)))
            if r.random() < 0.6:
                cv2.circle(low8, c, int(r.integers(g // 20, g // 3)), col, -1, _AA)
            else:
                d = r.integers(g // 10, g // 2, 2)
                cv2.rectangle(low8, c, (int(c[0] + d[0]), int(c[1] + d[1])), col, -1, _AA)
        if r.random() < 0.5:
            cv2.GaussianBlur(low8, (0, 0), r.uniform(1.0, g / 20), dst=low8)
        for c, plane in enumerate(cv2.split(low8)):  # planes: cv2.split of a large image is slow
            full = cv2.resize(plane, (P.n, P.n), interpolation=cv2.INTER_LINEAR)
            np.multiply(full, np.float32(1 / 255), out=P.img[c], casting="unsafe")
        kind = r.choice(4)
        if kind == 1:  # fine noise
            noise = _grain(self.noise, P.n, P.n) * np.float32(r.uniform(0.05, 0.25))
            noise += np.float32(1.0)
            P.img *= noise
        elif kind == 2:  # stripes
            ang, freq = r.uniform(0, np.pi), r.uniform(0.04, 0.3) * 256 / P.n
            xs = np.arange(P.n, dtype=np.float32)
            ph = xs[None, :] * np.float32(np.cos(ang) * freq) + xs[:, None] * np.float32(np.sin(ang) * freq)
            P.img *= 1.0 + np.float32(r.uniform(0.05, 0.2)) * np.sin(ph)

    # ----------------------------------------------------------------------------------- hair
    def hair_geometry(self):
        p, r = self.p, self.rng
        w, jt, fh = p["w"], p["jaw_top"], p["forehead"]
        self.fore_arc = np.stack([w * np.cos(a := np.linspace(0.0, np.pi, 22)[1:-1]) * (1 - 0.07 * np.sin(a)),
                                  jt - fh * np.sin(a)], axis=1)
        style = r.choice(["short", "medium", "long", "buzz"], p=[0.36, 0.28, 0.31, 0.05] if self.male else
                         [0.06, 0.34, 0.6, 0.0])
        self.style = style
        vx = {"short": r.uniform(1.04, 1.16), "medium": r.uniform(1.08, 1.3), "long": r.uniform(1.08, 1.35),
              "buzz": 1.02}[style]
        vt = {"short": r.uniform(0.1, 0.28), "medium": r.uniform(0.14, 0.35), "long": r.uniform(0.12, 0.35),
              "buzz": 0.015}[style]
        bottom = {"short": jt + r.uniform(-0.1, 0.25), "medium": r.uniform(0.3, 1.1), "long": r.uniform(1.6, 4.0),
                  "buzz": jt - 0.05}[style]
        flare = r.uniform(1.0, 1.25) if style == "long" else 1.0
        a = np.linspace(-0.12, np.pi + 0.12, 30)
        top = np.stack([w * vx * np.cos(a), jt - 0.05 - (fh + vt) * np.sin(a)], axis=1)
        side = w * vx * flare
        n_bot = 9
        bx = np.linspace(-side, side, n_bot)
        by = bottom + r.uniform(-0.06, 0.06, n_bot) * (1 if style != "buzz" else 0)
        # outer arc (R->L over the top), down the image-left side, ragged bottom L->R, up the right side
        left = np.array([[-w * vx, (top[-1, 1] + bottom) / 2]]) if bottom > top[-1, 1] else np.zeros((0, 2))
        self.back_poly = np.concatenate([top, left, np.stack([bx, by], 1), left * (-1.0, 1.0)])
        self.outer_top = top

        # hairline (front hair) from the image-left temple to the right one
        x = np.linspace(-1.0, 1.0, 27) * w * 0.99
        brow_top = self.shape.frame_points[17:27, 1].min() - 0.3 * p["brow_thick"]  # top edge of the brows
        y_t = jt - r.uniform(0.08, 0.28)
        fringe = style in ("medium", "long") and r.random() < 0.35
        if fringe:
            y_c = brow_top - r.uniform(0.04, 0.25)
        else:
            y_c = brow_top - r.uniform(0.3, 0.6)
        y_c = max(y_c, jt - fh + 0.25)
        y = y_t + (y_c - y_t) * (1 - np.abs(x / w) ** r.uniform(1.5, 4.0))
        xp = r.uniform(-0.5, 0.5) * w
        y -= r.uniform(0.0, 0.1) * np.exp(-(((x - xp) / 0.08) ** 2))  # a parting
        y = np.maximum(y, jt - fh + 0.2)
        side_sign = r.choice([-1.0, 1.0])
        y += r.uniform(0.0, 0.3 if not fringe else 0.1) * np.clip((x - xp) * side_sign, 0, None)
        if fringe:  # a ragged edge of locks
            y -= r.uniform(0, 1, len(x)) * 0.03 + (np.arange(len(x)) % 2) * r.uniform(0.0, 0.06)
        elif self.male and r.random() < 0.25:
            y -= r.uniform(0.05, 0.2) * np.exp(-(((np.abs(x) - 0.55 * w) / 0.2) ** 2))
        y = np.minimum(y, brow_top - 0.05)  # never over the brows
        self.hairline = np.stack([x, y], axis=1)
        self.part_x = xp
        # hairline L->R, then the outer arc, which runs R->L over the top
        self.front_poly = np.concatenate([self.hairline, top])

    def hair_field(self):
        """Strand texture (rays from a crown above the parting) over the whole hair area."""
        P, r = self.P, self.rng
        polys = [P.proj(self.back_poly), P.proj(self.front_poly)]
        roi = P.roi(np.concatenate(polys), pad=0.08 * P.u)  # room for flyaways
        self.hair_roi = roi
        if roi is None:
            return
        crown = P.proj(np.array([[self.part_x * 0.6, self.outer_top[:, 1].min() - 0.3]]))[0]  # above the hair
        x0, y0, x1, y1 = roi
        dx = np.arange(x0, x1, dtype=np.float32) - np.float32(crown[0])
        dy = np.arange(y0, y1, dtype=np.float32) - np.float32(crown[1])
        theta = np.arctan2(dx[None, :], dy[:, None])
        rad = np.sqrt(dx[None, :] ** 2 + dy[:, None] ** 2)
        if r.random() < 0.3:  # wavy: strands displaced sideways by a sine along their length
            amp, lam, ph = r.uniform(3.0, 8.0) * P.u / 80.0, r.uniform(40.0, 120.0) * P.u / 80.0, r.uniform(0, 6.3)
            wave = np.sin(rad * np.float32(2 * np.pi / lam) + np.float32(ph))
            theta += np.float32(amp) * wave / np.maximum(rad, 20.0)
        nt = 1024
        fine = r.random(nt) ** r.uniform(0.7, 1.5)
        coarse = np.interp(np.arange(nt), np.linspace(0, nt, 41), np.r_[(c := r.random(40)), c[0]])
        table = (0.55 * fine + 0.45 * coarse).astype(np.float32)
        idx = (theta * np.float32(nt / (2 * np.pi) * r.uniform(0.5, 1.0))).astype(np.int32) & (nt - 1)
        s = table[idx]
        contrast = r.uniform(0.5, 0.9)
        s *= np.float32(contrast)
        s += np.float32(1.0 - contrast / 2)
        # a sheen band round the crown: a smooth bump in the distance from the crown
        bump = (rad - np.float32(r.uniform(0.35, 0.8) * P.u)) * np.float32(1.0 / (0.2 * P.u))
        np.square(bump, out=bump)
        np.subtract(1.0, bump, out=bump)
        np.maximum(bump, 0.0, out=bump)
        bump *= np.float32(r.uniform(0.05, 0.35)) * s
        base = self.hair.astype(np.float32)
        field = np.empty((3,) + s.shape, np.float32)
        for c in range(3):
            np.multiply(s, base[c], out=field[c])
            field[c] += bump * np.float32(0.3 + base[c])
        self.hair_tex = np.minimum(field, 1.0, out=field)

    def composite_hair(self, poly, alpha):
        P = self.P
        if self.hair_roi is None:
            return
        roi = self.hair_roi
        m = P.fill(P.mask(roi), roi, [P.proj(poly)])
        if self.style == "buzz":
            alpha *= 0.75
        P.blend(roi, m, self.hair_tex, alpha)

    def front_hair(self):
        P, r = self.P, self.rng
        if self.hair_roi is None:
            return
        roi = self.hair_roi
        # soft shadow of the hair on the forehead, just under the hairline
        sh = P.lines(P.mask(roi), roi, [P.proj(self.hairline) + P.fr(0.0, 0.02)], 0.08 * P.u)
        P.blur(sh, 0.04 * P.u)
        P.darken(roi, sh, r.uniform(0.15, 0.4))
        self.composite_hair(self.front_poly, 1.0)
        if self.style == "buzz":
            return
        # a few stray strands over the hairline and flyaways off the outline
        down = P.fr(0, 1) / P.u
        n = int(r.integers(3, 10))
        root = _arc_interp(P.proj(self.hairline), r.uniform(0.1, 0.9, n))
        d = _unit(r.normal(0, 0.35, (n, 2)) + down)
        ln = r.uniform(0.04, 0.12, (n, 1)) * P.u
        side = np.stack([-d[:, 1], d[:, 0]], 1) * r.normal(0, 0.15, (n, 1)) * ln
        strays = np.stack([root - d * ln * 0.3, root + d * ln * 0.4 + side, root + d * ln + 2 * side], 1)
        k = int(r.integers(10, 40))
        root = _arc_interp(P.proj(self.outer_top), r.uniform(0.03, 0.97, k))
        centre = P.proj(np.array([[0.0, self.p["jaw_top"] - 0.3]]))[0]
        d = _unit(_unit(root - centre) + r.normal(0, 0.5, (k, 2)) + 0.5 * down)
        ln = r.uniform(0.03, 0.1, (k, 1)) * P.u
        side = np.stack([-d[:, 1], d[:, 0]], 1) * r.normal(0, 0.2, (k, 1)) * ln
        fly = np.stack([root - d * ln * 0.5, root + d * ln * 0.1 + side, root + d * ln * 0.5 + 2 * side], 1)
        m = P.lines(P.mask(roi), roi, np.concatenate([strays, fly]), 1)
        P.blend(roi, m, self.hair * 0.85, 0.6)

    # --------------------------------------------------------------------- neck, clothes, ears
    def neck_and_clothes(self):
        P, r, p = self.P, self.rng, self.p
        w = p["w"]
        nk = r.uniform(0.45, 0.6) * w
        neck = np.array([[-nk, 0.45], [nk, 0.45], [nk * 1.08, 3.0], [-nk * 1.08, 3.0]])
        poly = P.proj(neck, 0.3)
        roi = P.roi(poly, 2)
        col = self.skin * r.uniform(0.75, 0.9) * (self.ambient + 0.3 * (1 - self.ambient))
        if roi is not None:
            P.blend(roi, P.fill(P.mask(roi), roi, [poly]), col)
            # shadow of the jaw on the neck
            jaw = P.L[2:15] + P.fr(0.0, r.uniform(0.08, 0.16))
            sh = P.fill(P.mask(roi), roi, [np.concatenate([jaw, P.L[[14, 2]] + P.fr(0, -0.5)])])
            P.blur(sh, 0.1 * P.u)
            P.darken(roi, sh, r.uniform(0.35, 0.6))
        # clothes with a neckline
        yc = r.uniform(1.45, 1.85)
        dip = r.uniform(0.05, 0.6)
        nx = np.linspace(-1, 1, 9)
        v_neck = r.random() < 0.4
        neckline = np.stack([nx * nk * 1.25, yc + dip * (1 - (np.abs(nx) if v_neck else nx**2))], 1)
        shoulders = np.array([[3.5, yc + 1.4], [3.5, 8.0], [-3.5, 8.0], [-3.5, yc + 1.4], [-2.5, yc + 0.65],
                              [-1.4, yc + 0.18]])
        poly = P.proj(np.concatenate([neckline, [[1.4, yc + 0.18], [2.5, yc + 0.65]], shoulders]), 0.0)
        roi = P.roi(poly, 2)
        if roi is not None:
            m = P.fill(P.mask(roi), roi, [poly])
            c = r.random(3) ** 1.3
            if r.random() < 0.35:  # horizontal stripes
                ys = np.arange(roi[1], roi[3], dtype=np.float32)
                band = 1.0 - np.float32(r.uniform(0.1, 0.5)) * (np.sin(ys * np.float32(r.uniform(0.15, 0.6))) > 0)
                col = np.empty((3, roi[3] - roi[1], roi[2] - roi[0]), np.float32)
                col[:] = (c.astype(np.float32)[:, None] * band[None])[:, :, None]
                P.blend(roi, m, col)
            else:
                P.blend(roi, m, c)
            folds = P.mask(roi)
            for _ in range(int(r.integers(1, 5))):
                a = P.proj(np.array([[r.uniform(-2.5, 2.5), yc + 0.6], [r.uniform(-3, 3), yc + 2.5]]), 0.0)
                P.lines(folds, roi, [a], 0.06 * P.u)
            P.blur(folds, 0.08 * P.u)
            P.darken(roi, _mul(folds, m), 0.3)

    def ears(self):
        P, r, p = self.P, self.rng, self.p
        if self.style == "long" or (self.style == "medium" and r.random() < 0.6):
            return  # hidden under the hair
        w, jt = p["w"], p["jaw_top"]
        h, wd, y = r.uniform(0.3, 0.42), r.uniform(0.12, 0.18), jt + r.uniform(0.02, 0.16)
        col = self.skin * (self.ambient + 0.55 * (1 - self.ambient))
        for sgn in (-1.0, 1.0):
            t = np.linspace(0, 2 * np.pi, 20, endpoint=False)
            ear = np.stack([sgn * (w - 0.04 + wd * (1 + np.cos(t)) * (0.85 + 0.15 * np.sin(t))),
                            y + 0.5 * h * np.sin(t) * (1 + 0.25 * (np.sin(t) > 0))], 1)
            poly = P.proj(ear, -0.15)
            roi = P.roi(poly, 3)
            if roi is None:
                continue
            P.blend(roi, P.fill(P.mask(roi), roi, [poly]), col)
            inner = P.proj(np.stack([sgn * (w + 0.45 * wd + 0.5 * wd * np.cos(t)), y - 0.03 + 0.3 * h * np.sin(t)], 1),
                           -0.15)
            m = P.fill(P.mask(roi), roi, [inner])
            P.lines(m, roi, [poly[2:16]], 0.015 * P.u, 180)
            P.blur(m, 0.015 * P.u)
            P.darken(roi, m, 0.35)

    # ----------------------------------------------------------------------------------- skin
    def skin_face(self):
        P, r, p, shape = self.P, self.rng, self.p, self.shape
        f = P.f
        pts = np.concatenate([P.L[0:17], P.proj(self.fore_arc)])
        self.face_poly = pts
        roi = P.roi(pts, 2)
        self.face_roi = roi
        # low-resolution (1/4) albedo x shading field over the face's box
        gw, gh = -(-(roi[2] - roi[0]) // 4), -(-(roi[3] - roi[1]) // 4)
        gx = (roi[0] + np.arange(gw) * 4 + 1.5 + 0.5) / f - 0.5
        gy = (roi[1] + np.arange(gh) * 4 + 1.5 + 0.5) / f - 0.5
        uv = shape.to_frame(np.stack(np.meshgrid(gx, gy), -1))
        u, v = uv[..., 0], uv[..., 1]
        ucen = 0.6 * np.sin(shape.yaw)
        nx = (u - ucen) / (1.12 * p["w"])
        ny = (v + 0.18) / 1.38
        nz = np.sqrt(np.clip(1 - nx**2 - ny**2, 0.0, 1.0))
        lam = np.clip(nx * self.light[0] + ny * self.light[1] + nz * self.light[2], 0, 1)
        shade = self.ambient + (1 - self.ambient) * lam
        half = _unit(self.light + np.array([0, 0, 1.0]))
        spec = np.clip(nx * half[0] + ny * half[1] + nz * half[2], 0, 1) ** 12 * r.uniform(0.0, 0.12)
        self.shade_low = shade
        blotch = cv2.resize(r.normal(0, 1, (6, 6, 3)).astype(np.float32), (gw, gh), interpolation=cv2.INTER_CUBIC)
        albedo = self.skin * (1 + 0.03 * blotch)
        blush_col = np.array([0.85, 0.3, 0.3]) * self.skin.mean() * 1.4
        blush = r.uniform(0.0, 0.3) * (np.exp(-(((np.abs(u) - 0.55) / 0.2) ** 2 + ((v - 0.12) / 0.17) ** 2))
                                       + 0.6 * np.exp(-((u / 0.1) ** 2 + ((v - 0.1) / 0.1) ** 2)))
        albedo = albedo + (blush_col - albedo) * blush[..., None]
        # eye sockets: soft shadows above and around the eyes (face-aligned ellipses)
        lm = shape.to_frame(shape.landmarks)
        socket = np.zeros_like(u)
        for a, b in ((36, 42), (42, 48)):
            c = lm[a:b].mean(0)
            ew = np.hypot(*(lm[a + 3] - lm[a]))
            c = c + (0.05 * ew * np.sign(c[0] - lm[27, 0]), -0.2 * ew)
            socket += np.exp(-(((u - c[0]) / (0.85 * ew)) ** 2 + ((v - c[1]) / (0.5 * ew)) ** 2))
        albedo *= 1.0 - r.uniform(0.12, 0.3) * socket[..., None] * np.array([1.0, 1.1, 1.0])
        low = (albedo * shade[..., None] + spec[..., None]).astype(np.float32)
        h, w = roi[3] - roi[1], roi[2] - roi[0]
        pores = _grain(self.noise, h, w) * np.float32(r.uniform(0.015, 0.05))  # pixel-scale grain
        pores += np.float32(1.0)
        full = np.empty((3, h, w), np.float32)
        for c, plane in enumerate(cv2.split(low)):
            big = cv2.resize(plane, (gw * 4, gh * 4), interpolation=cv2.INTER_LINEAR)
            np.multiply(big[:h, :w], pores, out=full[c])
        self.face_mask = P.fill(P.mask(roi), roi, [pts])
        P.blend(roi, self.face_mask, full)

    def lit(self, point: np.ndarray) -> float:
        """The face shading factor near canvas ``point`` (for flat-coloured features)."""
        gh, gw = self.shade_low.shape
        x, y = float(point[0]), float(point[1])
        i = min(max(round((x - self.face_roi[0] - 1.5) / 4), 0), gw - 1)
        j = min(max(round((y - self.face_roi[1] - 1.5) / 4), 0), gh - 1)
        return float(self.shade_low[j, i])

    def skin_marks(self):
        P, r = self.P, self.rng
        roi = self.face_roi
        if r.random() < 0.15:  # freckles
            n = int(r.integers(30, 140)) // 2
            spots = [np.stack([r.normal(s * 0.33, 0.2, n), r.normal(-0.05, 0.13, n)], 1) for s in (-1, 1)]
            m = P.mask(roi)
            for q in P.loc(P.proj(np.concatenate(spots)), roi):  # over the nose and cheeks
                radius = int(r.uniform(0.4, 1.0) * P.f * _ONE / 2)
                cv2.circle(m, (int(q[0]), int(q[1])), radius, int(r.integers(80, 256)), -1, _AA, _SHIFT)
            P.darken(roi, m, r.uniform(0.15, 0.35), (0.7, 1.0, 1.2))
        for _ in range(int(r.integers(0, 3))):  # moles
            q = P.loc(P.proj(np.array([[r.uniform(-0.8, 0.8), r.uniform(-0.9, 0.9)]])), roi)[0]
            m = P.mask(roi)
            cv2.circle(m, (int(q[0]), int(q[1])), int(r.uniform(0.6, 1.4) * P.f * _ONE / 2), 255, -1, _AA, _SHIFT)
            P.darken(roi, m, r.uniform(0.3, 0.6), (0.8, 1.0, 1.1))
        if self.male and r.random() < 0.35:  # stubble
            L = P.L
            region = np.concatenate([L[3:14], L[[54]] + P.fr(0.05, -0.02), L[[35]] + P.fr(0.03, 0.06),
                                     L[[33]] + P.fr(0, 0.05), L[[31]] + P.fr(-0.03, 0.06),
                                     L[[48]] + P.fr(-0.05, -0.02)])
            rr = P.roi(region, 2)
            m = P.fill(P.mask(rr), rr, [region])
            P.blur(m, 0.06 * P.u)
            dens = r.uniform(0.3, 1.0)
            tex = (_grain(self.noise, *m.shape) > 1 - 0.7 * dens).astype(np.float32) * 0.8 + 0.2 * dens
            dark = (m.astype(np.float32) * tex).astype(np.uint8)
            P.blend(rr, dark, self.brow_col * 0.6, r.uniform(0.25, 0.6))

    # ----------------------------------------------------------------------------------- nose
    def nose(self):
        P, r, L, u = self.P, self.rng, self.P.L, self.P.u
        roi = P.roi(np.concatenate([L[27:36], L[[51]]]), 0.15 * u)
        lx = self.light[0]
        nw = np.linalg.norm(L[35] - L[31]) / 2 / u  # half nose width, face units
        soft = P.mask(roi)
        for sgn, a in ((-1, 31), (1, 35)):
            side = np.stack([L[27] + P.fr(sgn * 0.07, 0.04), L[28] + P.fr(sgn * 0.08, 0), L[29] + P.fr(sgn * 0.085, 0),
                             L[a] + P.fr(sgn * 0.0, -0.1)])
            strength = np.clip(0.45 - 0.5 * sgn * lx, 0.15, 1.0)
            P.lines(soft, roi, [side], 0.07 * u, 255 * strength)
            P.ellipse(soft, roi, L[a] + P.fr(-sgn * 0.01, -0.035), (0.055 * u, 0.05 * u), P.angle_deg, 150 * strength)
        P.ellipse(soft, roi, (L[32] + L[34]) / 2 + P.fr(0, 0.012), (0.9 * nw * u, 0.03 * u), P.angle_deg, 230)
        P.ellipse(soft, roi, (L[33] + L[51]) / 2, (0.025 * u, np.linalg.norm(L[51] - L[33]) / 2), P.angle_deg, 70)
        P.blur(soft, 0.05 * u)
        P.darken(roi, soft, r.uniform(0.2, 0.38), (0.95, 1.05, 1.1))
        light = P.mask(roi)
        P.lines(light, roi, [np.stack([L[28], L[29], L[30] + P.fr(0, -0.03)]) + P.fr(0.02 * lx, 0)], 0.04 * u, 140)
        P.ellipse(light, roi, L[30] + P.fr(0.03 * lx, -0.035), (0.045 * u, 0.035 * u), P.angle_deg, 255)
        P.blur(light, 0.03 * u)
        P.blend(roi, light, np.minimum(self.skin * 1.25 + 0.08, 1.0), r.uniform(0.12, 0.3))
        # nostrils and the alar creases
        sharp = P.mask(roi)
        for sgn, a, b in ((-1, 31, 32), (1, 35, 34)):
            c = 0.5 * L[a] + 0.5 * L[b] + P.fr(0, -0.024)
            P.ellipse(sharp, roi, c, (nw * u * r.uniform(0.42, 0.67), 0.02 * u),
                      P.angle_deg - sgn * r.uniform(5, 25), 255)
        crease = int(255 * r.uniform(0.15, 0.35))
        for sgn, a in ((-1, 31), (1, 35)):  # alar creases
            c = L[a] + P.fr(-sgn * 0.04, -0.055)
            start, end = (110, 240) if sgn < 0 else (-60, 70)
            P.ellipse(sharp, roi, c, (0.045 * u, 0.06 * u), P.angle_deg, crease, 1, start, end)
        P.blur(sharp, 0.01 * u)
        P.darken(roi, sharp, r.uniform(0.45, 0.7), (0.9, 1.0, 1.0))

    # ------------------------------------------------------------------------------------ eyes
    def eyes(self):
        """Both eyes in one pass: sclera, iris with fibres, pupil, highlight, lids, crease and lashes."""
        P, r, u = self.P, self.rng, self.P.u
        up_dir = P.fr(0, -1) / u
        eyes = []
        for idx in ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47)):
            E = P.L[list(idx)]
            upper, lower = _curve(E[[0, 1, 2, 3]], 8), _curve(E[[3, 4, 5, 0]], 8)
            left = idx[0] == 36
            outer, inner = (E[0], E[3]) if left else (E[3], E[0])
            eyes.append(dict(upper=upper, lower=lower, outline=np.concatenate([upper, lower[1:-1]]), left=left,
                             outer=outer, inner=inner, ew=math.hypot(*(inner - outer)), centre=E.mean(axis=0),
                             out_dir=_unit(outer - inner)))
        ew = 0.5 * (eyes[0]["ew"] + eyes[1]["ew"])
        lit = 0.5 * (self.lit(eyes[0]["centre"]) + self.lit(eyes[1]["centre"]))
        outlines = [e["outline"] for e in eyes]
        er = P.roi(np.concatenate(outlines), 2)
        roi = P.roi(np.concatenate(outlines), 0.5 * ew)
        if er is None or roi is None:
            return
        # the eyeballs, composed in a small layer
        eye_m = P.fill(P.mask(er), er, outlines)
        xs = np.arange(er[0], er[2], dtype=np.float32)
        ys = np.arange(er[1], er[3], dtype=np.float32)[:, None]
        d2 = None
        for e in eyes:  # darker towards the corners
            dd = (xs - np.float32(e["centre"][0])) ** 2 + (ys - np.float32(e["centre"][1])) ** 2
            d2 = dd if d2 is None else np.minimum(d2, dd)
        d2 = np.minimum(d2 * np.float32(4.0 / ew**2), 1.0)
        sclera = (np.array([0.95, 0.92, 0.89]) * r.uniform(0.8, 0.98) * (0.55 + 0.45 * lit)).astype(np.float32)
        layer = sclera[:, None, None] * (1.0 - 0.3 * d2)[None]
        ri = ew * r.uniform(0.2, 0.25)
        rp = ri * r.uniform(0.36, 0.5)
        gaze = P.fr(r.normal(0, 0.03), r.normal(0, 0.01)) / u * ew + up_dir * 0.05 * ew  # both eyes look alike
        iris_col = self.iris * (0.6 + 0.4 * lit)
        iris = np.empty(layer.shape[1:] + (3,), np.uint8)
        iris[:] = np.clip(iris_col * 255, 0, 255).astype(np.uint8)
        im, car, spec, sh = P.mask(er), P.mask(er), P.mask(er), P.mask(er)
        segs = []
        light_dir = _unit(np.array([self.light[0], self.light[1]]) + 1e-3)
        for e in eyes:
            ic = e["centre"] + gaze
            e["ic"] = ic
            nf = int(r.integers(14, 30))
            ang = np.linspace(0, 2 * np.pi, nf, endpoint=False) + r.uniform(0, 0.2, nf)
            dirs = np.stack([np.cos(ang), np.sin(ang)], 1)
            segs.append(np.stack([ic + dirs * rp * 1.1, ic + dirs * ri * r.uniform(0.6, 0.95, (nf, 1))], 1))
            P.ellipse(car, er, e["inner"] + (e["centre"] - e["inner"]) * 0.12, (0.05 * ew, 0.04 * ew), P.angle_deg)
            P.ellipse(spec, er, ic + ri * 0.45 * light_dir + up_dir * 0.1 * ri,
                      (max(0.45 * P.f, 0.2 * ri),) * 2, 0.0)
        segs = P.loc(np.concatenate(segs), er)
        for k, gain in enumerate((0.55, 1.2, 1.7)):  # fibres in three tones
            cv2.polylines(iris, list(segs[k::3]), False, np.clip(iris_col * gain * 255, 0, 255).tolist(), 1, _AA,
                          _SHIFT)
        limbus = (iris_col * 0.35 * 255).tolist()
        for e in eyes:
            c = P.loc(e["ic"][None], er)[0]
            cc = (int(c[0]), int(c[1]))
            cv2.circle(iris, cc, int(ri * 0.95 * _ONE), limbus, max(1, int(0.16 * ri)), _AA, _SHIFT)
            cv2.circle(iris, cc, int(rp * _ONE), (8, 7, 7), -1, _AA, _SHIFT)
            cv2.circle(im, cc, int(ri * _ONE), 255, -1, _AA, _SHIFT)
        _mix(layer, im, iris.transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255))
        P.lines(sh, er, [e["upper"] for e in eyes], 0.15 * ew)  # shadow of the upper lids
        P.blur(sh, 0.06 * ew)
        _mix(layer, sh, (0.0, 0.0, 0.0), r.uniform(0.3, 0.55))
        _mix(layer, car, np.array([0.85, 0.5, 0.5]) * lit, 0.6)
        _mix(layer, spec, (1.0, 1.0, 1.0), r.uniform(0.7, 0.95))
        P.blend(er, eye_m, layer)
        # lid creases, lower lid lines, eyelid margins (thicker towards the outer corner) and lashes
        m = P.mask(roi)
        t = np.linspace(0, 1, len(eyes[0]["upper"]))[:, None]
        crease_h = r.uniform(0.18, 0.4) * ew
        margin_t = r.uniform(0.012, 0.03) * u
        creases, margins, lashes, low_lashes = [], [], [], []
        for e in eyes:
            upper, out_dir = e["upper"], e["out_dir"]
            creases.append((upper + up_dir * crease_h * (0.3 + 0.7 * np.sin(np.pi * t) ** 0.7))[2:-1])
            thick = margin_t * (1.0 - 0.6 * (t if e["left"] else 1.0 - t))
            margins.append(np.concatenate([upper, (upper + up_dir * thick)[::-1]]))
            n = int(r.integers(10, 24))
            tl = np.sort(r.uniform(0.02, 0.98, n) ** 0.8)  # from the outer corner, denser there
            roots = _arc_interp(upper if e["left"] else upper[::-1], tl)
            phi = (0.25 + 0.75 * (1 - tl)) * r.uniform(0.6, 1.0)
            d = _unit(up_dir[None] * np.cos(phi)[:, None] + out_dir[None] * np.sin(phi)[:, None])
            ln = (r.uniform(0.04, 0.085) * u * (0.55 + 0.45 * np.sin(np.pi * (0.25 + 0.6 * (1 - tl)))))[:, None]
            ln *= r.uniform(0.8, 1.2, (n, 1))
            lashes.append(np.stack([roots, roots + d * ln * 0.55 + out_dir * ln * 0.05,
                                    roots + d * ln + out_dir * ln * 0.2], 1))
            roots = _arc_interp(e["lower"][::-1] if e["left"] else e["lower"], r.uniform(0.05, 0.7, n // 3))
            low_lashes.append(np.stack([roots, roots - up_dir * 0.025 * u + out_dir * 0.01 * u], 1))
        P.lines(m, roi, creases, max(1.0, 0.012 * u), int(255 * r.uniform(0.2, 0.4)))
        P.lines(m, roi, [e["lower"] for e in eyes], 1, int(255 * r.uniform(0.2, 0.35)))
        P.fill(m, roi, margins, 230)
        P.lines(m, roi, np.concatenate(lashes), 1, int(255 * r.uniform(0.65, 0.95)))
        P.lines(m, roi, np.concatenate(low_lashes), 1, 110)
        P.blend(roi, m, np.array([0.05, 0.04, 0.035]) * (0.7 + 0.3 * lit))

    # ----------------------------------------------------------------------------------- brows
    def _brow_geometry(self, pts: np.ndarray, T: float):
        """Band polygon and hair strokes of one brow along ``pts`` (outer -> inner)."""
        P, r, u = self.P, self.rng, self.P.u
        up = P.fr(0, -1) / u
        c = _curve(pts, 6)
        t = np.linspace(0, 1, len(c))[:, None]
        th = T * (0.35 + 0.65 * t**0.6)
        band = np.concatenate([c + up * 0.3 * th, (c - up * 0.7 * th)[::-1]])
        seg = np.diff(c, axis=0)
        s = np.concatenate([[0.0], np.cumsum(np.sqrt(np.square(seg).sum(1)))])
        n = int(np.clip(r.uniform(1.5, 3.2) * (s[-1] / u) * (T / u) * 700.0, 25, 450))
        s /= s[-1]
        ts = r.uniform(0, 1, n) ** 0.8
        k = np.clip(np.searchsorted(s, ts), 1, len(c) - 1)
        frac = ((ts - s[k - 1]) / np.maximum(s[k] - s[k - 1], 1e-9))[:, None]
        root = c[k - 1] + seg[k - 1] * frac
        tg = _unit(seg[k - 1])
        thi = (T * (0.35 + 0.65 * ts**0.6))[:, None]
        root += up * r.uniform(-0.7, 0.25, (n, 1)) * thi
        phi = np.where(ts > 0.82, r.uniform(0.9, 1.4, n), r.uniform(0.1, 0.45, n)) + r.normal(0, 0.12, n)
        d = -tg * np.cos(phi)[:, None] + up * np.sin(phi)[:, None]
        ln = np.maximum(thi * r.uniform(0.7, 1.3, (n, 1)), 0.035 * u)
        return band, np.stack([root, root + d * ln * 0.5 + up * ln * 0.06, root + d * ln], 1)

    def brows(self):
        """Both brows: a faint soft base plus many thin hair strokes along the brow landmarks."""
        P, r = self.P, self.rng
        T = self.p["brow_thick"] * P.u
        (b1, s1), (b2, s2) = self._brow_geometry(P.L[17:22], T), self._brow_geometry(P.L[26:21:-1], T)
        roi = P.roi(np.concatenate([b1, b2]), 0.4 * T + 3)
        if roi is None:
            return
        col = self.brow_col * r.uniform(0.6, 1.0) * (0.6 + 0.4 * self.lit(P.L[27]))
        base = P.fill(P.mask(roi), roi, [b1, b2])
        P.blur(base, 0.25 * T)
        P.blend(roi, base, col, r.uniform(0.3, 0.6))
        m = P.lines(P.mask(roi), roi, np.concatenate([s1, s2]), 1)
        P.blend(roi, m, col, r.uniform(0.75, 0.95))

    # ----------------------------------------------------------------------------------- mouth
    def mouth(self):
        P, r, L, u = self.P, self.rng, self.P.L, self.P.u
        uo = _curve(L[48:55], 6)
        lo = _curve(L[[54, 55, 56, 57, 58, 59, 48]], 6)
        ui = _curve(L[60:65], 6)
        li = _curve(L[[64, 65, 66, 67, 60]], 6)
        roi = P.roi(np.concatenate([uo, lo]), 0.15 * u)
        if roi is None:
            return
        lit = self.lit(L[[51, 57]].mean(0))
        mw = np.linalg.norm(L[54] - L[48]) / 2
        # shadow under the lower lip and at the corners
        soft = P.mask(roi)
        P.ellipse(soft, roi, L[57] + P.fr(0, 0.05), (0.55 * mw, 0.045 * u), P.angle_deg, 255)
        for k in (48, 54):
            P.ellipse(soft, roi, L[k], (0.04 * u, 0.03 * u), P.angle_deg, 255)
        P.blur(soft, 0.04 * u)
        P.darken(roi, soft, r.uniform(0.15, 0.35))
        # lip colour
        lip = self.skin * np.array([0.8, 0.5, 0.52]) + np.array([0.12, 0.0, 0.02])
        lip = lip * r.uniform(0.85, 1.1) * (1 + r.normal(0, 0.04, 3))
        if not self.male and r.random() < 0.3:
            lip = _pick(r, _LIPSTICK, None, 0.08) * (0.7 + 0.3 * self.skin.mean() / 0.7)
        luma = np.array([0.299, 0.587, 0.114])
        lip = lip * min(1.0, 0.85 * (self.skin @ luma) / max(lip @ luma, 1e-3))  # lips a little darker than skin
        lip = np.clip(lip * (0.5 + 0.5 * lit), 0, 1)
        up_m = P.fill(P.mask(roi), roi, [np.concatenate([uo, ui[::-1]])])
        lo_m = P.fill(P.mask(roi), roi, [np.concatenate([lo, li[::-1]])])
        P.blend(roi, up_m, lip * 0.82)
        P.blend(roi, lo_m, lip)
        # interior, teeth
        gap = np.linalg.norm(L[66] - L[62])
        if gap > 0.025 * u:
            in_m = P.fill(P.mask(roi), roi, [np.concatenate([ui, li])])
            P.blend(roi, in_m, np.array([0.16, 0.05, 0.06]) * lit)
            if gap > 0.04 * u and r.random() < 0.85:
                down = P.fr(0, 1) / u
                ht = min(0.05 * u, 0.6 * gap)
                teeth_m = P.fill(P.mask(roi), roi, [np.concatenate([ui, (ui + down * ht)[::-1]])])
                teeth_m = _mul(teeth_m, in_m)
                P.blend(roi, teeth_m, np.array([0.93, 0.9, 0.83]) * r.uniform(0.75, 1.0) * lit)
                gaps = P.mask(roi)
                xs = np.arange(-4, 5) * 0.055 * u
                mid = ui[len(ui) // 2]
                segs = [np.stack([mid + P.fr(1, 0) / u * x, mid + P.fr(1, 0) / u * x + down * ht]) for x in xs]
                P.lines(gaps, roi, segs, 1, 200)
                P.darken(roi, _mul(gaps, teeth_m), 0.3)
        # lower-lip highlight, lip creases, vermilion border
        light = P.mask(roi)
        P.ellipse(light, roi, 0.55 * L[57] + 0.45 * L[66], (0.4 * mw, 0.25 * np.linalg.norm(L[57] - L[66]) + 1),
                  P.angle_deg, 255)
        P.blur(light, 0.03 * u)
        P.blend(roi, _mul(light, lo_m), np.minimum(lip * 1.5 + 0.1, 1),
                r.uniform(0.2, 0.5))
        vb = P.lines(P.mask(roi), roi, [uo[3:-3] + P.fr(0, -0.012)], 1)
        P.blur(vb, 0.6)
        P.blend(roi, vb, np.minimum(self.skin * 1.3 + 0.1, 1), r.uniform(0.1, 0.3))
        dark = P.mask(roi)  # vertical lip creases and the line between the lips
        crease = int(255 * r.uniform(0.15, 0.35))
        for outer, inner_c in ((uo, ui), (lo, li)):  # both pairs run in the same direction
            k = int(r.integers(6, 14))
            tt = r.uniform(0.15, 0.85, k)
            a, b = _arc_interp(outer, tt), _arc_interp(inner_c, tt)
            f = r.uniform(0.3, 0.8, (k, 1))
            P.lines(dark, roi, np.stack([a + (b - a) * 0.1, a + (b - a) * f], 1), 1, crease)
        P.lines(dark, roi, [ui], max(1.0, 0.014 * u), 215)
        P.blend(roi, dark, lip * 0.3)


# ------------------------------------------------------------------------------------------- public
def _finish(img: np.ndarray, size: int, rng: np.random.Generator, noise_rng: np.random.Generator) -> np.ndarray:
    """Area downsample, camera colour cast / exposure / light fall-off, sensor noise, gamma -> uint8."""
    planes = [cv2.resize(p, (size, size), interpolation=cv2.INTER_AREA) if p.shape[0] != size else p.copy()
              for p in img]  # exact f x f box average per plane
    warm, tint = rng.normal(0.01, 0.03), rng.normal(0.0, 0.01)  # white balance: warm/cool, green/magenta
    gains = np.array([1.0 + warm, 1.0 + tint, 1.0 - warm]) * rng.uniform(0.85, 1.15)
    ang, slope = rng.uniform(0, 2 * np.pi), rng.uniform(0.0, 0.35)
    ax = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    ramp = 1.0 + np.float32(slope) * (ax[None, :] * np.float32(np.cos(ang)) + ax[:, None] * np.float32(np.sin(ang)))
    amp, gamma = rng.uniform(0.0, 0.035) * 127.5, rng.uniform(0.8, 1.2)
    for p, g in zip(planes, gains):
        p *= ramp * np.float32(255.0 * g)
        p += _grain(noise_rng, size, size) * np.float32(amp) + np.float32(0.5)  # sensor noise, then rounding
    out = cv2.merge(planes)
    np.clip(out, 0, 255, out=out)
    out = out.astype(np.uint8)
    lut = np.clip((np.arange(256) / 255.0) ** gamma * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(out, lut)


def _check_size(size) -> int:
    if isinstance(size, (bool, np.bool_)) or not isinstance(size, (int, np.integer)) or size < 16:
        raise ValueError(f"size: expected an integer >= 16, got {size!r}")
    return int(size)


def supersampling_factor(size: int) -> int:
    """Canvas / output ratio used for ``size``: at least 2, and a canvas of at least 256 pixels."""
    return max(2, -(-256 // size))


def render_face(seed: int, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Render synthetic face ``seed``: ``(image uint8 size x size x 3 RGB, landmarks float32 68 x 2)``.

    Landmarks are ``(x, y)`` pixels of the returned image (pixel centres at integers), in the iBUG
    68-point order, and are exactly the points the face was drawn from. Deterministic per seed; seeds
    ``>= HELD_OUT_SEED_START`` are reserved for held-out evaluation.
    """
    seed = _check_seed(seed, "seed")
    size = _check_size(size)
    rng = np.random.default_rng(seed)
    shape = sample_shape(rng, size)
    face = _Face(shape, rng, supersampling_factor(size))
    image = _finish(face.render(), size, rng, face.noise)
    points = shape.landmarks.astype(np.float32)
    assert points.shape == (NUM_LANDMARKS, 2)
    return image, points


def render_faces(seeds: Iterable[int], size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Render several faces: ``(images uint8 N x size x size x 3, landmarks float32 N x 68 x 2)``."""
    out = [render_face(s, size) for s in seeds]
    if not out:
        size = _check_size(size)
        return np.zeros((0, size, size, 3), np.uint8), np.zeros((0, NUM_LANDMARKS, 2), np.float32)
    return np.stack([o[0] for o in out]), np.stack([o[1] for o in out])


def main(argv: list[str] | None = None) -> int:
    """``python -m dicmini.data.synthetic --out docs/synthetic_faces.png``: a contact sheet of faces."""
    import argparse

    from PIL import Image

    from .contact_sheet import contact_sheet

    ap = argparse.ArgumentParser(description="Render a contact sheet of synthetic faces with their landmarks.")
    ap.add_argument("--out", default="docs/synthetic_faces.png")
    ap.add_argument("--first", type=int, default=0, help="first seed")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--cols", type=int, default=4)
    ap.add_argument("--zoom", type=int, default=2)
    ap.add_argument("--no-landmarks", action="store_true")
    args = ap.parse_args(argv)
    seeds = list(range(args.first, args.first + args.n))
    images, points = render_faces(seeds, args.size)
    sheet = contact_sheet(list(images), None if args.no_landmarks else list(points), cols=args.cols, zoom=args.zoom,
                          labels=[str(s) for s in seeds])
    Image.fromarray(sheet).save(args.out)
    print(f"wrote {args.out}: seeds {seeds[0]}..{seeds[-1]}, {args.size} px x{args.zoom}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
