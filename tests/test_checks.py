"""dicmini.course.checks: every check passes the reference and rejects deliberately broken implementations
(course_conventions §4.5.4). Assertions use ``check.run(obj).passed``; the printed lines are checked
only for their ✓/✗ form and the not-implemented fallback."""

from __future__ import annotations

import linecache
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dicmini import losses, metrics
from dicmini.course import checks
from dicmini.data import landmarks
from dicmini.data.landmarks import COMPONENT_RANGES, merge_to_components
from dicmini.models import (AttentiveFusion, DICNet, FeedbackBlock, FeedbackHourglass, GroupResBlock, Hourglass,
                            ResBlock, down_projection, up_projection)
from dicmini.models.dic import DICOutput


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


# ------------------------------------------------------------------------------------------ after a check
def test_expect_prints_a_line_and_returns_the_condition(capsys):
    assert checks.expect(1 + 1 == 2, "one plus one is two") is True
    assert checks.expect(torch.tensor(0.0) > 1, "zero is above one", "it is not") is False
    assert capsys.readouterr().out == "✓ one plus one is two\n✗ zero is above one\n    hint: it is not\n"


def test_confirm_prints_a_tick_when_the_block_completes(capsys):
    with checks.confirm("identical to dicmini.models.ResBlock"):
        print("inside")
    assert capsys.readouterr().out == "inside\n✓ identical to dicmini.models.ResBlock\n"


CELL = """reached = []
with checks.confirm("the same tensors"):
    torch.testing.assert_close(torch.zeros(4), torch.tensor([0.0, 0.0, 0.5, 0.0]), rtol=0, atol=0)
    reached.append("after the failure")
with checks.confirm("the shapes agree"):
    assert (2, 3) == (2, 4), "got (2, 3), expected (2, 4)"
with checks.confirm("a bare assert"):
    assert len([1, 2]) == 3
with checks.confirm("a module that raises"):
    ResBlock(4, 8)(torch.zeros(1, 5, 3, 3))
reached.append("after the blocks")
"""


def test_confirm_reports_what_went_wrong_and_goes_on(capsys):
    # run as a notebook cell is: compiled from a string whose lines linecache knows (and that pytest does not
    # rewrite, so that the asserts carry their own messages only)
    name = "<notebook cell>"
    linecache.cache[name] = (len(CELL), None, CELL.splitlines(True), name)
    scope = {"checks": checks, "torch": torch, "ResBlock": ResBlock}
    exec(compile(CELL, name, "exec"), scope)
    lines = capsys.readouterr().out.splitlines()
    assert scope["reached"] == ["after the blocks"]
    assert lines[:4] == ["✗ the same tensors", "    hint: AssertionError: Tensor-likes are not equal!",
                         "          Mismatched elements: 1 / 4 (25.0%)",
                         "          Greatest absolute difference: 0.5 at index (2,)"]
    assert lines[4] == ("          raised by `torch.testing.assert_close(torch.zeros(4), torch.tensor([0.0, 0.0, 0.5, "
                        "0.0]), rtol=0, atol=0)` (in <module>)")
    assert lines[5:9] == ["✗ the shapes agree", "    hint: got (2, 3), expected (2, 4)",
                          "✗ a bare assert", "    hint: `assert len([1, 2]) == 3` does not hold"]
    assert lines[9] == "✗ a module that raises"
    assert lines[10].startswith("    hint: RuntimeError: Given groups=1")
    assert lines[11] == ("          raised inside skip_layer (Conv2d(4, 8, kernel_size=(1, 1), stride=(1, 1))), called "
                         "by `ResBlock(4, 8)(torch.zeros(1, 5, 3, 3))` (in <module>)")
    assert len(lines) == 12


def test_confirm_lets_an_interrupt_through():
    with pytest.raises(KeyboardInterrupt):
        with checks.confirm("never printed"):
            raise KeyboardInterrupt


def _wrong_psnr(pred, gt, crop_border=8):
    return 3.0


def test_usable_keeps_what_passed_and_replaces_what_failed(capsys):
    def my_psnr(pred, gt, crop_border=8):
        return metrics.psnr(pred, gt, crop_border, "mmagic")

    assert checks.check_psnr(my_psnr) is my_psnr and checks.check_psnr(_wrong_psnr) is _wrong_psnr
    capsys.readouterr()
    assert checks.usable(my_psnr) is my_psnr and capsys.readouterr().out == ""
    report = checks.last_report(_wrong_psnr)
    assert report is not None and not report.passed
    assert checks.usable(_wrong_psnr) is checks.check_psnr.reference
    out = capsys.readouterr().out
    assert out.startswith(f"✗ _wrong_psnr did not pass its check ({len(report.failed)} of {len(report.lines)} tests "
                          "failed): the rest of this notebook uses dicmini.metrics.psnr")
    assert "\n    hint: fix it, then re-run its cell, its check and the cells after\n" in out


