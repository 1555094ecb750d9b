"""Curves through landmarks: Catmull-Rom splines, arc-length interpolation and unit vectors."""

from __future__ import annotations

from functools import cache

import numpy as np


@cache
def _catmull_rom_basis(samples: int) -> np.ndarray:
    """``samples x 4`` weights of the four control points at ``t = k / samples``."""
    t = np.arange(samples) / samples
    return 0.5 * np.stack([-t**3 + 2 * t**2 - t, 3 * t**3 - 5 * t**2 + 2, -3 * t**3 + 4 * t**2 + t, t**3 - t**2], 1)


def spline(points: np.ndarray, samples: int = 6) -> np.ndarray:
    """An open Catmull-Rom spline that passes exactly through ``points`` (``samples`` per segment)."""
    p = np.asarray(points, dtype=np.float64)
    ext = np.concatenate([2 * p[:1] - p[1:2], p, 2 * p[-1:] - p[-2:-1]])  # mirrored end tangents
    segments = len(p) - 1
    controls = ext[np.arange(segments)[:, None] + np.arange(4)[None, :]]  # segments x 4 x 2
    out = np.einsum("nk,mkd->mnd", _catmull_rom_basis(samples), controls).reshape(-1, 2)
    return np.concatenate([out, p[-1:]])


def arc_interp(curve: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points at arc-length fractions ``t`` in [0, 1] along a polyline."""
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(curve, axis=0).T))])
    s /= max(s[-1], 1e-9)
    t = np.asarray(t, dtype=np.float64)
    out = np.empty(t.shape + (2,))
    out[..., 0] = np.interp(t, s, curve[:, 0])
    out[..., 1] = np.interp(t, s, curve[:, 1])
    return out


def unit(v: np.ndarray) -> np.ndarray:
    """``v`` scaled to length 1 along its last axis (zero vectors stay near zero)."""
    return v / np.maximum(np.sqrt(np.square(v).sum(axis=-1, keepdims=True)), 1e-9)
