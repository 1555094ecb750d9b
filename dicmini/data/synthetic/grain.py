"""Pixel grain: random crops of one fixed noise texture (cheap, and the same on every call)."""

from __future__ import annotations

from functools import cache

import numpy as np

GRAIN_SIZE = 1024


@cache
def grain_texture() -> np.ndarray:
    """A fixed ``1024 x 1024`` field of uniform noise in [-1, 1) (made once; random crops give grain)."""
    g = np.random.default_rng(0x5EED).integers(0, 256, (GRAIN_SIZE, GRAIN_SIZE), dtype=np.uint8)
    return (g.astype(np.float32) - np.float32(127.5)) * np.float32(1 / 127.5)


def grain(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """An ``h x w`` crop of the grain texture at a random offset (tiled for very large canvases)."""
    tex = grain_texture()
    if h > GRAIN_SIZE or w > GRAIN_SIZE:
        tex = np.tile(tex, (-(-h // GRAIN_SIZE) + 1, -(-w // GRAIN_SIZE) + 1))
    y0 = int(rng.integers(0, tex.shape[0] - h + 1))
    x0 = int(rng.integers(0, tex.shape[1] - w + 1))
    return tex[y0:y0 + h, x0:x0 + w]