def test_usable_is_silent_for_unfinished_and_unchecked_code(capsys):
    def my_ssim(pred, gt, crop_border=8):
        # YOUR CODE HERE
        raise NotImplementedError()

    def never_checked(x):
        return x

    checks.check_ssim.run(my_ssim, verbose=False)
    assert checks.usable(my_ssim) is checks.check_ssim.reference
    assert checks.usable(never_checked) is never_checked and checks.last_report(never_checked) is None
    assert capsys.readouterr().out == ""


def test_usable_follows_the_last_check_of_each_object(capsys):
    class MyResBlock(ResBlock):          # wrong: a ReLU after the sum
        def forward(self, x):
            return torch.relu(super().forward(x))

    checks.check_res_block.run(MyResBlock, verbose=False)
    assert checks.usable(MyResBlock) is ResBlock

    class MyResBlock(ResBlock):          # noqa: F811 - fixed, and checked again as a student would
        pass

    checks.check_res_block.run(MyResBlock, verbose=False)
    assert checks.usable(MyResBlock) is MyResBlock
    d, g = checks.check_gan_losses(losses.gan_discriminator_loss, lambda fake, weight=0.005: fake.sum())
    assert checks.usable(d) is d and checks.usable(g) is checks.check_generator_loss.reference
    assert capsys.readouterr().out.count("did not pass its check") == 2


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
    "labels swapped (real -> 0, fake -> 1)": lambda real, fake: _bce(real, 0.0) + _bce(fake, 1.0),
    "averaged (1/2)": lambda real, fake: 0.5 * (_bce(real, 1.0) + _bce(fake, 0.0)),
    "sum reduction": lambda real, fake: F.binary_cross_entropy_with_logits(real, torch.ones_like(real), reduction="sum")
    + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake), reduction="sum"),
    "BCE on logits without sigmoid (clamped)": lambda real, fake: F.binary_cross_entropy(
        real.clamp(1e-4, 1 - 1e-4), torch.ones_like(real)) + F.binary_cross_entropy(
        fake.clamp(1e-4, 1 - 1e-4), torch.zeros_like(fake)),
    "real term only (fake term forgotten)": lambda real, fake: _bce(real, 1.0),
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


# ================================================================================ part I (notebooks 01-05)


def _assert_rejects(check, obj, name):
    report = check.run(obj, verbose=False)
    assert report.implemented, name
    assert not report.passed, f"{name}: accepted by {check.name}"
    assert report.failed and all(line.hint for line in report.failed), f"{name}: a ✗ line without a hint"


# ------------------------------------------------------------------------------------------ heatmaps (01)
def _heatmaps(scale=True, swap=False, two=2.0, normalise=False, fixed_size=None, dtype=np.float32):
    def my_landmarks_to_heatmaps(points, image_size=128, heatmap_size=32, sigma=1.0):
        size = fixed_size or heatmap_size
        p = np.asarray(points, np.float64) * ((size / image_size) if scale else 1.0)
        if swap:
            p = p[..., ::-1]
        grid = np.arange(size, dtype=np.float64)
        dx2 = (grid - p[..., 0:1]) ** 2
        dy2 = (grid - p[..., 1:2]) ** 2
        heat = np.exp(-(dy2[..., :, None] + dx2[..., None, :]) / (two * sigma**2))
        if normalise:
            heat = heat / heat.sum(axis=(-2, -1), keepdims=True)
        return heat.astype(dtype)
    return my_landmarks_to_heatmaps


BROKEN_HEATMAPS = {
    "wrong sigma (exp(-d^2 / sigma^2))": _heatmaps(two=1.0),
    "x and y swapped": _heatmaps(swap=True),
    "points not scaled to the heatmap grid": _heatmaps(scale=False),
    "normalised to sum 1": _heatmaps(normalise=True),
    "grid size hard-coded to 32": _heatmaps(fixed_size=32),
    "float64 output": _heatmaps(dtype=np.float64),
}


def test_heatmaps_good_passes():
    assert checks.check_heatmaps.run(landmarks.landmarks_to_heatmaps, verbose=False).passed
    assert checks.check_heatmaps.run(_heatmaps(), verbose=False).passed


@pytest.mark.parametrize("name", sorted(BROKEN_HEATMAPS))
def test_heatmaps_rejects(name):
    _assert_rejects(checks.check_heatmaps, BROKEN_HEATMAPS[name], name)


