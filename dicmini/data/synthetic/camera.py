"""The camera: area downsample of the canvas, white balance and exposure, light fall-off, sensor noise, gamma."""

from __future__ import annotations

import cv2
import numpy as np

from .grain import grain


def develop(pixels: np.ndarray, size: int, rng: np.random.Generator, noise: np.random.Generator) -> np.ndarray:
    """Planar float canvas ``pixels`` -> ``size x size x 3`` uint8 RGB photo (exact ``f x f`` box average)."""
    planes = [cv2.resize(p, (size, size), interpolation=cv2.INTER_AREA) if p.shape[0] != size else p.copy()
              for p in pixels]
    warm, tint = rng.normal(0.01, 0.03), rng.normal(0.0, 0.01)  # white balance: warm/cool, green/magenta
    gains = np.array([1.0 + warm, 1.0 + tint, 1.0 - warm]) * rng.uniform(0.85, 1.15)
    ang, slope = rng.uniform(0, 2 * np.pi), rng.uniform(0.0, 0.35)
    ax = np.linspace(-0.5, 0.5, size, dtype=np.float32)
    ramp = 1.0 + np.float32(slope) * (ax[None, :] * np.float32(np.cos(ang)) + ax[:, None] * np.float32(np.sin(ang)))
    amp, gamma = rng.uniform(0.0, 0.035) * 127.5, rng.uniform(0.8, 1.2)
    for p, g in zip(planes, gains):
        p *= ramp * np.float32(255.0 * g)
        p += grain(noise, size, size) * np.float32(amp) + np.float32(0.5)  # sensor noise, then rounding
    out = cv2.merge(planes)
    np.clip(out, 0, 255, out=out)
    out = out.astype(np.uint8)
    lut = np.clip((np.arange(256) / 255.0) ** gamma * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(out, lut)
