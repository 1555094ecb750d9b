"""PSNR/SSIM protocols against the stored reference values, hand-computed cases, NME, input validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from refvectors import load_vector

from dicmini import metrics as M


PSNR_TOL = 1e-4
SSIM_TOL = 1e-6


@pytest.fixture(scope="module")
def ref():
    d = load_vector("metrics_public.pt")
    return {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in d.items()}


# ---------------------------------------------------------------------------------------------- vectors
@pytest.mark.parametrize("protocol, psnr_key, ssim_key", [
    ("mmagic", "psnr_rgb", "ssim_rgb"),
    ("y", "psnr_y", "ssim_y"),
    ("official", "psnr_official", "ssim_official"),
])
def test_reference_values(ref, protocol, psnr_key, ssim_key):
    for i in range(ref["gt"].shape[0]):
        pred, gt = ref["pred"][i], ref["gt"][i]
        assert M.psnr(pred, gt, 8, protocol) == pytest.approx(ref[psnr_key][i], abs=PSNR_TOL), (protocol, i)
        assert M.ssim(pred, gt, 8, protocol) == pytest.approx(ref[ssim_key][i], abs=SSIM_TOL), (protocol, i)


def test_mmagic_psnr_float32_vs_float64(ref):
    # our mmagic PSNR is float32 like MMagic; the float64 variant is within a few 1e-6 dB of it
    for i in range(6):
        v = M.psnr(ref["pred"][i], ref["gt"][i])
        assert v == pytest.approx(ref["psnr_rgb_f64"][i], abs=PSNR_TOL)


def test_official_quantisation(ref):
    q = M.quantize(ref["pred"])
    assert q.dtype == np.uint8
    np.testing.assert_array_equal(q, ref["pred_uint8_official"])
    # official protocol gives the same numbers from the float or the pre-quantised prediction
    for i in range(6):
        assert M.psnr(ref["pred"][i], ref["gt"][i], protocol="official") == \
            M.psnr(ref["pred_uint8_official"][i], ref["gt"][i], protocol="official")


def test_official_quirk_psnr_identical_ssim_moves(ref):
    # without the wrap, PSNR on the rounded Y is bit-identical; SSIM differs by ~1e-7..1e-5
    diffs = []
    for i in range(6):
        pred, gt = ref["pred"][i], ref["gt"][i]
        yp = M._y_official(M.quantize(pred))[8:-8, 8:-8].astype(np.float64)
        yg = M._y_official(gt)[8:-8, 8:-8].astype(np.float64)
        mse = np.mean((yp - yg) ** 2)
        assert 20 * math.log10(255 / math.sqrt(mse)) == M.psnr(pred, gt, protocol="official")
        diffs.append(abs(M._ssim_channel(yp, yg) - M.ssim(pred, gt, protocol="official")))
    assert 1e-6 < max(diffs) < 1e-4  # larger than the SSIM tolerance: the quirk must be reproduced


def test_per_step_metrics(ref):
    gt = ref["gt"][:2]
    steps = [ref["pred"][:2], ref["gt"][:2].astype(np.float32) + 1.0]
    out = M.per_step_metrics(steps, gt, protocol="mmagic")
    assert out["psnr"][0] == pytest.approx(np.mean(ref["psnr_rgb"][:2]), abs=PSNR_TOL)
    assert out["ssim"][0] == pytest.approx(np.mean(ref["ssim_rgb"][:2]), abs=SSIM_TOL)
    assert out["psnr"][1] == pytest.approx(20 * math.log10(255), abs=1e-4)  # MSE = 1


# ---------------------------------------------------------------------------------------------- by hand
def test_psnr_known_mse():
    gt = np.full((32, 32, 3), 100, np.uint8)
    pred = gt.astype(np.float64) + 5.0  # MSE = 25
    expected = 20 * math.log10(255 / 5)
    for protocol in ("mmagic", "y"):
        # Y of a grey offset by 5 moves by 5 * (65.481 + 128.553 + 24.966) / 255 = 5 * 219/255
        exp = expected if protocol == "mmagic" else 20 * math.log10(255 / (5 * 219 / 255))
        assert M.psnr(pred, gt, 4, protocol) == pytest.approx(exp, abs=1e-4)


def test_identical_images():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 40, 3)).astype(np.uint8)
    for protocol in M.PROTOCOLS:
        assert M.psnr(img, img, protocol=protocol) == math.inf
        assert M.ssim(img, img, protocol=protocol) == pytest.approx(1.0, abs=1e-12)


def test_crop_border_effect():
    gt = np.zeros((40, 40, 3), np.uint8)
    pred = gt.astype(np.float32).copy()
    pred[:8] = 255.0  # error only in the top 8 rows
    assert M.psnr(pred, gt, crop_border=8) == math.inf
    assert M.ssim(pred, gt, crop_border=8) == pytest.approx(1.0)
    # without cropping MSE = 255^2 * 8/40 -> PSNR = -10 log10(0.2)
    assert M.psnr(pred, gt, crop_border=0) == pytest.approx(-10 * math.log10(0.2), abs=1e-4)
    assert M.ssim(pred, gt, crop_border=0) < 0.9


def test_gaussian_window_and_filter_match_cv2():
    cv2 = pytest.importorskip("cv2")
    g = M.gaussian_window()
    np.testing.assert_allclose(g, cv2.getGaussianKernel(11, 1.5).ravel(), rtol=0, atol=1e-15)
    x = np.random.default_rng(1).random((30, 27)) * 255
    ref = cv2.filter2D(x, -1, np.outer(g, g))[5:-5, 5:-5]
    np.testing.assert_allclose(M._filter_valid(x, g), ref, rtol=0, atol=1e-9)


def test_uint8_and_float_inputs_agree():
    rng = np.random.default_rng(2)
    gt = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    pred = np.clip(gt + rng.normal(0, 10, gt.shape), 0, 255).round().astype(np.uint8)
    for protocol in M.PROTOCOLS:
        assert M.psnr(pred, gt, 4, protocol) == pytest.approx(M.psnr(pred.astype(np.float64), gt, 4, protocol))
        assert M.ssim(pred, gt, 4, protocol) == pytest.approx(M.ssim(pred.astype(np.float32), gt, 4, protocol))


# ---------------------------------------------------------------------------------------------- NME
def _face_points():
    rng = np.random.default_rng(3)
    pts = rng.uniform(20, 100, (68, 2))
    pts[36] = (40.0, 60.0)
    pts[45] = (90.0, 60.0)  # IOD = 50
    return pts


def test_nme_shift():
    gt = _face_points()
    assert M.nme(gt + np.array([3.0, 4.0]), gt) == pytest.approx(5.0 / 50.0)  # |d| = 5
    assert M.nme(gt, gt) == 0.0


def test_nme_batch_and_mean():
    gt = np.stack([_face_points(), _face_points() * 2])  # IODs 50 and 100
    pred = gt + np.array([0.0, 10.0])
    per = M.nme(pred, gt)
    assert isinstance(per, np.ndarray) and per.shape == (2,)
    np.testing.assert_allclose(per, [0.2, 0.1])
    assert M.mean_nme(pred, gt) == pytest.approx(0.15)
    assert M.nme(torch.from_numpy(pred), torch.from_numpy(gt)) == pytest.approx(per)


def test_mean_shape_nme_is_the_nme_of_one_shape_for_every_face():
    base = _face_points()
    gt = np.stack([base + np.array([4.0, 0.0]), base - np.array([4.0, 0.0])])  # IOD 50, mean shape = base
    np.testing.assert_allclose(M.mean_shape_nme(gt), [4.0 / 50.0, 4.0 / 50.0])
    np.testing.assert_allclose(M.mean_shape_nme(gt, shape=gt[0]), [0.0, 8.0 / 50.0])
    with pytest.raises(ValueError, match="gt_points"):
        M.mean_shape_nme(base)
    with pytest.raises(ValueError, match="shape"):
        M.mean_shape_nme(gt, shape=base[:5])


def test_nme_single_point_error():
    gt = _face_points()
    pred = gt.copy()
    pred[0] += (0.0, 68.0)  # one point off by 68 -> mean error 1
    assert M.nme(pred, gt) == pytest.approx(1.0 / 50.0)


# ---------------------------------------------------------------------------------------------- errors
def test_bad_inputs():
    img = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="shape mismatch"):
        M.psnr(img, np.zeros((32, 30, 3), np.uint8))
    with pytest.raises(ValueError, match="pred"):
        M.psnr(np.zeros((32, 32)), img)
    with pytest.raises(ValueError, match="gt"):
        M.ssim(img, np.zeros((32, 32, 4)))
    with pytest.raises(ValueError, match="crop_border"):
        M.psnr(img, img, crop_border=16)
    with pytest.raises(ValueError, match="crop_border"):
        M.ssim(img, img, crop_border=11)  # 10 x 10 left < the 11 x 11 window
    with pytest.raises(ValueError, match="crop_border"):
        M.psnr(img, img, crop_border=-1)
    with pytest.raises(ValueError, match="protocol.*mmagic.*official.*y"):
        M.psnr(img, img, protocol="matlab")
    with pytest.raises(ValueError, match="pred_points"):
        M.nme(np.zeros((5, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="gt_points"):
        M.nme(np.zeros((68, 2)), np.zeros((68, 2)))  # zero inter-ocular distance
    with pytest.raises(ValueError, match="sr_steps\\[0\\]"):
        M.per_step_metrics([np.zeros((16, 16, 3))], img)


def test_protocol_descriptions():
    assert set(M.PROTOCOLS) == {"mmagic", "y", "official"}
    assert all(isinstance(v, str) and "\n" not in v for v in M.PROTOCOLS.values())