# ------------------------------------------------------------------------------------------ merge (01)
def _merge(ranges=COMPONENT_RANGES, clamp=0.05, per_map=True, detach_always=False, normalise=True):
    def my_merge_to_components(heatmaps, detach=False):
        if not normalise:
            peak = torch.ones(1)
        elif per_map:
            peak = heatmaps.amax(dim=(2, 3), keepdim=True)
        else:
            peak = heatmaps.amax(dim=(1, 2, 3), keepdim=True)
        if clamp is not None:
            peak = peak.clamp_min(clamp)
        x = heatmaps / peak
        merged = x if x.size(1) == 5 else torch.stack([x[:, a:b].sum(1) for a, b in ranges], 1)
        return merged.detach() if (detach or detach_always) else merged
    return my_merge_to_components


SWAPPED_EYES = [COMPONENT_RANGES[1], COMPONENT_RANGES[0], *COMPONENT_RANGES[2:]]
NO_BROWS = [*COMPONENT_RANGES[:4], (0, 17)]
BROKEN_MERGE = {
    "eye groups swapped": _merge(ranges=SWAPPED_EYES),
    "face outline without the eyebrows": _merge(ranges=NO_BROWS),
    "no 0.05 clamp": _merge(clamp=None),
    "no normalisation (plain sum)": _merge(normalise=False),
    "one maximum over all 68 maps": _merge(per_map=False),
    "always detached": _merge(detach_always=True),
}


def test_merge_good_passes():
    assert checks.check_merge.run(landmarks.merge_to_components, verbose=False).passed
    assert checks.check_merge.run(_merge(), verbose=False).passed


@pytest.mark.parametrize("name", sorted(BROKEN_MERGE))
def test_merge_rejects(name):
    _assert_rejects(checks.check_merge, BROKEN_MERGE[name], name)


# ------------------------------------------------------------------------------------------ projections (02)
BROKEN_UP = {
    "kernel s, padding 0": lambda c, s: nn.Sequential(nn.ConvTranspose2d(c, c, s, stride=s), nn.PReLU(init=0.2)),
    "no PReLU": lambda c, s: nn.Sequential(nn.ConvTranspose2d(c, c, s + 4, stride=s, padding=2)),
    "PReLU at its default slope 0.25": lambda c, s: nn.Sequential(nn.ConvTranspose2d(c, c, s + 4, stride=s, padding=2),
                                                                  nn.PReLU()),
    "nearest upsampling + conv": lambda c, s: nn.Sequential(nn.Upsample(scale_factor=s), nn.Conv2d(c, c, 5, padding=2),
                                                            nn.PReLU(init=0.2)),
}
BROKEN_DOWN = {
    "transposed convolution": lambda c, s: nn.Sequential(nn.ConvTranspose2d(c, c, s + 4, stride=s, padding=2),
                                                         nn.PReLU(init=0.2)),
    "kernel s + 4, padding 0": lambda c, s: nn.Sequential(nn.Conv2d(c, c, s + 4, stride=s), nn.PReLU(init=0.2)),
    "ReLU in place of PReLU": lambda c, s: nn.Sequential(nn.Conv2d(c, c, s + 4, stride=s, padding=2), nn.ReLU()),
}


def test_projections_good_pass():
    ru, rd = checks.check_projections.run(up_projection, down_projection, verbose=False)
    assert ru.passed and rd.passed


@pytest.mark.parametrize("name", sorted(BROKEN_UP))
def test_up_projection_rejects(name):
    _assert_rejects(checks.check_up_projection, BROKEN_UP[name], name)


@pytest.mark.parametrize("name", sorted(BROKEN_DOWN))
def test_down_projection_rejects(name):
    _assert_rejects(checks.check_down_projection, BROKEN_DOWN[name], name)


# ------------------------------------------------------------------------------------------ feedback block (02)
class _FB(FeedbackBlock):
    """A feedback block written the notebook's way, with switches for typical mistakes."""

    hidden_ignored = swap_transitions = include_l0 = cat_order = residual = False

    def forward(self, x, hidden):
        pair = [x, x] if self.hidden_ignored else ([hidden, x] if self.cat_order else [x, hidden])
        lr_features = [self.compress_in(torch.cat(pair, dim=1))]
        hr_features = []
        lr_t, hr_t = (self.hr_blocks, self.lr_blocks) if self.swap_transitions else (self.lr_blocks, self.hr_blocks)
        for g in range(self.num_blocks):
            lr = torch.cat(lr_features, dim=1)
            if g > 0:
                lr = lr_t[g - 1](lr)
            hr_features.append(self.up_blocks[g](lr))
            hr = torch.cat(hr_features, dim=1)
            if g > 0:
                hr = hr_t[g - 1](hr)
            lr_features.append(self.down_blocks[g](hr))
        out = self.compress_out(torch.cat(lr_features if self.include_l0 else lr_features[1:], dim=1))
        return out + x if self.residual else out


