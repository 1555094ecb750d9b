"""Image-quality (PSNR, SSIM) and landmark (NME) metrics, with the evaluation protocols of DIC.

Every PSNR/SSIM number of dicmini is computed under one of three named protocols
(docs/reference_implementations.md, Evaluation protocols). They differ in the colour space, in whether the float
prediction is rounded, and in one quirk of the official code, and they can differ by several dB on the same
images — always print the protocol beside a number (:data:`PROTOCOLS` has a one-line description of each).

``"mmagic"`` (default)
    What the MMagic DIC configs report (``convert_to=None``): all three RGB channels of the **float**
    prediction (clamped to [0, 255], *not* rounded), ``crop_border`` pixels removed on each side.
    PSNR = ``20 log10(255 / sqrt(MSE))`` with the MSE over all cropped pixels and channels, computed
    in **float32** like MMagic (``np.mean`` of a float32 array); the float64 value differs by a few
    1e-6 dB. SSIM is computed per channel in float64 and averaged over R, G, B.
``"y"``
    MMagic with ``convert_to='Y'`` and RGB channel order: the BT.601 "MATLAB" luma
    ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` (range [16, 235]) computed as mmcv does
    (``rgb2ycbcr(img / 255, y_only=True) * 255``, stored as float32), **not rounded**, then cropped.
``"official"``
    The official DIC code path (``Maclory/Deep-Iterative-Collaboration``, ``code/utils/util.py``
    ``calc_metrics`` after ``quantize``): the prediction is first quantised to uint8
    (``clip(round(pred), 0, 255)``; the GT too, a no-op for uint8 GT), Y is computed from the uint8
    RGB and **rounded to uint8**, cropped, and then hit by the official **uint8 wrap quirk**: the code
    calls ``calc_psnr(cropped_y * 255, ...)`` on a *uint8* array, which wraps modulo 256, so the
    metrics are really computed on ``(256 - Y) mod 256``. Because Y lies in [16, 235] this is an exact
    negation plus a shift of both images: the squared differences are unchanged, so **PSNR is
    bit-identical** to PSNR on Y, but SSIM's luminance term sees different means (dark regions become
    bright), which **raises SSIM**: by 3.6e-4 on average on the tiny DIC's SR faces and by up to 1e-2 on
    single bicubic images (notebook 09). We reproduce the quirk so that the numbers match
    the official ones exactly.

SSIM (all protocols) is Wang et al. 2004 as implemented by MMagic's ``_ssim`` and the official
``ssim``: an 11 x 11 Gaussian window with sigma 1.5 (``cv2.getGaussianKernel`` semantics), the *valid*
region only (a 2-D correlation without padding, i.e. ``cv2.filter2D(...)[5:-5, 5:-5]``),
``C1 = (0.01 * 255)^2``, ``C2 = (0.03 * 255)^2``, float64, and the mean of the SSIM map. The window is
separable, so it is applied as two 1-D passes in NumPy (agrees with ``cv2.filter2D`` to ~1e-14).

Identical images (MSE = 0) give ``PSNR = inf`` in every protocol, as in MMagic and the official code;
averages that include such a pair are therefore ``inf`` too.

Perceptual distance: :func:`lpips` is LPIPS v0.1 with the ImageNet VGG16 trunk (Zhang et al., CVPR 2018;
:mod:`dicmini.models.lpips`) on the RGB images scaled to ``[-1, 1]``, no crop by default; lower is better. It
needs the pretrained weights (``python -m dicmini.models.vgg_weights fetch``).

Landmarks: :func:`nme` is the mean point-to-point error normalised by the inter-ocular distance
(outer eye corners, points 36 and 45, 0-based), the normalisation the official ``eval_landmark.py``
calls "inter-ocular".
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from dicmini.data.landmarks import NUM_LANDMARKS, OUTER_EYE_CORNERS

#: One line per evaluation protocol, printed by the command-line tools beside every number.
PROTOCOLS: dict[str, str] = {
    "mmagic": "RGB, float prediction (not rounded), crop 8, PSNR float32, SSIM mean over R,G,B (MMagic DIC configs)",
    "y": "BT.601 Y (16-235) of the float prediction, not rounded, crop 8 (MMagic convert_to='Y')",
    "official": "uint8-quantised prediction, Y rounded to uint8, crop 8, uint8*255 wrap quirk (official DIC code)",
}

#: BT.601 "MATLAB" luma weights for R, G, B (in 1/255 units) and offset.
_Y_WEIGHTS = (65.481, 128.553, 24.966)
_Y_OFFSET = 16.0

_SSIM_SIZE = 11
_SSIM_SIGMA = 1.5
_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2


# --------------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------------
def _as_array(x, name: str) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"{name}: expected a numeric (uint8 or float) array, got dtype {arr.dtype}")
    return arr


def _check_pair(pred, gt, crop_border: int, protocol: str, min_size: int = 1) -> tuple[np.ndarray, np.ndarray]:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol: unknown protocol {protocol!r}; valid protocols are {sorted(PROTOCOLS)}")
    pred = _as_array(pred, "pred")
    gt = _as_array(gt, "gt")
    for name, arr in (("pred", pred), ("gt", gt)):
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise ValueError(f"{name}: expected an H x W x 3 RGB image, got shape {list(arr.shape)}")
    if pred.shape != gt.shape:
        raise ValueError(f"pred and gt: shape mismatch, pred {list(pred.shape)} vs gt {list(gt.shape)}")
    if isinstance(crop_border, bool) or not isinstance(crop_border, (int, np.integer)) or crop_border < 0:
        raise ValueError(f"crop_border: expected a non-negative int, got {crop_border!r}")
    h, w = gt.shape[:2]
    if min(h, w) - 2 * crop_border < min_size:
        raise ValueError(f"crop_border: {crop_border} is too large for a {h} x {w} image "
                         f"(at least {min_size} x {min_size} pixels must remain after cropping)")
    return pred, gt


def _crop(img: np.ndarray, crop_border: int) -> np.ndarray:
    if crop_border == 0:
        return img
    return img[crop_border:-crop_border, crop_border:-crop_border]


def _y_mmcv(img: np.ndarray) -> np.ndarray:
    """Float Y like ``mmcv.rgb2ycbcr(img / 255., y_only=True) * 255.`` on a float32 RGB image -> float32 HxW."""
    img32 = img.astype(np.float32) / np.float32(255.0)
    y = (np.dot(img32, np.asarray(_Y_WEIGHTS, dtype=np.float64)) + _Y_OFFSET) / 255.0  # float64 as mmcv
    return y.astype(np.float32) * np.float32(255.0)


def quantize(img: np.ndarray) -> np.ndarray:
    """The official ``quantize``: ``clip(round(img), 0, 255)`` as uint8 (round half to even, as NumPy)."""
    img = _as_array(img, "img")
    if img.dtype == np.uint8:
        return img
    return np.clip(np.round(img.astype(np.float64)), 0, 255).astype(np.uint8)


def _y_official(img_u8: np.ndarray) -> np.ndarray:
    """Y of a uint8 RGB image rounded to uint8, as the official ``rgb2ycbcr(only_y=True)``."""
    y = np.dot(img_u8.astype(np.float64), np.asarray(_Y_WEIGHTS)) / 255.0 + _Y_OFFSET
    return np.round(y).astype(np.uint8)


def _prepare(pred: np.ndarray, gt: np.ndarray, crop_border: int, protocol: str) -> tuple[np.ndarray, np.ndarray]:
    """Both images transformed to the protocol's domain: ``H' x W' x C`` (C = 3 or 1)."""
    if protocol == "mmagic":
        p, g = pred.astype(np.float32), gt.astype(np.float32)
    elif protocol == "y":
        p, g = _y_mmcv(pred)[..., None], _y_mmcv(gt)[..., None]
    else:  # official
        p, g = _y_official(quantize(pred)), _y_official(quantize(gt))
        p, g = _crop(p, crop_border), _crop(g, crop_border)
        # The quirk: `uint8 array * 255` stays uint8 and wraps modulo 256, i.e. Y -> (256 - Y) mod 256.
        p = (p * np.uint8(255)).astype(np.float64)[..., None]
        g = (g * np.uint8(255)).astype(np.float64)[..., None]
        return p, g
    return _crop(p, crop_border), _crop(g, crop_border)


