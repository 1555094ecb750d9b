"""Procedural 68-point face shapes (iBUG 300-W layout) for the synthetic face generator.

A shape is built in a *face frame* and then posed into the image:

* **Face frame.** ``x`` to the image right, ``y`` down, unit = half the face width at ear level, origin
  on the face's vertical mid-line at about the height of the nose tip. Jaw points 0 and 16 sit near
  ``(-1, -0.32)`` and ``(1, -0.32)``, the eyes on the line ``y ~ -0.33``, the mouth at ``y ~ 0.5`` and
  the chin at ``y ~ 1.05``. Every point also has a depth ``z`` (towards the camera) used for yaw/pitch.
* **iBUG order.** jaw 0-16 from the image-left ear side round the chin (8) to the image-right side;
  brows 17-21 (image-left, outer to inner) and 22-26 (inner to outer); nose bridge 27-30 (top to tip);
  nostrils 31-35 (image left to right, 33 = subnasale); eyes 36-41 and 42-47, each outer corner, two
  upper-lid points, inner corner, two lower-lid points for 36-41 (mirrored order for 42-47: inner
  corner 42, upper 43-44, outer 45, lower 46-47); outer lips 48-59 clockwise from the image-left corner
  48 over the upper lip (51 = Cupid's-bow dip) to the right corner 54 and back along the lower lip (57 =
  lowest); inner lips 60-67 the same way (62 upper, 66 lower centre). The subject's right side is the
  image left.
* **Pose.** an orthographic yaw/pitch rotation of the 3-D points, then an in-plane similarity (rotation,
  scale, translation) into output pixels, ``(x, y)`` = (column, row) with pixel centres at integers.

Each side of the face gets slightly different parameters, so faces are mildly asymmetric.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .landmarks import FLIP_PERMUTATION, NUM_LANDMARKS

_PERM = np.asarray(FLIP_PERMUTATION)
#: Points of the image-left half (the subject's right); the image-right half mirrors them.
_LEFT = np.asarray([*range(0, 8), *range(17, 22), 31, 32, *range(36, 42), 48, 49, 50, 58, 59, 60, 61, 67])
_RIGHT = _PERM[_LEFT]

#: Identity, expression parameters of the average face (see :func:`sample_params` for their ranges).
MEAN_PARAMS: dict[str, float] = {
    "w": 1.0, "jaw_top": -0.32, "chin_y": 1.05, "jaw_n": 2.2, "taper": 0.05,
    "eye_x": 0.42, "eye_y": -0.33, "eye_w": 0.39, "eye_hu": 0.082, "eye_hl": 0.048, "eye_tilt": 0.04,
    "eye_open": 1.0,
    "brow_gap": 0.27, "brow_arch": 0.045, "brow_len": 0.64, "brow_in": 0.17, "brow_thick": 0.075,
    "brow_slant": 0.0, "brow_peak": 0.4, "brow_raise": 0.0, "frown": 0.0,
    "nose_top": 0.0, "nose_tip": 0.08, "nose_w": 0.17, "nose_dx": 0.0,
    "mouth_gap": 0.20, "mouth_w": 0.33, "lip_u": 0.085, "lip_l": 0.11, "bow": 0.018,
    "open": 0.0, "smile": 0.0, "teeth": 0.05,
    "forehead": 1.15,
}


def _head_depth(x: np.ndarray) -> np.ndarray:
    """Depth of the head surface (an elliptic cylinder) at face-frame ``x``."""
    return 0.85 * np.sqrt(np.clip(1.0 - (np.asarray(x) / 1.05) ** 2, 0.0, 1.0))


def _resample(curve: np.ndarray, n: int) -> np.ndarray:
    """``n`` points equally spaced by arc length along a dense polyline (end points kept)."""
    seg = np.hypot(*np.diff(curve, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, curve[:, 0]), np.interp(t, s, curve[:, 1])], axis=1)


def _jaw(p: dict[str, float], drop: float) -> np.ndarray:
    """Jaw 0-8: a superellipse quarter from the ear side to the chin, equal arc-length spacing."""
    a = np.linspace(-np.pi / 2, 0.0, 160)
    height = p["chin_y"] + 0.75 * drop - p["jaw_top"]
    ty = np.abs(np.cos(a)) ** (2.0 / p["jaw_n"])
    x = -p["w"] * np.abs(np.sin(a)) ** (2.0 / p["jaw_n"]) * (1.0 - p["taper"] * ty)
    jaw = _resample(np.stack([x, p["jaw_top"] + height * ty], axis=1), 9)
    jaw[8, 0] = 0.0
    return jaw


def _eye(p: dict[str, float]) -> np.ndarray:
    """Eye 36-41: outer corner, upper lid x2, inner corner, lower lid x2."""
    cx, cy, ew = -p["eye_x"], p["eye_y"], p["eye_w"]
    hu = p["eye_hu"] * p["eye_open"]
    hl = p["eye_hl"] * (0.55 + 0.45 * p["eye_open"]) * (1.0 - 0.35 * p["smile"])
    t = p["eye_tilt"]
    along = np.array([np.cos(t), np.sin(t)])  # outer -> inner; tilt > 0 raises the outer corner
    up = np.array([np.sin(t), -np.cos(t)])
    offsets = [(-0.5, 0.0), (-0.18, 0.93 * hu), (0.16, hu), (0.5, -0.008), (0.16, -0.92 * hl), (-0.18, -hl)]
    return np.stack([(cx, cy) + u * ew * along + h * up for u, h in offsets])


def _brow(p: dict[str, float]) -> np.ndarray:
    """Brow 17-21, outer to inner, along its upper-middle line."""
    tt = np.linspace(0.0, 1.0, 5)
    x_in = -p["brow_in"] + 0.03 * p["frown"]
    x_out = x_in - p["brow_len"]
    by = p["eye_y"] - p["brow_gap"] - p["brow_raise"] * (0.75 + 0.25 * tt)
    y = (by + p["brow_slant"] * (tt - 0.5) - p["brow_arch"] * np.exp(-(((tt - p["brow_peak"]) / 0.38) ** 2))
         + 0.05 * p["frown"] * tt**2)
    return np.stack([x_out + tt * (x_in - x_out), y], axis=1)


def _nose(p: dict[str, float]) -> np.ndarray:
    """Nose 27-33: the bridge 27-30 (top to tip), then the image-left nostril points 31-33."""
    top, tip, nw, dx = p["eye_y"] + p["nose_top"], p["nose_tip"], p["nose_w"], p["nose_dx"]
    bridge = [(dx * f**2, top + f * (tip - top)) for f in (k / 3.0 for k in range(4))]
    return np.array([*bridge, (dx - nw, tip + 0.085), (dx - 0.5 * nw, tip + 0.118), (dx, tip + 0.132)])


def _place_mouth(pts: np.ndarray, p: dict[str, float], subnasale_y: float, drop: float) -> None:
    """Lips 48-51, 57-62, 66, 67 into ``pts`` (the rest of 48-67 stays NaN), then the smile bends them."""
    mw, lu, ll, g = p["mouth_w"], p["lip_u"], p["lip_l"], p["open"]
    my = subnasale_y + p["mouth_gap"] + lu  # stomion height; the lower lip goes down when open
    pts[48] = (-mw, my)
    pts[49] = (-0.58 * mw, my - 0.72 * lu - 0.05 * g)
    pts[50] = (-0.22 * mw, my - lu - 0.006 - 0.05 * g)
    pts[51] = (0.0, my - lu + p["bow"] - 0.05 * g)
    pts[57] = (0.0, my + ll + drop)
    pts[58] = (-0.27 * mw, my + 0.96 * ll + drop)
    pts[59] = (-0.62 * mw, my + 0.66 * ll + 0.55 * drop)
    pts[60] = (-0.86 * mw, my)
    pts[61] = (-0.33 * mw, my - 0.12 * g)
    pts[62] = (0.0, my - 0.12 * g)
    pts[66] = (0.0, my + drop)
    pts[67] = (-0.33 * mw, my + 0.92 * drop)
    # smile: the lips bend upwards towards the corners and widen a little
    m = slice(48, 68)
    rel = np.abs(pts[m, 0]) / mw
    pts[m, 1] -= 0.09 * p["smile"] * rel**2
    pts[m, 0] *= 1.0 + 0.08 * p["smile"] * rel


def _half_shape(p: dict[str, float]) -> np.ndarray:
    """The image-left half and the mid-line of the 68 points for parameters ``p`` (other rows are NaN)."""
    pts = np.full((NUM_LANDMARKS, 2), np.nan)
    drop = 0.9 * p["open"]  # how far the lower lip and (most of it) the chin go down
    pts[0:9] = _jaw(p, drop)
    pts[36:42] = _eye(p)
    pts[17:22] = _brow(p)
    pts[27:34] = _nose(p)
    _place_mouth(pts, p, pts[33, 1], drop)
    return pts


def _depth() -> np.ndarray:
    """Depth offsets of the 68 points relative to the head surface (nose forwards, eyes sunk)."""
    z = np.zeros(NUM_LANDMARKS)
    z[17:27] = 0.03
    z[27:31] = [0.06, 0.16, 0.28, 0.40]
    z[31:36] = [0.14, 0.22, 0.25, 0.22, 0.14]
    z[36:48] = -0.08
    z[48:68] = 0.06
    return z


_Z_OFFSET = _depth()


def build_shape(params: dict[str, float], right: dict[str, float] | None = None) -> np.ndarray:
    """68 face-frame points for ``params``; ``right`` (default: the same) shapes the image-right half."""
    left = _half_shape(params)
    other = left if right is None else _half_shape(right)
    pts = left.copy()
    pts[_RIGHT] = other[_LEFT] * (-1.0, 1.0)
    return pts


def landmark_depth(points: np.ndarray) -> np.ndarray:
    """Depth ``z`` of face-frame landmarks: head surface plus the per-point offsets."""
    return _head_depth(points[:, 0]) + _Z_OFFSET


#: The average face in the face frame, ``68 x 2``.
MEAN_SHAPE: np.ndarray = build_shape(MEAN_PARAMS)


def _keep_chin_below_lips(p: dict[str, float]) -> None:
    """In place: the chin stays well below the lower lip."""
    lowest_lip = p["nose_tip"] + 0.132 + p["mouth_gap"] + p["lip_u"] + p["lip_l"]
    p["chin_y"] = max(p["chin_y"], lowest_lip + 0.3)


def sample_params(rng: np.random.Generator) -> tuple[dict[str, float], dict[str, float]]:
    """Random identity and expression: parameters for the image-left half and the image-right half."""
    u = rng.uniform  # short, for the table below
    p = dict(MEAN_PARAMS)
    p.update(
        w=u(0.9, 1.08), jaw_top=rng.normal(-0.32, 0.03), chin_y=u(0.95, 1.15), jaw_n=u(1.8, 3.0),
        taper=u(-0.02, 0.16),
        eye_x=u(0.37, 0.46), eye_y=rng.normal(-0.33, 0.02), eye_w=u(0.33, 0.43), eye_hu=u(0.062, 0.1),
        eye_hl=u(0.035, 0.06), eye_tilt=u(-0.06, 0.14), eye_open=float(np.clip(rng.normal(1.0, 0.15), 0.45, 1.3)),
        brow_gap=u(0.21, 0.33), brow_arch=u(0.0, 0.08), brow_len=u(0.55, 0.7), brow_in=u(0.12, 0.21),
        brow_thick=u(0.045, 0.11), brow_slant=u(-0.06, 0.06), brow_peak=u(0.3, 0.55),
        nose_top=u(-0.03, 0.04), nose_tip=u(0.02, 0.15), nose_w=u(0.13, 0.21), nose_dx=rng.normal(0.0, 0.01),
        mouth_gap=u(0.14, 0.25), mouth_w=u(0.26, 0.38), lip_u=u(0.055, 0.11), lip_l=u(0.07, 0.14),
        bow=u(0.004, 0.03), forehead=u(1.05, 1.25),
    )
    # expression
    p["open"] = 0.0 if rng.random() < 0.55 else u(0.02, 0.2)
    p["smile"] = u(0.0, 1.0) ** 1.5
    p["brow_raise"] = 0.06 * u(-0.3, 1.0) if rng.random() < 0.5 else 0.0
    p["frown"] = u(0.0, 1.0) if rng.random() < 0.2 else 0.0
    _keep_chin_below_lips(p)
    # a slightly different image-right half
    q = dict(p)
    for key, sd in (("eye_x", 0.012), ("eye_y", 0.01), ("eye_w", 0.012), ("eye_hu", 0.006), ("eye_hl", 0.004),
                    ("eye_tilt", 0.03), ("brow_gap", 0.015), ("brow_arch", 0.008), ("brow_len", 0.02),
                    ("brow_in", 0.01), ("w", 0.02), ("nose_w", 0.008), ("mouth_w", 0.01)):
        q[key] = q[key] + rng.normal(0.0, sd)
    return p, q


#: a photographed expression (:func:`grin`): mouth width factor, lip opening and smile ranges
GRIN_MOUTH_WIDTH: tuple[float, float] = (1.08, 1.3)
GRIN_OPEN: tuple[float, float] = (0.08, 0.3)
GRIN_SMILE: tuple[float, float] = (0.5, 1.0)
#: ... and how far the upper teeth show below the upper lip (face units; the default face shows 0.05)
GRIN_TEETH: tuple[float, float] = (0.08, 0.15)


def grin(rng: np.random.Generator, left: dict[str, float], right: dict[str, float]) -> None:
    """In place: give both halves' parameters a photographed expression, drawn from ``rng``.

    People in photos mostly smile: on the real-face benchmark's crops (dlib landmarks) the mouth spans 0.93 eye
    distances against 0.79 for the synthetic faces, and the lips part by 0.13 eye distances (more than 0.1 on
    half the faces) against 0.07. Here the mouth widens by :data:`GRIN_MOUTH_WIDTH`, the lips part by
    :data:`GRIN_OPEN` on 80 % of the faces, the upper teeth show down to :data:`GRIN_TEETH` (at most 60 % of the
    opening) and the corners rise by :data:`GRIN_SMILE`.
    """
    widen = rng.uniform(*GRIN_MOUTH_WIDTH)
    opening = rng.uniform(*GRIN_OPEN) if rng.random() < 0.8 else 0.0
    smile = rng.uniform(*GRIN_SMILE)
    teeth = rng.uniform(*GRIN_TEETH)
    for p in (left, right):
        p["mouth_w"] *= widen
        p["open"], p["smile"], p["teeth"] = opening, smile, teeth
        _keep_chin_below_lips(p)


@dataclass
class FaceShape:
    """A posed face: 68 landmarks in output pixels plus everything needed to pose extra geometry.

    ``landmarks`` (``68 x 2`` float64) are ``(x, y)`` pixels of a ``size x size`` image.
    :meth:`project` maps any face-frame points (with depths) the same way, which the renderer uses for
    the hair, forehead, ears, neck and shoulders.
    """

    landmarks: np.ndarray
    frame_points: np.ndarray  # 68 x 2 face-frame points before pose
    params: dict
    size: int
    yaw: float
    pitch: float
    angle: float  # in-plane rotation, radians
    scale: float  # output pixels per face unit
    offset: np.ndarray  # translation, output pixels

    def rotate3d(self, points: np.ndarray, z: np.ndarray | float) -> np.ndarray:
        """Yaw then pitch (orthographic) of face-frame points; returns the 2-D face-frame result."""
        points = np.asarray(points, dtype=np.float64)
        z = np.broadcast_to(np.asarray(z, dtype=np.float64), points.shape[:-1])
        cy, sy = np.cos(self.yaw), np.sin(self.yaw)
        cp, sp = np.cos(self.pitch), np.sin(self.pitch)
        out = np.empty(points.shape)
        out[..., 0] = points[..., 0] * cy + z * sy
        z1 = z * cy - points[..., 0] * sy
        out[..., 1] = points[..., 1] * cp - z1 * sp
        return out

    def similarity(self, points2d: np.ndarray) -> np.ndarray:
        """In-plane rotation, scale and translation of (already yawed) face-frame points into pixels."""
        c, s = np.cos(self.angle) * self.scale, np.sin(self.angle) * self.scale
        x, y = points2d[..., 0], points2d[..., 1]
        out = np.empty(points2d.shape)
        out[..., 0] = c * x - s * y + self.offset[0]
        out[..., 1] = s * x + c * y + self.offset[1]
        return out

    def project(self, points: np.ndarray, z: np.ndarray | float | None = None) -> np.ndarray:
        """Face-frame points (depth ``z``, default the head surface) -> output pixels."""
        points = np.asarray(points, dtype=np.float64)
        if z is None:
            z = _head_depth(points[..., 0])
        return self.similarity(self.rotate3d(points, z))

    def to_frame(self, pixels: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`similarity`: output pixels -> (yawed) face-frame coordinates."""
        c, s = np.cos(self.angle), np.sin(self.angle)
        d = (np.asarray(pixels, dtype=np.float64) - self.offset) / self.scale
        return np.stack([c * d[..., 0] + s * d[..., 1], -s * d[..., 0] + c * d[..., 1]], axis=-1)