def _fb_variant(**flags):
    return type("MyFeedbackBlock", (_FB,), flags)


BROKEN_FB = {
    "hidden state ignored": _fb_variant(hidden_ignored=True),
    "LR and HR transitions swapped": _fb_variant(swap_transitions=True),
    "L_0 included in compress_out": _fb_variant(include_l0=True),
    "[hidden, x] concatenated in the wrong order": _fb_variant(cat_order=True),
    "extra residual (+ x)": _fb_variant(residual=True),
}


def test_feedback_block_good_passes():
    assert checks.check_feedback_block.run(FeedbackBlock, verbose=False).passed
    assert checks.check_feedback_block.run(_fb_variant(), verbose=False).passed


@pytest.mark.parametrize("name", sorted(BROKEN_FB))
def test_feedback_block_rejects(name):
    _assert_rejects(checks.check_feedback_block, BROKEN_FB[name], name)


# ------------------------------------------------------------------------------------------ hourglass (03)
class _ReluAfterSum(ResBlock):
    def forward(self, x):
        return torch.relu(super().forward(x))


class _ReluEverywhere(ResBlock):
    def __init__(self, cin, cout):
        super().__init__(cin, cout)
        mid = cout // 2
        self.conv_block = nn.Sequential(nn.Conv2d(cin, mid, 1), nn.ReLU(), nn.Conv2d(mid, mid, 3, padding=1),
                                        nn.ReLU(), nn.Conv2d(mid, cout, 1))


class _AlwaysSkipConv(ResBlock):
    def __init__(self, cin, cout):
        super().__init__(cin, cout)
        self.skip_layer = nn.Conv2d(cin, cout, 1)


class _NoResidual(ResBlock):
    def forward(self, x):
        return self.conv_block(x)


BROKEN_RES = {"ReLU after the sum": _ReluAfterSum, "ReLU after every conv": _ReluEverywhere,
              "1x1 skip conv also when in == out": _AlwaysSkipConv, "no residual connection": _NoResidual}


def _hg_variant(mode="bilinear", align=True, recursive=True, skip=True):
    class MyHourglass(Hourglass):
        def __init__(self, depth, channels):
            super().__init__(depth, channels)
            if not recursive:
                self.low2 = ResBlock(channels, channels)

        def forward(self, x):
            low = self.low3(self.low2(self.low1(self.pool(x))))
            kw = {"align_corners": align} if mode == "bilinear" else {}
            up = F.interpolate(low, scale_factor=2, mode=mode, **kw)
            return self.up1(x) + up if skip else up
    return MyHourglass


BROKEN_HG = {
    "nearest-neighbour upsampling": _hg_variant(mode="nearest"),
    "bilinear with align_corners=False": _hg_variant(align=False),
    "not recursive (low2 always a ResBlock)": _hg_variant(recursive=False),
    "no same-scale skip up1(x)": _hg_variant(skip=False),
}


def _fh_variant(hidden_ignored=False, zeros_first=False, wrong_half=False):
    class MyFeedbackHourglass(FeedbackHourglass):
        def forward(self, image, hidden=None):
            feature = self.pre_conv_block(image)
            if hidden is None or hidden_ignored:
                other = torch.zeros_like(feature) if zeros_first else feature
            else:
                other = hidden
            out = self.hg(self.first_conv(torch.cat([feature, other], dim=1)))
            m = self.mid_channels
            heat_part, state = (out[:, m:], out[:, :m]) if wrong_half else (out[:, :m], out[:, m:])
            return self.last(heat_part), state
    return MyFeedbackHourglass


BROKEN_FH = {
    "hidden state ignored": _fh_variant(hidden_ignored=True),
    "zeros in place of the hidden state at step 1": _fh_variant(zeros_first=True),
    "heatmaps from the second half, hidden state from the first": _fh_variant(wrong_half=True),
}


def test_hourglass_good_pass():
    assert checks.check_res_block.run(ResBlock, verbose=False).passed
    assert checks.check_hourglass.run(Hourglass, verbose=False).passed
    assert checks.check_hourglass.run(_hg_variant(), verbose=False).passed
    assert checks.check_feedback_hourglass.run(FeedbackHourglass, verbose=False).passed
    assert checks.check_feedback_hourglass.run(_fh_variant(), verbose=False).passed


