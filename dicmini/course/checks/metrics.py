"""Checks for the image-quality exercises of notebook 09 (paper §4.1;
docs/reference_implementations.md, Evaluation protocols).

``my_psnr(pred, gt, crop_border=8)`` and ``my_ssim(pred, gt, crop_border=8)`` take two ``H x W x 3`` float64
RGB arrays with values in [0, 255] and must agree with :func:`dicmini.metrics.psnr` /
:func:`dicmini.metrics.ssim` under the ``"mmagic"`` protocol (RGB, all channels, ``crop_border`` pixels
removed from every side, peak 255; SSIM with an 11 x 11 Gaussian window of sigma 1.5, 'valid' filtering).
"""

from __future__ import annotations

import math

import numpy as np

from ... import metrics
from ._core import Check, Outcome, Property

__all__ = ["check_psnr", "check_ssim", "reference_psnr", "reference_ssim"]

PSNR_TOLERANCE = 1e-3   # dB
SSIM_TOLERANCE = 1e-5


def reference_psnr(pred: np.ndarray, gt: np.ndarray, crop_border: int = 8) -> float:
    """dicmini's PSNR (protocol ``"mmagic"``) with the exercise's signature."""
    return metrics.psnr(pred, gt, crop_border, "mmagic")


def reference_ssim(pred: np.ndarray, gt: np.ndarray, crop_border: int = 8) -> float:
    """dicmini's SSIM (protocol ``"mmagic"``) with the exercise's signature."""
    return metrics.ssim(pred, gt, crop_border, "mmagic")


def _pairs() -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    """Deterministic test pairs: a smooth image with noise of several strengths, sizes and borders."""
    rng = np.random.default_rng(1234)
    out = []
    for name, (h, w), noise, border in [("48x48, mild noise", (48, 48), 4.0, 8),
                                        ("40x56, strong noise", (40, 56), 25.0, 8),
                                        ("32x32, crop_border=0", (32, 32), 10.0, 0),
                                        ("36x44, crop_border=4", (36, 44), 6.0, 4)]:
        yy, xx = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
        gt = np.stack([200 * xx + 30, 150 * yy + 50, 120 * xx * yy + 80], axis=-1)
        gt = gt + rng.normal(0, 8.0, gt.shape)
        gt = np.clip(gt, 0, 255)
        pred = np.clip(gt + rng.normal(0, noise, gt.shape) + rng.normal(0, noise / 2, (1, 1, 3)), 0, 255)
        out.append((name, pred.astype(np.float64), gt.astype(np.float64), border))
    return out


def _agreement(fn, ref, tol: float, unit: str, what: str) -> Outcome:
    worst, where = 0.0, ""
    for name, pred, gt, border in _pairs():
        mine = float(fn(pred, gt, crop_border=border))
        expected = ref(pred, gt, border)
        diff = abs(mine - expected)
        if not math.isfinite(mine) or diff > worst:
            worst, where = (math.inf if not math.isfinite(mine) else diff), f"{name}: {mine:.5f} vs {expected:.5f}"
    n = len(_pairs())
    if worst <= tol:
        return Outcome(True, f"agrees with {what} on {n} image pairs (within {tol:g}{unit})")
    return Outcome(False, f"agrees with {what} on {n} image pairs (within {tol:g}{unit})",
                   f"largest difference at {where}")


def _border_only(fn, identical_value: float, what: str) -> Outcome:
    """Differences confined to the cropped border must not count; one pixel inside it must."""
    rng = np.random.default_rng(7)
    gt = rng.uniform(0, 255, (40, 40, 3))
    pred = gt.copy()
    pred[:8] = 255 - pred[:8]
    pred[:, -8:] = 0.0
    inside = pred.copy()
    inside[8:10, 8:10] += 30.0            # just inside the border
    v_border = float(fn(pred, gt, crop_border=8))
    v_inside = float(fn(inside, gt, crop_border=8))
    same = (lambda v: v == identical_value) if math.isinf(identical_value) else \
        (lambda v: abs(v - identical_value) < 1e-9)
    ok = same(v_border) and not same(v_inside)
    hint = ("crop exactly crop_border pixels from every side (top, bottom, left and right) of both images "
            f"before comparing: got {v_border:.3f} with differences only in the 8-pixel border, "
            f"{v_inside:.3f} with a difference just inside it")
    return Outcome(ok, f"{what} ignores exactly the crop_border pixels on every side", "" if ok else hint)


