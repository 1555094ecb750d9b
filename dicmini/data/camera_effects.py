"""Random camera effects on an HR face: lens blur, sensor noise and JPEG compression.

Real face crops (the real-face benchmark, docs/real_faces.md) come from cameras: slightly soft, noisy and
JPEG-compressed, where the procedural faces of :mod:`dicmini.data.synthetic` are clean renderings. Applied to a
training HR face *before* the x8 degradation (:func:`dicmini.data.degrade.downsample`), the effects make the
target, and the 16-px input made from it, look more like a photo; none of them moves a pixel, so the landmarks
stay exact. The trainer applies them to a share ``hr_camera`` of the training faces
(:func:`dicmini.train.augment.augment`).
"""

from __future__ import annotations

import cv2
import numpy as np

from .degrade import to_uint8

#: ranges of the effects: Gaussian blur sigma (HR pixels), noise sigma (grey levels), JPEG quality
BLUR_SIGMA = (0.3, 1.2)
NOISE_SIGMA = (0.5, 4.0)
JPEG_QUALITY = (40, 95)
#: probability of each effect on a face that gets the camera
EFFECT_PROBABILITY = 0.6


def camera_effects(image: np.ndarray, rng: np.random.Generator, blur_sigma: tuple[float, float] = BLUR_SIGMA,
                   probability: float = EFFECT_PROBABILITY) -> np.ndarray:
    """``image`` (uint8 ``H x W x 3`` RGB) through a random camera: each effect, in the order blur, noise, JPEG,
    with ``probability`` and a strength drawn from its range (the blur's: ``blur_sigma``, HR pixels). Returns a new
    uint8 image. The draws are the same for any ``blur_sigma`` and ``probability``."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image: expected a uint8 H x W x 3 RGB image, got {image.dtype} {list(image.shape)}")
    blur, noise, jpeg = rng.random(3) < probability
    sigma, level, quality = rng.uniform(*blur_sigma), rng.uniform(*NOISE_SIGMA), rng.integers(*JPEG_QUALITY)
    out = image.astype(np.float32)
    if blur:
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    if noise:
        out += rng.normal(0.0, level, out.shape).astype(np.float32)
    out = to_uint8(out)
    if jpeg:
        ok, encoded = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise RuntimeError("camera_effects: OpenCV could not encode the JPEG")
        out = np.ascontiguousarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1])
    return out