@pytest.mark.parametrize("name", sorted(BROKEN_RES))
def test_res_block_rejects(name):
    _assert_rejects(checks.check_res_block, BROKEN_RES[name], name)


@pytest.mark.parametrize("name", sorted(BROKEN_HG))
def test_hourglass_rejects(name):
    _assert_rejects(checks.check_hourglass, BROKEN_HG[name], name)


@pytest.mark.parametrize("name", sorted(BROKEN_FH))
def test_feedback_hourglass_rejects(name):
    _assert_rejects(checks.check_feedback_hourglass, BROKEN_FH[name], name)


# ------------------------------------------------------------------------------------------ fusion (04)
def _gr_variant(groups_one=False, residual=True, act=None, no_bias=()):
    class MyGroupResBlock(GroupResBlock):
        def __init__(self, channels, groups):
            super().__init__(channels, 1 if groups_one else groups)
            if act is not None:
                self.res[1] = act
            for i in no_bias:        # a conv written from a formula that left out the bias
                self.res[i] = nn.Conv2d(channels, channels, 3, padding=1, groups=groups, bias=False)

        def forward(self, x):
            return x + self.res(x) if residual else self.res(x)
    return MyGroupResBlock


BROKEN_GR = {
    "groups=1 (groups mix)": _gr_variant(groups_one=True),
    "no residual": _gr_variant(residual=False),
    "ReLU in place of LeakyReLU(0.2)": _gr_variant(act=nn.ReLU()),
    "second conv without bias": _gr_variant(no_bias=(2,)),
}


def _af_variant(weights="softmax", layout="KC", detach=False, no_act=False, block=None):
    class MyAttentiveFusion(AttentiveFusion):
        def __init__(self, in_channels, num_heatmaps, num_blocks):
            super().__init__(in_channels, num_heatmaps, num_blocks)
            if no_act:               # the 1x1 expansion without its LeakyReLU(0.2)
                self.conv_first = nn.Sequential(self.conv_first[0])
            if block is not None:
                self.body = nn.Sequential(*[block(in_channels * num_heatmaps, num_heatmaps)
                                            for _ in range(num_blocks)])

        def forward(self, feature, attention):
            if detach:
                attention = attention.detach()
            groups = self.body(self.conv_first(feature))
            b, _, h, w = groups.shape
            k, c = self.num_heatmaps, self.in_channels
            if weights == "softmax":
                wts = torch.softmax(attention, dim=1)
            elif weights == "raw":
                wts = attention
            elif weights == "sigmoid":
                wts = torch.sigmoid(attention)
            else:   # softmax over space
                wts = torch.softmax(attention.flatten(2), dim=2).view_as(attention)
            if layout == "KC":
                g = groups.view(b, k, c, h, w)
            else:
                g = groups.view(b, c, k, h, w).transpose(1, 2)
            return (g * wts.unsqueeze(2)).sum(dim=1)
    return MyAttentiveFusion


BROKEN_AF = {
    "attention not softmaxed (raw maps)": _af_variant(weights="raw"),
    "sigmoid in place of softmax": _af_variant(weights="sigmoid"),
    "softmax over space instead of over the 5 maps": _af_variant(weights="spatial"),
    "groups taken as [B, C, 5] (interleaved channels)": _af_variant(layout="CK"),
    "attention detached": _af_variant(detach=True),
    "no LeakyReLU after the first (1x1) conv": _af_variant(no_act=True),
    "grouped blocks whose second conv has no bias": _af_variant(block=_gr_variant(no_bias=(2,))),
}


def test_fusion_good_pass():
    assert checks.check_group_res_block.run(GroupResBlock, verbose=False).passed
    assert checks.check_group_res_block.run(_gr_variant(), verbose=False).passed
    assert checks.check_attentive_fusion.run(AttentiveFusion, verbose=False).passed
    assert checks.check_attentive_fusion.run(_af_variant(), verbose=False).passed


@pytest.mark.parametrize("name", sorted(BROKEN_GR))
def test_group_res_block_rejects(name):
    _assert_rejects(checks.check_group_res_block, BROKEN_GR[name], name)


@pytest.mark.parametrize("name", sorted(BROKEN_AF))
def test_attentive_fusion_rejects(name):
    _assert_rejects(checks.check_attentive_fusion, BROKEN_AF[name], name)