def _psnr_identical(fn) -> Outcome:
    img = np.full((24, 24, 3), 100.0)
    v = float(fn(img, img.copy(), crop_border=4))
    return Outcome(v == math.inf, "identical images give PSNR = inf",
                   f"got {v:.3f}; MSE = 0 means infinite PSNR (return float('inf'))")


def _psnr_value(fn) -> Outcome:
    gt = np.full((20, 20, 3), 100.0)
    pred = gt.copy()
    pred[..., 0] += 255.0 * 0.1 * math.sqrt(3)   # MSE over all channels = (0.1*255)^2 -> 20 dB
    v = float(fn(pred, gt, crop_border=0))
    ok = abs(v - 20.0) < 1e-3
    return Outcome(ok, "peak 255 and MSE over all three channels (a known 20 dB case)",
                   f"got {v:.3f} dB for MSE = (0.1 x 255)^2: use 10 log10(255^2 / MSE), MSE averaged over "
                   "H, W and the 3 channels together")


def _psnr_symmetric(fn) -> Outcome:
    name, pred, gt, border = _pairs()[0]
    a, b = float(fn(pred, gt, crop_border=border)), float(fn(gt, pred, crop_border=border))
    return Outcome(abs(a - b) < 1e-9, "symmetric in its two images", f"{a:.4f} dB vs {b:.4f} dB when swapped")


def _ssim_identical(fn) -> Outcome:
    rng = np.random.default_rng(3)
    img = rng.uniform(0, 255, (30, 30, 3))
    v = float(fn(img, img.copy(), crop_border=4))
    return Outcome(abs(v - 1.0) < 1e-9, "identical images give SSIM = 1", f"got {v:.6f}")


def _ssim_window(fn) -> Outcome:
    """A single bright pixel shows the window: a Gaussian (sigma 1.5) weights the centre, a box does not."""
    gt = np.full((21, 21, 3), 128.0)
    pred = gt.copy()
    pred[10, 10] += 60.0
    mine = float(fn(pred, gt, crop_border=0))
    expected = reference_ssim(pred, gt, 0)
    ok = abs(mine - expected) < SSIM_TOLERANCE
    return Outcome(ok, "11x11 Gaussian window (sigma 1.5), 'valid' filtering, C1 = (0.01*255)^2, C2 = (0.03*255)^2",
                   f"one changed pixel on a flat image: got {mine:.6f}, expected {expected:.6f}")


def _ssim_per_channel(fn) -> Outcome:
    rng = np.random.default_rng(5)
    gt = rng.uniform(40, 200, (24, 24, 3))
    pred = gt.copy()
    pred[..., 2] = rng.uniform(40, 200, (24, 24))   # only the blue channel is destroyed
    mine = float(fn(pred, gt, crop_border=0))
    expected = reference_ssim(pred, gt, 0)
    ok = abs(mine - expected) < SSIM_TOLERANCE
    return Outcome(ok, "computed per RGB channel and averaged",
                   f"got {mine:.5f}, expected {expected:.5f} (about 2/3 when one of three channels is noise)")


check_psnr = Check(
    "psnr",
    [Property("identical images", _psnr_identical),
     Property("20 dB case", _psnr_value),
     Property("symmetry", _psnr_symmetric),
     Property("crop border", lambda fn: _border_only(fn, math.inf, "PSNR")),
     Property("agreement", lambda fn: _agreement(fn, reference_psnr, PSNR_TOLERANCE, " dB",
                                                 "dicmini.metrics.psnr"))],
    reference_psnr, "dicmini.metrics.psnr (protocol 'mmagic')",
    doc="Check ``my_psnr(pred, gt, crop_border=8) -> float`` against dicmini.metrics.psnr (notebook 09).")

check_ssim = Check(
    "ssim",
    [Property("identical images", _ssim_identical),
     Property("window", _ssim_window),
     Property("per channel", _ssim_per_channel),
     Property("crop border", lambda fn: _border_only(fn, 1.0, "SSIM")),
     Property("agreement", lambda fn: _agreement(fn, reference_ssim, SSIM_TOLERANCE, "",
                                                 "dicmini.metrics.ssim"))],
    reference_ssim, "dicmini.metrics.ssim (protocol 'mmagic')",
    doc="Check ``my_ssim(pred, gt, crop_border=8) -> float`` against dicmini.metrics.ssim (notebook 09).")
