"""Random lighting on an HR face: a directional light, uneven shading, a colour cast and an exposure curve.

The procedural faces of :mod:`dicmini.data.synthetic` are lit softly and evenly from the front; real photos
(the real-face benchmark, docs/real_faces.md) often have one side of the face in shadow, a warm or cold cast and
a brighter or darker exposure, and the ×8 model must carry that shading from the 16-px input into its 128-px
output. Applied to a training HR face *before* the camera (:mod:`dicmini.data.camera_effects`) and the ×8
degradation, the light changes only the brightness and colour of pixels, never their place, so the landmarks stay
exact. The trainer applies it to a share ``hr_lighting`` of the training faces
(:func:`dicmini.train.augment.augment`).
"""

from __future__ import annotations

import cv2
import numpy as np

from .degrade import to_uint8

#: strength of the directional ramp: the light factor goes from 1 - s to 1 + s across the image
RAMP = (0.1, 0.7)
#: standard deviation of the uneven shading (a 4 x 4 grid of log-light values, smoothly interpolated)
UNEVEN_SIGMA = 0.15
#: standard deviation of the per-channel log gain (colour cast)
CAST_SIGMA = 0.08
#: standard deviation of the log exposure curve exponent (gamma)
GAMMA_SIGMA = 0.2


def light_field(size: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth ``size x size`` light factor: a ramp in a random direction times uneven shading."""
    angle, strength = rng.uniform(0.0, 2 * np.pi), rng.uniform(*RAMP)
    axis = (np.arange(size, dtype=np.float32) + 0.5) / size * 2.0 - 1.0
    ramp = 1.0 + strength * (np.cos(angle) * axis[None, :] + np.sin(angle) * axis[:, None])
    grid = rng.normal(0.0, UNEVEN_SIGMA, (4, 4)).astype(np.float32)
    uneven = np.exp(cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC))
    return np.clip(ramp, 0.15, None) * uneven


def relight(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` (uint8 ``H x W x 3`` RGB) under a random light: multiplied by :func:`light_field`, each channel by
    its gain, then through a gamma curve. Returns a new uint8 image."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.shape[0] != image.shape[1]:
        raise ValueError(f"image: expected a square uint8 H x W x 3 RGB image, got {image.dtype} {list(image.shape)}")
    field = light_field(image.shape[0], rng)
    gain = np.exp(rng.normal(0.0, CAST_SIGMA, 3)).astype(np.float32)
    gamma = float(np.exp(rng.normal(0.0, GAMMA_SIGMA)))
    lit = np.clip(image.astype(np.float32) / 255.0 * field[..., None] * gain, 0.0, 1.0)
    return to_uint8(255.0 * lit ** gamma)