# ------------------------------------------------------------------------------------------ root causes (02, 04)
#: broken implementations whose single ✗ line must name the root cause: (check, variant) -> (label of the one
#: failing test, substrings of its hint)
ROOT_CAUSES = {
    ("check_group_res_block", "second conv without bias"): (
        "GroupResBlock(240, groups=5): 207,840 parameters",
        ["got 207,600 (-240)", "missing res.2.bias [240]", "bias=False",
         "2 × 5 groups × (48·48·3·3 + 48) [res.0, res.2] = 207,840"]),
    ("check_attentive_fusion", "grouped blocks whose second conv has no bias"): (
        "AttentiveFusion(48, 5, 7): 1,466,640 parameters",
        ["missing body.0.res.2.bias [240]", "(7 in all)", "bias=False",
         "(240·48·1·1 + 240) [conv_first.0] + 14 × 5 groups × (48·48·3·3 + 48) [body.*.res.*] = 1,466,640"]),
    ("check_attentive_fusion", "no LeakyReLU after the first (1x1) conv"): (
        "identical to dicmini.models.AttentiveFusion",
        ["the output of the first conv block", "without an activation", "(LeakyReLU 0.2) missing"]),
    ("check_feedback_block", "[hidden, x] concatenated in the wrong order"): (
        "identical to dicmini.models.FeedbackBlock",
        ["compress_in gets torch.cat([hidden, x])", "the order is [x, hidden]"]),
    ("check_feedback_block", "extra residual (+ x)"): (
        "identical to dicmini.models.FeedbackBlock",
        ["compress_out's output agrees with the reference", "returns it + x", "no residual connection"]),
}
BROKEN_BY_CHECK = {"check_group_res_block": BROKEN_GR, "check_attentive_fusion": BROKEN_AF,
                   "check_feedback_block": BROKEN_FB}


@pytest.mark.parametrize("check_name, variant", sorted(ROOT_CAUSES))
def test_hint_names_the_root_cause_once(check_name, variant):
    report = checks.ALL_CHECKS[check_name].run(BROKEN_BY_CHECK[check_name][variant], verbose=False)
    label, phrases = ROOT_CAUSES[(check_name, variant)]
    assert len(report.failed) == 1, report.text()
    (line,) = report.failed
    assert line.text.startswith(label), report.text()
    for phrase in phrases:
        assert phrase in line.hint, (phrase, line.hint)
    assert report.text().count("✗") == 1, report.text()
    # the misleading hints of issue #17 are gone
    assert "view as [B, 5, C, h, w]" not in report.text() and "T^L_g sees" not in report.text()


@pytest.mark.parametrize("check_name, variant", [("check_group_res_block", "second conv without bias"),
                                                 ("check_attentive_fusion",
                                                  "grouped blocks whose second conv has no bias")])
def test_parameter_mismatch_skips_the_tests_that_copy_weights(check_name, variant):
    report = checks.ALL_CHECKS[check_name].run(BROKEN_BY_CHECK[check_name][variant], verbose=False)
    assert report.implemented and not report.passed
    assert [line.text.split(":")[0] for line in report.skipped][-1] == "agreement"
    assert all("not run until the parameters test above passes" in line.text for line in report.skipped)
    assert sum("bias" in line.hint for line in report.lines) == 1
    printed = report.text()
    assert printed.count("✗") == 1 and printed.count("– ") == len(report.skipped)
    # the two-line hint is aligned under its first line
    assert "\n          expected " in printed


def test_repeated_exceptions_are_described_once():
    report = checks.check_feedback_block.run(BROKEN_FB["L_0 included in compress_out"], verbose=False)
    first, *rest = [line for line in report.failed if "RuntimeError" in line.text]
    assert "raised inside compress_out.0" in first.hint and "self.compress_out(" in first.hint
    assert rest and any(line.hint == "the same error as the shape test above" for line in rest)


# ------------------------------------------------------------------------------------------ DIC (05)
def _dic_variant(no_attention=False, hg_reset=False, sr_reset=False, detach=False, no_skip=False,
                 stateful=False, previous_attention=False):
    class MyDIC(DICNet):
        def forward(self, lr):
            skip = F.interpolate(lr, scale_factor=8, mode="bilinear", align_corners=False)
            feature = self.lr_feature(lr)
            sr_steps, heatmap_steps = [], []
            hidden = hg_hidden = heatmaps = None
            if stateful and hasattr(self, "_memory"):
                hg_hidden = self._memory
            older = None
            for step in range(self.num_steps):
                if step == 0:
                    hidden = self.coarse_block(feature)
                else:
                    source = older if previous_attention and older is not None else heatmaps
                    attention = merge_to_components(source, detach=detach)
                    if no_attention:
                        attention = torch.zeros_like(attention)
                    hidden = self.attention_block(feature, attention,
                                                  self.coarse_block(feature) if sr_reset else hidden)
                sr = self.reconstruction(hidden) + (0 if no_skip else skip)
                older = heatmaps
                heatmaps, hg_hidden = self.landmark_estimator(sr, None if hg_reset else hg_hidden)
                sr_steps.append(sr)
                heatmap_steps.append(heatmaps)
            if stateful:
                self._memory = hg_hidden.detach()
            return sr_steps, heatmap_steps
    return MyDIC