# --------------------------------------------------------------------------------------------------
# PSNR / SSIM
# --------------------------------------------------------------------------------------------------
def psnr(pred, gt, crop_border: int = 8, protocol: str = "mmagic") -> float:
    """Peak signal-to-noise ratio in dB, ``20 log10(255 / sqrt(MSE))``, of two ``H x W x 3`` RGB images.

    ``pred`` and ``gt`` are NumPy arrays (or CPU tensors) of any float or uint8 dtype with values in
    [0, 255]. ``protocol`` is one of :data:`PROTOCOLS` (see the module docstring). Returns ``inf`` for
    identical images (after the protocol's transform).
    """
    pred, gt = _check_pair(pred, gt, crop_border, protocol)
    p, g = _prepare(pred, gt, crop_border, protocol)
    if protocol == "official":  # float64 throughout
        mse = float(np.mean((p - g) ** 2))
        return float("inf") if mse == 0 else float(20.0 * math.log10(255.0 / math.sqrt(mse)))
    # MMagic: float32 MSE and float32 log arithmetic
    mse32 = np.mean((p - g) ** 2, dtype=np.float32)
    if mse32 == 0:
        return float("inf")
    return float(np.float32(20.0) * np.log10(np.float32(255.0) / np.sqrt(mse32)))


