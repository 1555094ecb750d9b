"""The background: a smooth two-colour gradient with blobs, a few objects or bokeh, then grain or stripes."""

from __future__ import annotations

import cv2
import numpy as np

from .canvas import AA
from .grain import grain
from .scene import Scene

_BASE_SIZE = 32  # the smooth base is drawn at 32 x 32


def _smooth_base(rng: np.random.Generator, size: int) -> np.ndarray:
    """A ``size x size`` uint8 RGB image: a gradient between two colours plus low-frequency blobs."""
    grey = rng.uniform(0.15, 0.85)
    c1 = grey + (rng.random(3) - 0.5) * rng.uniform(0.1, 0.9)
    c2 = c1 + (rng.random(3) - 0.5) * rng.uniform(0.1, 0.8)
    ang = rng.uniform(0, 2 * np.pi)
    ax = np.linspace(-0.5, 0.5, _BASE_SIZE, dtype=np.float32)
    ramp = np.clip(ax[None, :] * np.cos(ang) + ax[:, None] * np.sin(ang) + 0.5, 0, 1)
    low = c1.astype(np.float32) + (c2 - c1).astype(np.float32) * ramp[..., None]
    k = int(rng.integers(2, 7))
    blobs = cv2.resize(rng.random((k, k, 3)).astype(np.float32), (_BASE_SIZE, _BASE_SIZE),
                       interpolation=cv2.INTER_CUBIC)
    low += (blobs - 0.5) * np.float32(rng.uniform(0.0, 0.5))
    return cv2.resize((np.clip(low, 0, 1) * 255).astype(np.uint8), (size, size), interpolation=cv2.INTER_LINEAR)


def _add_objects(rng: np.random.Generator, image: np.ndarray) -> None:
    """Up to six discs or rectangles of random colours (objects, bokeh), then sometimes a defocus blur."""
    size = image.shape[0]
    for _ in range(int(rng.integers(0, 7))):
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        c = (int(rng.integers(0, size)), int(rng.integers(0, size)))
        if rng.random() < 0.6:
            cv2.circle(image, c, int(rng.integers(size // 20, size // 3)), col, -1, AA)
        else:
            d = rng.integers(size // 10, size // 2, 2)
            cv2.rectangle(image, c, (int(c[0] + d[0]), int(c[1] + d[1])), col, -1, AA)
    if rng.random() < 0.5:
        cv2.GaussianBlur(image, (0, 0), rng.uniform(1.0, size / 20), dst=image)


def _add_texture(scene: Scene) -> None:
    """Nothing, fine grain or sinusoidal stripes over the whole background (one kind in four each)."""
    canvas, rng = scene.canvas, scene.rng
    kind = rng.choice(4)
    if kind == 1:  # fine noise
        noise = grain(scene.noise, canvas.size, canvas.size) * np.float32(rng.uniform(0.05, 0.25))
        noise += np.float32(1.0)
        canvas.pixels *= noise
    elif kind == 2:  # stripes
        ang, freq = rng.uniform(0, np.pi), rng.uniform(0.04, 0.3) * 256 / canvas.size
        xs = np.arange(canvas.size, dtype=np.float32)
        phase = xs[None, :] * np.float32(np.cos(ang) * freq) + xs[:, None] * np.float32(np.sin(ang) * freq)
        canvas.pixels *= 1.0 + np.float32(rng.uniform(0.05, 0.2)) * np.sin(phase)


def draw_background(scene: Scene) -> None:
    """Fill the whole canvas (shapes are drawn at half resolution, the smooth base at 32 x 32)."""
    canvas = scene.canvas
    half = canvas.size // 2
    image = _smooth_base(scene.rng, half)
    _add_objects(scene.rng, image)
    for c, plane in enumerate(cv2.split(image)):  # planes: cv2.split of a large image is slow
        full = cv2.resize(plane, (canvas.size, canvas.size), interpolation=cv2.INTER_LINEAR)
        np.multiply(full, np.float32(1 / 255), out=canvas.pixels[c], casting="unsafe")
    _add_texture(scene)