BROKEN_DIC = {
    "attention ignored (zeros)": _dic_variant(no_attention=True),
    "hourglass state not carried": _dic_variant(hg_reset=True),
    "SR hidden state not carried": _dic_variant(sr_reset=True),
    "attention detached": _dic_variant(detach=True),
    "no bilinear skip": _dic_variant(no_skip=True),
    "state kept on the module between calls": _dic_variant(stateful=True),
    "attention from two steps back": _dic_variant(previous_attention=True),
}


def test_dic_good_passes():
    assert checks.check_dic.run(DICNet, verbose=False).passed
    assert checks.check_dic.run(_dic_variant(), verbose=False).passed


@pytest.mark.parametrize("name", sorted(BROKEN_DIC))
def test_dic_rejects(name):
    _assert_rejects(checks.check_dic, BROKEN_DIC[name], name)


# ------------------------------------------------------------------------ training step (07), analysis (09b, 10, 11)
def _training_step(last_only=False, no_zero_grad=False, ignore_weight=False, mean_over_steps=False):
    def my_training_step(model, optimizer, batch, align_weight):
        out = model(batch["lr"])
        srs, heats = (out.sr[-1:], out.heatmaps[-1:]) if last_only else (out.sr, out.heatmaps)
        w = 1.0 if ignore_weight else align_weight
        pixel = sum(F.l1_loss(sr, batch["hr"]) for sr in srs)
        align = sum(w * F.mse_loss(h, batch["heatmaps"]) for h in heats)
        loss = (pixel + align) / (len(srs) if mean_over_steps else 1)
        if not no_zero_grad:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()
    return my_training_step


BROKEN_STEP = {
    "loss of the last step only": _training_step(last_only=True),
    "no zero_grad (gradients accumulate)": _training_step(no_zero_grad=True),
    "alignment weight ignored": _training_step(ignore_weight=True),
    "mean over steps instead of the sum": _training_step(mean_over_steps=True),
}


def _motion(kind="good"):
    def my_landmark_motion(points):
        p = np.asarray(points, dtype=np.float64)
        if kind == "from first step":
            return np.linalg.norm(p[1:] - p[:1], axis=-1).mean(axis=-1)
        d = p[1:] - p[:-1]
        if kind == "squared distance":
            return (d ** 2).sum(-1).mean(-1)
        if kind == "L1 distance":
            return np.abs(d).sum(-1).mean(-1)
        if kind == "mean over faces too":
            return np.linalg.norm(d, axis=-1).mean(axis=(-1, -2))
        return np.linalg.norm(d, axis=-1).mean(axis=-1)
    return my_landmark_motion


BROKEN_MOTION = {k: _motion(k) for k in ("from first step", "squared distance", "L1 distance", "mean over faces too")}


def _effect(kind="good"):
    def my_effect_vs_noise(a, b):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        d = (b.mean() - a.mean()) if kind == "b minus a" else (a.mean() - b.mean())
        if len(a) < 2 or len(b) < 2:
            return float(d), (0.0 if kind == "zero instead of nan" else math.nan)
        ddof = 0 if kind == "population std (n)" else 1
        if kind == "std, not standard error":
            return float(d), float(math.sqrt(a.var(ddof=1) + b.var(ddof=1)))
        return float(d), float(math.sqrt(a.var(ddof=ddof) / len(a) + b.var(ddof=ddof) / len(b)))
    return my_effect_vs_noise


BROKEN_EFFECT = {k: _effect(k) for k in ("b minus a", "zero instead of nan", "population std (n)",
                                         "std, not standard error")}


def _paired(kind="good"):
    def my_paired(a, b):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        d = a - b if kind == "a minus b" else b - a
        frac = float(np.mean(d >= 0)) if kind == "ties counted as better" else float(np.mean(d > 0))
        if len(d) < 2:
            return float(d.mean()), (0.0 if kind == "zero instead of nan" else math.nan), frac
        if kind == "unpaired standard error":
            se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
        elif kind == "std, not standard error":
            se = d.std(ddof=1)
        else:
            se = d.std(ddof=0 if kind == "population std (n)" else 1) / math.sqrt(len(d))
        return float(d.mean()), float(se), frac
    return my_paired