def gaussian_window(size: int = _SSIM_SIZE, sigma: float = _SSIM_SIGMA) -> np.ndarray:
    """Normalised 1-D Gaussian of ``size`` taps (float64), as ``cv2.getGaussianKernel(size, sigma)`` for
    ``sigma > 0``: ``g_i = exp(-(i - (size-1)/2)^2 / (2 sigma^2)) / sum``."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Valid 2-D correlation of a float64 ``H x W`` image with the separable window ``outer(g, g)``."""
    k = g.size
    h, w = img.shape
    rows = np.zeros((h - k + 1, w), dtype=np.float64)
    for i in range(k):
        rows += g[i] * img[i:i + h - k + 1, :]
    out = np.zeros((h - k + 1, w - k + 1), dtype=np.float64)
    for j in range(k):
        out += g[j] * rows[:, j:j + w - k + 1]
    return out


def _ssim_channel(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two float64 ``H x W`` images (Gaussian 11x11, sigma 1.5, valid region, mean of the map)."""
    g = gaussian_window()
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    mu_aa, mu_bb, mu_ab = mu_a * mu_a, mu_b * mu_b, mu_a * mu_b
    var_a = _filter_valid(a * a, g) - mu_aa
    var_b = _filter_valid(b * b, g) - mu_bb
    cov = _filter_valid(a * b, g) - mu_ab
    ssim_map = ((2 * mu_ab + _C1) * (2 * cov + _C2)) / ((mu_aa + mu_bb + _C1) * (var_a + var_b + _C2))
    return float(ssim_map.mean())


def ssim(pred, gt, crop_border: int = 8, protocol: str = "mmagic") -> float:
    """Structural similarity of two ``H x W x 3`` RGB images (mean over channels for ``"mmagic"``).

    Same inputs and protocols as :func:`psnr`. The image left after cropping must be at least 11 x 11.
    Identical images give exactly 1.0.
    """
    pred, gt = _check_pair(pred, gt, crop_border, protocol, min_size=_SSIM_SIZE)
    p, g = _prepare(pred, gt, crop_border, protocol)
    return float(np.mean([_ssim_channel(p[..., c], g[..., c]) for c in range(p.shape[2])]))


def per_step_metrics(sr_steps: Sequence, hr, crop_border: int = 8, protocol: str = "mmagic") -> dict[str, list[float]]:
    """Mean PSNR and SSIM of every recurrent step.

    ``sr_steps[t]`` holds step ``t``'s prediction(s): one ``H x W x 3`` image or a batch ``N x H x W x 3``
    (array or list of images), float or uint8 in [0, 255]; ``hr`` matches one step (``H x W x 3`` or
    ``N x H x W x 3``). Returns ``{"psnr": [mean over images per step], "ssim": [...]}``.
    """
    hr = _as_array(hr, "hr")
    hr_batch = hr[None] if hr.ndim == 3 else hr
    out: dict[str, list[float]] = {"psnr": [], "ssim": []}
    for t, step in enumerate(sr_steps):
        sr = _as_array(step, f"sr_steps[{t}]")
        sr_batch = sr[None] if sr.ndim == 3 else sr
        if sr_batch.shape != hr_batch.shape:
            raise ValueError(f"sr_steps[{t}]: shape {list(sr.shape)} does not match hr {list(hr.shape)}")
        out["psnr"].append(float(np.mean([psnr(s, h, crop_border, protocol) for s, h in zip(sr_batch, hr_batch)])))
        out["ssim"].append(float(np.mean([ssim(s, h, crop_border, protocol) for s, h in zip(sr_batch, hr_batch)])))
    return out


# --------------------------------------------------------------------------------------------------
# perceptual
# --------------------------------------------------------------------------------------------------
def lpips(pred, gt, crop_border: int = 0, net=None, batch_size: int = 16) -> float | np.ndarray:
    """LPIPS v0.1 (VGG) distance of RGB images in [0, 255] (uint8 or float; floats are clamped, not rounded).

    ``H x W x 3`` inputs give a float, ``N x H x W x 3`` inputs a float64 array of ``N`` values. Images are
    mapped to ``[-1, 1]`` (``x / 127.5 - 1``) after removing ``crop_border`` pixels per side. ``net`` is an
    :class:`dicmini.models.lpips.LPIPS` (default: one shared instance with the fetched weights; raises
    ``FileNotFoundError`` naming the fetch command when they are missing). Identical images give 0.
    """
    import torch

    from dicmini.models.lpips import default_lpips

    p, g = _as_array(pred, "pred"), _as_array(gt, "gt")
    for name, arr in (("pred", p), ("gt", g)):
        if arr.ndim not in (3, 4) or arr.shape[-1] != 3:
            raise ValueError(f"{name}: expected an H x W x 3 or N x H x W x 3 RGB image, got shape {list(arr.shape)}")
    if p.shape != g.shape:
        raise ValueError(f"pred and gt: shape mismatch, pred {list(p.shape)} vs gt {list(g.shape)}")
    if isinstance(crop_border, bool) or not isinstance(crop_border, (int, np.integer)) or crop_border < 0:
        raise ValueError(f"crop_border: expected a non-negative int, got {crop_border!r}")
    if min(g.shape[-3:-1]) - 2 * crop_border < 16:
        raise ValueError(f"crop_border: {crop_border} leaves less than 16 x 16 pixels of a "
                         f"{g.shape[-3]} x {g.shape[-2]} image (LPIPS pools 4 times)")
    single = p.ndim == 3
    p, g = (p[None], g[None]) if single else (p, g)
    net = default_lpips() if net is None else net

    def to_net(a: np.ndarray) -> torch.Tensor:  # N x H x W x 3 in [0, 255] -> N x 3 x H x W in [-1, 1]
        a = np.clip(a.astype(np.float32), 0.0, 255.0)
        return torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))) / 127.5 - 1.0

    c = crop_border
    if c:
        p, g = p[:, c:-c, c:-c], g[:, c:-c, c:-c]
    out = []
    with torch.no_grad():
        for a in range(0, len(p), batch_size):
            out.append(net(to_net(p[a:a + batch_size]), to_net(g[a:a + batch_size])).double().numpy())
    values = np.concatenate(out)
    return float(values[0]) if single else values


# --------------------------------------------------------------------------------------------------
# landmarks
# --------------------------------------------------------------------------------------------------
def nme(pred_points, gt_points) -> float | np.ndarray:
    """Normalised mean error of 68-point landmarks.

    ``NME = mean_i ||p_i - g_i||_2 / ||g_36 - g_45||_2``: the mean Euclidean point-to-point error divided
    by the inter-ocular distance (distance between the **GT** outer eye corners, 0-based points 36 and
    45). ``[68, 2]`` inputs give a float; ``[B, 68, 2]`` inputs give a float64 array of ``B`` per-image
    values (use :func:`mean_nme` for the dataset average). Points are ``(x, y)`` pixels.
    """
    p = _as_array(pred_points, "pred_points").astype(np.float64)
    g = _as_array(gt_points, "gt_points").astype(np.float64)
    for name, arr in (("pred_points", p), ("gt_points", g)):
        if arr.ndim not in (2, 3) or arr.shape[-2:] != (NUM_LANDMARKS, 2):
            raise ValueError(f"{name}: expected [{NUM_LANDMARKS}, 2] or [B, {NUM_LANDMARKS}, 2], got {list(arr.shape)}")
    if p.shape != g.shape:
        raise ValueError(f"pred_points and gt_points: shape mismatch, {list(p.shape)} vs {list(g.shape)}")
    a, b = OUTER_EYE_CORNERS
    iod = np.linalg.norm(g[..., a, :] - g[..., b, :], axis=-1)
    if np.any(iod <= 0):
        raise ValueError("gt_points: inter-ocular distance (points 36-45) is zero")
    err = np.linalg.norm(p - g, axis=-1).mean(axis=-1) / iod
    return float(err) if err.ndim == 0 else err


def mean_nme(pred_points, gt_points) -> float:
    """Average of :func:`nme` over a batch (``[B, 68, 2]``) or the single value for ``[68, 2]``."""
    return float(np.mean(nme(pred_points, gt_points)))


def mean_shape_nme(gt_points, shape=None) -> np.ndarray:
    """Per-image :func:`nme` of predicting one fixed ``shape`` (``[68, 2]``) for every face of ``gt_points``
    (``[B, 68, 2]``): the landmark baseline that looks at no image. ``shape`` defaults to the mean of
    ``gt_points`` (the best single shape for these faces, up to the NME's per-face normalisation)."""
    g = _as_array(gt_points, "gt_points").astype(np.float64)
    if g.ndim != 3:
        raise ValueError(f"gt_points: expected [B, {NUM_LANDMARKS}, 2], got {list(g.shape)}")
    s = g.mean(axis=0) if shape is None else _as_array(shape, "shape").astype(np.float64)
    if s.shape != (NUM_LANDMARKS, 2):
        raise ValueError(f"shape: expected [{NUM_LANDMARKS}, 2], got {list(s.shape)}")
    return nme(np.broadcast_to(s, g.shape), g)