#: yaw of the synthetic faces, degrees: (standard deviation, limit) of a clipped normal
PORTRAIT_YAW: tuple[float, float] = (7.0, 18.0)
#: a yaw spread like the real-face benchmark's crops (their nose offset from the eye centre, per eye distance,
#: spreads about 2.6x as wide as with :data:`PORTRAIT_YAW`; docs/real_faces.md)
REAL_CROP_YAW: tuple[float, float] = (20.0, 40.0)


def sample_shape(rng: np.random.Generator, size: int = 128,
                 yaw: tuple[float, float] = PORTRAIT_YAW, expression: np.random.Generator | None = None) -> FaceShape:
    """Sample identity, expression and pose; landmarks are placed inside a ``size x size`` image.

    Pose: in-plane rotation within +-25 degrees (most faces within ~10), a yaw drawn from ``yaw`` = (standard
    deviation, limit) in degrees (by default mild: +-18), pitch within +-8, a face about 54-72 % of the image
    wide, centred like a CelebA-style crop. The 68 landmarks always stay at least ``3.5 %`` of the image away
    from its border. The same ``rng`` draws the same numbers whatever ``yaw`` is. With an ``expression`` stream
    the face wears a photographed expression drawn from it (:func:`grin`); ``rng`` still draws the same numbers.

    Placement is computed in continuous image coordinates proportional to ``size`` (the image spans
    ``[0, size]``) and shifted by half a pixel into the pixel-centre convention at the end, so the same
    ``rng`` state gives the same face at every size: ``x_64 = (x_128 + 0.5) / 2 - 0.5``.
    """
    left, right = sample_params(rng)
    if expression is not None:
        grin(expression, left, right)
    frame = build_shape(left, right)
    frame = frame + rng.normal(0.0, 0.004, frame.shape)  # tiny per-point irregularity
    frame[[67, 66, 65], 1] = np.maximum(frame[[67, 66, 65], 1], frame[[61, 62, 63], 1])  # lips never cross
    z = landmark_depth(frame)

    yaw_sd, yaw_max = yaw
    yaw = np.deg2rad(float(np.clip(rng.normal(0.0, yaw_sd), -yaw_max, yaw_max)))
    pitch = np.deg2rad(float(np.clip(rng.normal(0.0, 4.0), -8.0, 8.0)))
    if rng.random() < 0.6:
        angle = float(np.clip(rng.normal(0.0, 7.0), -25.0, 25.0))
    else:
        angle = rng.uniform(-25.0, 25.0)
    angle = np.deg2rad(angle)
    scale = rng.uniform(0.27, 0.36) * size
    jitter = rng.normal(0.0, 0.025, 2) * size

    shape = FaceShape(landmarks=np.zeros((NUM_LANDMARKS, 2)), frame_points=frame, params=left, size=size,
                      yaw=yaw, pitch=pitch, angle=angle, scale=scale, offset=np.zeros(2))
    rel = shape.similarity(shape.rotate3d(frame, z))  # posed about the origin
    margin = 0.035 * size
    room = size - 2 * margin
    extent = rel.max(axis=0) - rel.min(axis=0)
    if extent.max() > room:  # shrink rare, very large faces so that they fit
        shrink = room / extent.max()
        shape.scale *= shrink
        rel *= shrink
        extent *= shrink
    lo, hi = rel.min(axis=0), rel.max(axis=0)
    centre = np.array([0.5, 0.56]) * size + jitter - (lo + hi) / 2  # where the origin goes
    offset = np.clip(centre, margin - lo, (size - margin) - hi) - 0.5  # continuous -> pixel centres
    shape.offset = offset
    shape.landmarks = rel + offset
    return shape