BROKEN_PAIRED = {k: _paired(k) for k in ("a minus b", "ties counted as better", "zero instead of nan",
                                         "unpaired standard error", "std, not standard error",
                                         "population std (n)")}


def test_training_and_analysis_good_pass():
    assert checks.check_training_step.run(_training_step(), verbose=False).passed
    assert checks.check_landmark_motion.run(_motion(), verbose=False).passed
    assert checks.check_effect_vs_noise.run(_effect(), verbose=False).passed
    assert checks.check_paired.run(_paired(), verbose=False).passed
    assert checks.check_paired.run(checks.analysis.reference_paired, verbose=False).passed


@pytest.mark.parametrize("name", sorted(BROKEN_STEP))
def test_training_step_rejects(name):
    _assert_rejects(checks.check_training_step, BROKEN_STEP[name], name)


@pytest.mark.parametrize("name", sorted(BROKEN_MOTION))
def test_landmark_motion_rejects(name):
    _assert_rejects(checks.check_landmark_motion, BROKEN_MOTION[name], name)


@pytest.mark.parametrize("name", sorted(BROKEN_EFFECT))
def test_effect_vs_noise_rejects(name):
    _assert_rejects(checks.check_effect_vs_noise, BROKEN_EFFECT[name], name)


@pytest.mark.parametrize("name", sorted(BROKEN_PAIRED))
def test_paired_rejects(name):
    _assert_rejects(checks.check_paired, BROKEN_PAIRED[name], name)


def test_every_check_is_exercised_by_broken_variants():
    broken = {"check_heatmaps": BROKEN_HEATMAPS, "check_merge": BROKEN_MERGE, "check_projections": BROKEN_UP,
              "check_feedback_block": BROKEN_FB, "check_res_block": BROKEN_RES, "check_hourglass": BROKEN_HG,
              "check_feedback_hourglass": BROKEN_FH, "check_group_res_block": BROKEN_GR,
              "check_attentive_fusion": BROKEN_AF, "check_dic": BROKEN_DIC, "check_gan_losses": BROKEN_D,
              "check_psnr": BROKEN_PSNR, "check_ssim": BROKEN_SSIM, "check_training_step": BROKEN_STEP,
              "check_landmark_motion": BROKEN_MOTION, "check_effect_vs_noise": BROKEN_EFFECT,
              "check_paired": BROKEN_PAIRED}
    assert set(broken) == set(checks.ALL_CHECKS)
    assert all(len(v) >= 2 for v in broken.values()) and len(BROKEN_DOWN) >= 2 and len(BROKEN_G) >= 2


def test_fallback_returns_the_reference_class(capsys):
    class MyDIC(DICNet):
        def forward(self, lr):
            # YOUR CODE HERE
            raise NotImplementedError()

    assert checks.check_dic(MyDIC) is DICNet
    assert capsys.readouterr().out == ("MyDIC is not implemented yet; using dicmini.models.DICNet for the rest "
                                       "of this notebook\n")
    assert isinstance(DICNet(**checks.dic.SMALL_CONFIG)(torch.zeros(1, 3, 16, 16)), DICOutput)


# ------------------------------------------------------------------ usable: the reference stands in after a failure
def test_failed_training_step_is_replaced_by_the_reference_with_a_line_saying_so(capsys):
    wrong = BROKEN_STEP["loss of the last step only"]
    report = checks.check_training_step.run(wrong)
    assert report.implemented and not report.passed and report.result is wrong      # the check returns it ...
    capsys.readouterr()
    assert checks.usable(wrong) is checks.check_training_step.reference  # ... the lesson trains with this
    line = capsys.readouterr().out.strip()
    assert line.startswith("✗ my_training_step did not pass its check") and "reference_training_step" in line


def test_training_step_that_raises_or_returns_nothing_is_replaced():
    def my_training_step(model, optimizer, batch, align_weight):
        model(batch["lr"])        # forgets the loss and the update

    report = checks.check_training_step.run(my_training_step, verbose=False)
    assert report.failed and checks.usable(my_training_step) is checks.check_training_step.reference


def test_passing_or_unfinished_training_step_is_usable_or_the_reference(capsys):
    good = _training_step()
    report = checks.check_training_step.run(good)
    assert report.passed and report.result is good and checks.usable(good) is good
    assert "✗" not in capsys.readouterr().out

    def unfinished(model, optimizer, batch, align_weight):
        raise NotImplementedError()

    report = checks.check_training_step.run(unfinished)
    assert not report.implemented and report.result is checks.check_training_step.reference
    assert checks.usable(unfinished) is checks.check_training_step.reference
