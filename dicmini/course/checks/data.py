"""Checks for the data exercises of notebook 01: landmark heatmaps and the 68 -> 5 component merge
(paper §3.2–3.3;
docs/reference_implementations.md, Component maps and Data and degradation)."""

from __future__ import annotations

import math

import numpy as np
import torch

from ...data import landmarks
from ._core import Check, Outcome, Property

__all__ = ["check_heatmaps", "check_merge"]


def _as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _points(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 127, shape + (2,)).astype(np.float32)


# ------------------------------------------------------------------------------------------ heatmaps
def _hm_shape(fn) -> Outcome:
    outs = [_as_numpy(fn(_points(0, s))) for s in [(2, 68), (68,), (2, 3, 5)]]
    got = [(o.shape, o.dtype) for o in outs]
    want = [((2, 68, 32, 32), np.float32), ((68, 32, 32), np.float32), ((2, 3, 5, 32, 32), np.float32)]
    ok = got == want
    return Outcome(ok, "shape [..., N, 32, 32] and dtype float32 for points [..., N, 2]",
                   f"got {[(list(s), str(d)) for s, d in got]}; keep every leading dimension and cast to float32")


def _hm_peak(fn) -> Outcome:
    pts = np.array([[40.0, 8.0], [8.0, 100.0]], dtype=np.float32)   # -> grid (10, 2) and (2, 25)
    h = _as_numpy(fn(pts))
    rows_cols = [tuple(int(i) for i in np.unravel_index(np.argmax(m), m.shape)) for m in h]
    ok = rows_cols == [(2, 10), (25, 2)] and abs(float(h[0, 2, 10]) - 1.0) < 1e-6
    return Outcome(ok, "peak 1 at (row, column) = (s*y, s*x) with s = 32/128",
                   f"points (x, y) = (40, 8) and (8, 100) peak at {rows_cols} (expected [(2, 10), (25, 2)]); "
                   "x is the column, y the row, and both are scaled by heatmap_size / image_size")


def _hm_sigma(fn) -> Outcome:
    pts = np.array([[64.0, 64.0]], dtype=np.float32)                # grid (16, 16)
    got = [float(_as_numpy(fn(pts, sigma=s))[0, 16, 17]) for s in (1.0, 2.0)]
    want = [math.exp(-1 / 2), math.exp(-1 / 8)]
    ok = all(abs(a - b) < 1e-6 for a, b in zip(got, want))
    return Outcome(ok, "Gaussian width: one cell from the peak the value is exp(-1 / (2 sigma^2))",
                   f"got {got[0]:.4f} (sigma 1) and {got[1]:.4f} (sigma 2), expected {want[0]:.4f} and "
                   f"{want[1]:.4f}: exp(-d^2 / (2 sigma^2)), with sigma the argument and no normalisation")


def _hm_sizes(fn) -> Outcome:
    pts = np.array([[80.0, 16.0]], dtype=np.float32)
    h = _as_numpy(fn(pts, image_size=128, heatmap_size=64))
    ok = h.shape == (1, 64, 64) and tuple(int(i) for i in np.unravel_index(np.argmax(h[0]), (64, 64))) == (8, 40)
    return Outcome(ok, "image_size and heatmap_size are respected (64x64 heatmaps)",
                   f"got shape {list(h.shape)}; derive the grid and the scale from the arguments, not from 32")


def _hm_agree(fn) -> Outcome:
    pts = _points(1, (4, 68))
    mine = _as_numpy(fn(pts)).astype(np.float64)
    ref = landmarks.landmarks_to_heatmaps(pts).astype(np.float64)
    diff = float(np.abs(mine - ref).max()) if mine.shape == ref.shape else math.inf
    return Outcome(diff <= 1e-6, "agrees with dicmini.data.landmarks.landmarks_to_heatmaps on 4 x 68 random points",
                   f"largest difference {diff:.3g}")


check_heatmaps = Check(
    "landmark heatmaps",
    [Property("shapes", _hm_shape), Property("peak", _hm_peak), Property("sigma", _hm_sigma),
     Property("sizes", _hm_sizes), Property("agreement", _hm_agree)],
    landmarks.landmarks_to_heatmaps, "dicmini.data.landmarks.landmarks_to_heatmaps",
    doc="Check ``my_landmarks_to_heatmaps(points, image_size=128, heatmap_size=32, sigma=1.0)`` (notebook 01).")


# ------------------------------------------------------------------------------------------ merge
#: one landmark per component (and an eyebrow, which belongs to the face outline)
_PROBES = {36: 0, 41: 0, 42: 1, 47: 1, 27: 2, 35: 2, 48: 3, 67: 3, 0: 4, 16: 4, 19: 4, 24: 4}


