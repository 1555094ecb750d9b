"""A dead-leaves backdrop: occluding discs of power-law sizes, the simplest image with a photograph's statistics.

Behind a real face there is a room, a street, other people: edges at every scale, which an x8 model must restore
from a few blurred pixels. The shapes background (:mod:`.background`) has a handful of smooth blobs. A dead-leaves
image (Matheron's model; Lee, Mumford & Huang 2001, "Occlusion models for natural images") stacks discs whose radii
follow ``p(r) ~ r^-3``; the result is scale invariant, with the ``1/f^2`` power spectrum and the sharp occlusion
edges of natural images. Here the discs' colours come from a few random palette colours, each disc is shaded by a
linear ramp, and the whole backdrop is sometimes defocused, as a photographed background often is.

The backdrop is painted over the finished background with a random stream of its own
(:func:`backdrop_stream`), so a face keeps the same shape, skin, hair and clothes with or without it.
"""

from __future__ import annotations

import cv2
import numpy as np

from .canvas import AA

#: the smallest and largest disc radius, as shares of the canvas side
RADIUS_RANGE = (0.01, 0.4)
#: the most discs drawn (in random order: later discs occlude earlier ones, whatever their size)
MAX_DISCS = 600


def backdrop_stream(seed: int) -> np.random.Generator:
    """The random stream of seed ``seed``'s backdrop, independent of the face's own stream."""
    return np.random.default_rng([seed, 0x6C656166])


def _power_law_radii(rng: np.random.Generator, n: int, side: int) -> np.ndarray:
    """``n`` radii in canvas pixels with density ``~ r^-3`` between :data:`RADIUS_RANGE` x ``side``."""
    lo, hi = (s * side for s in RADIUS_RANGE)
    u = rng.random(n)
    # inverse CDF of p(r) ~ r^-3 on [lo, hi]: 1/r^2 is uniform between 1/hi^2 and 1/lo^2
    return 1.0 / np.sqrt(u / lo**2 + (1.0 - u) / hi**2)


def dead_leaves(rng: np.random.Generator, side: int) -> np.ndarray:
    """A ``3 x side x side`` float32 backdrop in [0, 1] drawn from ``rng``.

    Discs are drawn in random order (the later on top) at half resolution with anti-aliased edges; each takes a
    palette colour (2-6 colours, jittered) and a shading ramp across the disc of up to +-20 %.
    """
    half = max(side // 2, 8)
    n_colours = int(rng.integers(2, 7))
    # photographed scenes are mostly muted: a grey level per colour plus a modest tint
    palette = rng.uniform(0.08, 0.92, (n_colours, 1)) + rng.normal(0.0, rng.uniform(0.03, 0.2), (n_colours, 3))
    image = np.empty((half, half, 3), np.float32)
    image[:] = palette[0]
    n = int(rng.integers(MAX_DISCS // 6, MAX_DISCS + 1))
    radii = _power_law_radii(rng, n, half)
    centres = rng.uniform(-0.1, 1.1, (n, 2)) * half
    picks = rng.integers(0, n_colours, n)
    jitter = rng.normal(0.0, 0.06, (n, 3))
    slopes = rng.uniform(-0.2, 0.2, n)
    mask = np.zeros((half, half), np.uint8)
    for r, (cx, cy), k, dc, slope in zip(radii, centres, picks, jitter, slopes):
        x0, x1 = max(int(cx - r) - 1, 0), min(int(cx + r) + 2, half)
        y0, y1 = max(int(cy - r) - 1, 0), min(int(cy + r) + 2, half)
        if x0 >= x1 or y0 >= y1:
            continue
        sub = mask[y0:y1, x0:x1]
        sub[:] = 0
        cv2.circle(sub, (int(round((cx - x0) * 16)), int(round((cy - y0) * 16))), max(int(round(r * 16)), 1),
                   255, -1, AA, 4)
        colour = np.clip(palette[k] + dc, 0.0, 1.0).astype(np.float32)
        ramp = np.linspace(1.0 - slope, 1.0 + slope, y1 - y0, dtype=np.float32)[:, None, None]
        alpha = sub.astype(np.float32)[..., None] * np.float32(1 / 255)
        region = image[y0:y1, x0:x1]
        region += (np.clip(colour * ramp, 0.0, 1.0) - region) * alpha
    if rng.random() < 0.5:
        cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, half / 40), dst=image)
    full = cv2.resize(image, (side, side), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(full.transpose(2, 0, 1))
