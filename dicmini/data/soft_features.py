"""Softened facial features on an HR face: eyes, brows and lips with the contrast and sharpness of a photo.

The procedural faces of :mod:`dicmini.data.synthetic` draw their eyes, brows and lips as crisp, high-contrast
strokes (a bright sclera with a dark outline, saturated lips). In the 128-px crops of real photos
(the real-face benchmark, docs/real_faces.md) the same features are soft and low in contrast: lids and lashes
shade the eye, the brows thin out, the lips are barely redder than the skin. A model trained on the crisp strokes
paints them into real faces, where they cost more than they bring (inside the landmark hull the shipped model's
error is above bicubic's). Here each feature region (dilated and feathered around its landmarks) is blended
towards a blurred copy of the face, and the lips towards their own grey, by a random strength. Pixels only change
in value, never in place, so the landmarks stay exact. The trainer applies it to a share ``hr_soft_features`` of
the training faces (:func:`dicmini.train.augment.augment`), before the light and the camera.
"""

from __future__ import annotations

import cv2
import numpy as np

from .degrade import to_uint8
from .landmarks import NUM_LANDMARKS

#: the feature regions, as groups of iBUG 68-point indices: each eye, each brow, the outer lips
FEATURES: tuple[tuple[int, ...], ...] = (tuple(range(36, 42)), tuple(range(42, 48)), tuple(range(17, 22)),
                                         tuple(range(22, 27)), tuple(range(48, 60)))
#: the lips' group in :data:`FEATURES` (also desaturated)
LIPS = 4
#: range of the blend towards the blurred face (0 = unchanged, 1 = fully blurred)
STRENGTH = (0.3, 0.8)
#: range of the lips' desaturation
LIP_GREY = (0.0, 0.5)
#: blur sigma, dilation and feathering as fractions of the outer-eye-corner distance (points 36, 45)
BLUR, DILATE, FEATHER = 0.08, 0.12, 0.06


def feature_mask(points: np.ndarray, size: int, groups: tuple[tuple[int, ...], ...] = FEATURES) -> np.ndarray:
    """A ``size x size`` float mask in [0, 1]: the convex hulls of ``groups`` of ``points`` (68 x 2 pixel x, y),
    dilated and feathered by fractions of the outer-eye-corner distance."""
    scale = float(np.linalg.norm(points[45] - points[36]))
    mask = np.zeros((size, size), np.uint8)
    for group in groups:
        cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points[list(group)]).astype(np.int32)), 1)
    grow = max(1, int(round(DILATE * scale)))
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    return np.clip(cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(0.5, FEATHER * scale)), 0.0, 1.0)


def soften_features(image: np.ndarray, points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` (uint8 ``H x W x 3`` RGB, square) with its eyes, brows and lips (``points``: 68 x 2 pixel x, y)
    softened: blended towards a Gaussian-blurred copy by a strength drawn from :data:`STRENGTH`, the lips also
    towards their grey by :data:`LIP_GREY`. Returns a new uint8 image."""
    image, points = np.asarray(image), np.asarray(points, dtype=np.float64)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.shape[0] != image.shape[1]:
        raise ValueError(f"image: expected a square uint8 H x W x 3 RGB image, got {image.dtype} {list(image.shape)}")
    if points.shape != (NUM_LANDMARKS, 2) or not np.all(np.isfinite(points)):
        raise ValueError(f"points: expected {NUM_LANDMARKS} finite (x, y) points, got shape {list(points.shape)}")
    strength, grey = rng.uniform(*STRENGTH), rng.uniform(*LIP_GREY)
    size = image.shape[0]
    face = image.astype(np.float32)
    sigma = max(0.5, BLUR * float(np.linalg.norm(points[45] - points[36])))
    soft = cv2.GaussianBlur(face, (0, 0), sigma)
    lips = feature_mask(points, size, (FEATURES[LIPS],))[..., None]
    soft = soft + grey * lips * (soft.mean(axis=2, keepdims=True) - soft)
    blend = strength * feature_mask(points, size)[..., None]
    return to_uint8(face + blend * (soft - face))


__all__ = ["FEATURES", "STRENGTH", "LIP_GREY", "feature_mask", "soften_features"]