def _bump_maps(index: int, amplitude: float = 1.0) -> torch.Tensor:
    maps = torch.zeros(1, 68, 8, 8)
    maps[0, index, 3, 4] = amplitude
    return maps


def _mg_shape(fn) -> Outcome:
    a = fn(torch.rand(2, 68, 16, 16))
    b = fn(torch.rand(2, 5, 16, 16))
    ok = tuple(a.shape) == (2, 5, 16, 16) and tuple(b.shape) == (2, 5, 16, 16)
    return Outcome(ok, "[B, 68, h, w] -> [B, 5, h, w]; a 5-channel input stays 5 channels",
                   f"got {list(a.shape)} and {list(b.shape)}")


def _mg_groups(fn) -> Outcome:
    wrong = []
    for k, c in _PROBES.items():
        out = fn(_bump_maps(k))
        lit = [int(i) for i in (out[0].abs().amax(dim=(1, 2)) > 0.5).nonzero().flatten()]
        if lit != [c]:
            wrong.append(f"landmark {k} -> components {lit} (expected [{c}])")
    names = ", ".join(f"{n} {a}-{b - 1}" for n, (a, b) in zip(landmarks.COMPONENT_NAMES, landmarks.COMPONENT_RANGES))
    return Outcome(not wrong, "component order: left eye, right eye, nose, mouth, face outline (with the brows)",
                   f"{wrong[0] if wrong else ''}; the ranges are {names}")


def _mg_normalised(fn) -> Outcome:
    g = torch.Generator().manual_seed(3)
    maps = torch.rand(1, 68, 8, 8, generator=g) + 0.1
    scaled = maps.clone()
    scaled[:, 37] *= 3.0
    scaled[:, 50] *= 0.5
    a, b = fn(maps), fn(scaled)
    ok = torch.allclose(a, b, atol=1e-5) and abs(float(fn(_bump_maps(30, 2.0)).max()) - 1.0) < 1e-6
    return Outcome(ok, "each heatmap is divided by its own spatial maximum before summing",
                   "scaling one heatmap changed the result (or a bump of height 2 did not become 1): normalise "
                   "every map over (h, w) separately, not over all maps together")


def _mg_clamp(fn) -> Outcome:
    weak = float(fn(_bump_maps(30, 0.001)).max())
    neg = _bump_maps(30, 0.0) - 0.1
    neg[0, 30, 3, 4] = -0.04
    neg_out = fn(neg)[0, 2]
    ok = abs(weak - 0.02) < 1e-6 and bool((neg_out < 0).all())
    return Outcome(ok, "maxima are clamped below at 0.05 (weak maps stay weak, negative maps keep their sign)",
                   f"a bump of height 0.001 became {weak:.3f} (expected 0.001 / 0.05 = 0.020); "
                   "divide by max(peak, 0.05)")


def _mg_grad(fn) -> Outcome:
    x = torch.rand(1, 68, 8, 8, requires_grad=True)
    keeps = fn(x).requires_grad
    cut = fn(x, detach=True).requires_grad
    ok = keeps and not cut
    return Outcome(ok, "keeps the gradient by default, cuts it with detach=True",
                   f"requires_grad: {keeps} by default, {cut} with detach=True (expected True, False)")


def _mg_agree(fn) -> Outcome:
    g = torch.Generator().manual_seed(4)
    worst = 0.0
    for x in [torch.rand(2, 68, 16, 16, generator=g), torch.randn(2, 68, 16, 16, generator=g) * 0.1 - 0.2,
              torch.randn(2, 5, 16, 16, generator=g)]:
        a, b = fn(x), landmarks.merge_to_components(x)
        worst = max(worst, float((a - b).abs().max()) if a.shape == b.shape else math.inf)
    return Outcome(worst <= 1e-5, "agrees with dicmini.data.landmarks.merge_to_components (positive, mostly "
                   "negative and 5-channel inputs)", f"largest difference {worst:.3g}")


check_merge = Check(
    "68 -> 5 merge",
    [Property("shapes", _mg_shape), Property("groups", _mg_groups), Property("normalisation", _mg_normalised),
     Property("clamp", _mg_clamp), Property("gradient", _mg_grad), Property("agreement", _mg_agree)],
    landmarks.merge_to_components, "dicmini.data.landmarks.merge_to_components",
    doc="Check ``my_merge_to_components(heatmaps, detach=False)`` (notebook 01).")
