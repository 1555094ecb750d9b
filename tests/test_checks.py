"""dicmini.checks: every check passes the reference and rejects deliberately broken implementations
(course_conventions §4.5.4). Assertions use ``check.run(obj).passed``; the printed lines are checked
only for their ✓/✗ form and the not-implemented fallback."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dicmini import checks, losses, metrics


# ------------------------------------------------------------------------------------------ core
def test_prints_lines_and_returns_the_students_object(capsys):
    def my_psnr(pred, gt, crop_border=8):
        return metrics.psnr(pred, gt, crop_border, "mmagic")

    assert checks.check_psnr(my_psnr) is my_psnr
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.startswith("✓ ") for line in lines)


def test_failure_prints_a_hint_and_still_returns_the_students_object(capsys):
    def my_psnr(pred, gt, crop_border=8):
        return 3.0

    assert checks.check_psnr(my_psnr) is my_psnr
    out = capsys.readouterr().out
    assert "✗ " in out and "hint: " in out


def test_not_implemented_falls_back_to_the_reference(capsys):
    def my_ssim(pred, gt, crop_border=8):
        # YOUR CODE HERE
        raise NotImplementedError()

    report = checks.check_ssim.run(my_ssim)
    assert not report.implemented and not report.passed and report.result is checks.check_ssim.reference
    assert capsys.readouterr().out == ("my_ssim is not implemented yet; using dicmini.metrics.ssim (protocol "
                                       "'mmagic') for the rest of this notebook\n")


def test_output_is_deterministic(capsys):
    def broken(pred, gt, crop_border=8):
        return metrics.psnr(pred, gt, 4, "mmagic")

    checks.check_psnr(broken)
    first = capsys.readouterr().out
    checks.check_psnr(broken)
    assert capsys.readouterr().out == first


def test_exceptions_become_failed_lines():
    def my_psnr(pred, gt, crop_border=8):
        raise ValueError("boom")

    report = checks.check_psnr.run(my_psnr, verbose=False)
    assert report.implemented and not report.passed
    assert all("ValueError: boom" in line.text for line in report.failed)


# ------------------------------------------------------------------------------------------ PSNR
def _psnr_from(mse_fn, peak=255.0, border_fn=lambda b: b):
    def my_psnr(pred, gt, crop_border=8):
        b = border_fn(crop_border)
        p, g = (np.asarray(x, np.float64) for x in (pred, gt))
        if b:
            p, g = p[b:-b, b:-b], g[b:-b, b:-b]
        mse = mse_fn(p, g)
        return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)
    return my_psnr


GOOD_PSNR = _psnr_from(lambda p, g: np.mean((p - g) ** 2))


def _psnr_per_channel(pred, gt, crop_border=8):
    b = crop_border
    p, g = (np.asarray(x, np.float64)[b:-b or None, b:-b or None] for x in (pred, gt))
    with np.errstate(divide="ignore"):
        return float(np.mean([10 * math.log10(255**2 / np.mean((p[..., c] - g[..., c]) ** 2)) for c in range(3)]))


def _psnr_one_side_crop(pred, gt, crop_border=8):
    b = crop_border
    p, g = (np.asarray(x, np.float64)[b:, b:] for x in (pred, gt))
    mse = np.mean((p - g) ** 2)
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


BROKEN_PSNR = {
    "peak 1 instead of 255": _psnr_from(lambda p, g: np.mean((p - g) ** 2), peak=1.0),
    "wrong crop border (4)": _psnr_from(lambda p, g: np.mean((p - g) ** 2), border_fn=lambda b: b // 2),
    "no crop": _psnr_from(lambda p, g: np.mean((p - g) ** 2), border_fn=lambda b: 0),
    "crop on top/left only": _psnr_one_side_crop,
    "RMSE in place of MSE": _psnr_from(lambda p, g: np.sqrt(np.mean((p - g) ** 2))),
    "PSNR per channel, averaged": _psnr_per_channel,
    "green channel only": _psnr_from(lambda p, g: np.mean((p[..., 1] - g[..., 1]) ** 2)),
}


def test_psnr_reference_and_good_implementation_pass():
    assert checks.check_psnr.run(checks.check_psnr.reference, verbose=False).passed
    assert checks.check_psnr.run(GOOD_PSNR, verbose=False).passed


@pytest.mark.parametrize("name", sorted(BROKEN_PSNR))
def test_psnr_rejects(name):
    report = checks.check_psnr.run(BROKEN_PSNR[name], verbose=False)
    assert report.implemented and not report.passed, name


# ------------------------------------------------------------------------------------------ SSIM
def _ssim_from(window="gaussian", sigma=1.5, c1=(0.01 * 255) ** 2, c2=(0.03 * 255) ** 2, gray=False,
               border_fn=lambda b: b):
    def filt(img, w):
        k = w.shape[0]
        h, wd = img.shape[0] - k + 1, img.shape[1] - k + 1
        out = np.zeros((h, wd))
        for i in range(k):
            for j in range(k):
                out += w[i, j] * img[i:i + h, j:j + wd]
        return out

    def one(a, b, w):
        mu1, mu2 = filt(a, w), filt(b, w)
        s11 = filt(a * a, w) - mu1**2
        s22 = filt(b * b, w) - mu2**2
        s12 = filt(a * b, w) - mu1 * mu2
        m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s11 + s22 + c2))
        return float(m.mean())

    def my_ssim(pred, gt, crop_border=8):
        b = border_fn(crop_border)
        p, g = (np.asarray(x, np.float64)[b:x.shape[0] - b, b:x.shape[1] - b] for x in (pred, gt))
        if window == "gaussian":
            x = np.arange(11) - 5.0
            g1 = np.exp(-x**2 / (2 * sigma**2))
            g1 /= g1.sum()
            w = np.outer(g1, g1)
        else:
            w = np.full((11, 11), 1 / 121)
        if gray:
            return one(p.mean(-1), g.mean(-1), w)
        return float(np.mean([one(p[..., c], g[..., c], w) for c in range(3)]))
    return my_ssim


GOOD_SSIM = _ssim_from()
BROKEN_SSIM = {
    "box window": _ssim_from(window="box"),
    "wrong sigma (3.0)": _ssim_from(sigma=3.0),
    "C1 and C2 swapped": _ssim_from(c1=(0.03 * 255) ** 2, c2=(0.01 * 255) ** 2),
    "constants for images in [0, 1]": _ssim_from(c1=0.01**2, c2=0.03**2),
    "on the channel mean (gray)": _ssim_from(gray=True),
    "wrong crop border (0)": _ssim_from(border_fn=lambda b: 0),
}


def test_ssim_reference_and_good_implementation_pass():
    assert checks.check_ssim.run(checks.check_ssim.reference, verbose=False).passed
    assert checks.check_ssim.run(GOOD_SSIM, verbose=False).passed


@pytest.mark.parametrize("name", sorted(BROKEN_SSIM))
def test_ssim_rejects(name):
    report = checks.check_ssim.run(BROKEN_SSIM[name], verbose=False)
    assert report.implemented and not report.passed, name


# ------------------------------------------------------------------------------------------ GAN losses
def _bce(x, target):
    return F.binary_cross_entropy_with_logits(x, torch.full_like(x, target))


def good_d(real_logits, fake_logits):
    return _bce(real_logits, 1.0) + _bce(fake_logits, 0.0)


def good_g(fake_logits, weight=0.005):
    return weight * _bce(fake_logits, 1.0)


BROKEN_D = {
    "labels swapped": lambda real, fake: _bce(real, 0.0) + _bce(fake, 1.0),
    "averaged (1/2)": lambda real, fake: 0.5 * (_bce(real, 1.0) + _bce(fake, 0.0)),
    "sum reduction": lambda real, fake: F.binary_cross_entropy_with_logits(real, torch.ones_like(real), reduction="sum")
    + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake), reduction="sum"),
    "BCE on logits without sigmoid (clamped)": lambda real, fake: F.binary_cross_entropy(
        real.clamp(1e-4, 1 - 1e-4), torch.ones_like(real)) + F.binary_cross_entropy(
        fake.clamp(1e-4, 1 - 1e-4), torch.zeros_like(fake)),
    "generator loss used as D loss (D and G labels swapped)": lambda real, fake: _bce(fake, 1.0) + _bce(real, 0.0),
}
BROKEN_G = {
    "label 0 (D's label for fakes)": lambda fake, weight=0.005: weight * _bce(fake, 0.0),
    "weight ignored": lambda fake, weight=0.005: _bce(fake, 1.0),
    "default weight 1": lambda fake, weight=1.0: weight * _bce(fake, 1.0),
    "minimax form log(1 - D)": lambda fake, weight=0.005: -weight * _bce(fake, 0.0),
    "per-element loss, not reduced": lambda fake, weight=0.005: weight * F.binary_cross_entropy_with_logits(
        fake, torch.ones_like(fake), reduction="none"),
}


def test_gan_references_and_good_implementations_pass():
    rd, rg = checks.check_gan_losses.run(losses.gan_discriminator_loss, losses.gan_generator_loss, verbose=False)
    assert rd.passed and rg.passed
    rd, rg = checks.check_gan_losses.run(good_d, good_g, verbose=False)
    assert rd.passed and rg.passed


@pytest.mark.parametrize("name", sorted(BROKEN_D))
def test_discriminator_loss_rejects(name):
    report = checks.check_discriminator_loss.run(BROKEN_D[name], verbose=False)
    assert report.implemented and not report.passed, name


@pytest.mark.parametrize("name", sorted(BROKEN_G))
def test_generator_loss_rejects(name):
    report = checks.check_generator_loss.run(BROKEN_G[name], verbose=False)
    assert report.implemented and not report.passed, name


def test_gan_pair_returns_students_functions_or_references(capsys):
    def my_discriminator_loss(real_logits, fake_logits):
        raise NotImplementedError()

    d, g = checks.check_gan_losses(my_discriminator_loss, good_g)
    assert d is losses.gan_discriminator_loss and g is good_g
    out = capsys.readouterr().out
    assert out.startswith("my_discriminator_loss is not implemented yet; using dicmini.losses.gan_discriminator_loss")
