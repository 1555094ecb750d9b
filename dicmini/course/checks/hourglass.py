"""Checks for notebook 03: the bottleneck residual block, the recursive hourglass and the feedback
hourglass landmark estimator (paper §3, Fig. 2;
docs/reference_implementations.md, Feedback hourglass and Parameter counts)."""

from __future__ import annotations

import torch
from torch import nn

from ...models import FeedbackHourglass, Hourglass, ResBlock
from ._core import Check, Outcome, Property
from ._modules import agreement, count, gradients_reach_every_parameter, max_difference, parameter_count

__all__ = ["check_res_block", "check_hourglass", "check_feedback_hourglass"]


def _randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------ ResBlock
#: ResBlock(cin, cout) parameter counts of the references (docs/reference_implementations.md, Parameter counts)
RES_BLOCK_SPEC = {(64, 128): 57_728, (128, 128): 53_504, (128, 256): 230_144}


def _rb_shape(cls) -> Outcome:
    got = [tuple(cls(a, b)(_randn(2, a, 8, 8)).shape) for a, b in [(16, 32), (32, 32)]]
    return Outcome(got == [(2, 32, 8, 8), (2, 32, 8, 8)], "[B, C_in, h, w] -> [B, C_out, h, w]",
                   f"got {got}: the bottleneck ends with a 1x1 conv to out_channels")


def _rb_params(cls) -> Outcome:
    bad = [f"ResBlock({a}, {b}): {count(cls(a, b)):,} (expected {n:,})" for (a, b), n in RES_BLOCK_SPEC.items()
           if count(cls(a, b)) != n]
    return Outcome(not bad, "parameter counts of ResBlock(64, 128), (128, 128), (128, 256) match the reference "
                   "implementations",
                   (bad[0] if bad else "") + ": 1x1 to out/2, 3x3, 1x1 to out, and a 1x1 skip conv only when "
                   "in_channels != out_channels")


def _rb_relu(cls) -> Outcome:
    block = cls(8, 8)
    relus = sum(isinstance(m, nn.ReLU) for m in block.modules())
    x = -_randn(1, 8, 4, 4).abs() * 10                # strongly negative input
    with torch.no_grad():
        for p in block.parameters():
            p.zero_()
        out = block(x)                                  # = x through the identity skip when all weights are 0
    negative_passes = bool((out < 0).any())
    ok = relus == 1 and negative_passes
    return Outcome(ok, "a single ReLU, after the first 1x1 conv (none after the 3x3, the last conv or the sum)",
                   f"{relus} nn.ReLU module(s); with zero weights a negative input "
                   f"{'passes' if negative_passes else 'does not pass'} through the block — the identity skip "
                   "must not be followed by a ReLU")


check_res_block = Check(
    "ResBlock",
    [Property("shape", _rb_shape), Property("parameters", _rb_params), Property("ReLU", _rb_relu),
     Property("agreement", lambda cls: agreement(
         [("64 -> 128", lambda: cls(64, 128), lambda: ResBlock(64, 128), (_randn(2, 64, 8, 8),)),
          ("16 -> 16", lambda: cls(16, 16), lambda: ResBlock(16, 16), (_randn(2, 16, 8, 8, seed=1),))],
         "dicmini.models.ResBlock", "skip(x) + conv_block(x), with conv_block = 1x1, ReLU, 3x3 (padding 1), 1x1"),
         requires=("parameters",))],
    ResBlock, "dicmini.models.ResBlock",
    doc="Check ``MyResBlock(in_channels, out_channels)`` (notebook 03).")


# ------------------------------------------------------------------------------------------ Hourglass
def _hg_shape(cls) -> Outcome:
    got = [tuple(cls(d, 8)(_randn(2, 8, n, n)).shape) for d, n in [(4, 32), (4, 16), (1, 6)]]
    want = [(2, 8, 32, 32), (2, 8, 16, 16), (2, 8, 6, 6)]
    return Outcome(got == want, "keeps the input shape (depth 4 on 32x32 and 16x16, depth 1 on 6x6)",
                   f"got {got}: pool by 2, recurse, upsample by 2, add the same-scale skip up1(x)")


def _hg_params(cls) -> Outcome:
    return parameter_count(lambda: cls(4, 32), lambda: Hourglass(4, 32), "Hourglass(4, 32)",
                           "3 ResBlocks per level (up1, low1, low3) + one innermost low2: 13 for depth 4")


def _hg_depth(cls) -> Outcome:
    seen: list[int] = []
    model = cls(4, 8)
    x = _randn(1, 8, 32, 32)

    def hook(module, inputs, output):
        if isinstance(output, torch.Tensor):
            seen.append(output.shape[-1])

    handles = [m.register_forward_hook(hook) for m in model.modules() if m is not model]
    try:
        model(x)
    finally:
        for h in handles:
            h.remove()
    ok = min(seen, default=32) == 2
    return Outcome(ok, "depth 4 on 32x32 reaches 2x2 (32 -> 16 -> 8 -> 4 -> 2)",
                   f"the smallest feature map is {min(seen, default=32)}x{min(seen, default=32)}: "
                   "low2 is a Hourglass(depth - 1) while depth > 1")


def _hg_grad(cls) -> Outcome:
    torch.manual_seed(0)
    model = cls(2, 4)
    return gradients_reach_every_parameter(model, model(_randn(1, 4, 8, 8)).square().mean())


check_hourglass = Check(
    "Hourglass",
    [Property("shape", _hg_shape), Property("parameters", _hg_params), Property("depth", _hg_depth),
     Property("gradients", _hg_grad),
     Property("agreement", lambda cls: agreement(
         [("depth 4, 8 channels", lambda: cls(4, 8), lambda: Hourglass(4, 8), (_randn(2, 8, 32, 32),)),
          ("depth 1, 4 channels", lambda: cls(1, 4), lambda: Hourglass(1, 4), (_randn(1, 4, 6, 6, seed=1),))],
         "dicmini.models.Hourglass",
         "upsample with F.interpolate(scale_factor=2, mode='bilinear', align_corners=True) and add up1(x)"),
         requires=("parameters",))],
    Hourglass, "dicmini.models.Hourglass",
    doc="Check ``MyHourglass(depth, channels)`` (notebook 03).")


# ------------------------------------------------------------------------------------------ FeedbackHourglass
def _image(seed: int = 0, size: int = 64) -> torch.Tensor:
    return _randn(2, 3, size, size, seed=seed) * 0.3


def _fh_shape(cls) -> Outcome:
    model = cls(16, 68)
    heat, hidden = model(_image())
    heat2, hidden2 = model(_image(), hidden)
    got = [tuple(heat.shape), tuple(hidden.shape), tuple(heat2.shape), tuple(hidden2.shape)]
    want = [(2, 68, 16, 16), (2, 16, 16, 16)] * 2
    return Outcome(got == want, "image [B, 3, H, W] -> heatmaps [B, 68, H/4, W/4] and hidden state [B, M, H/4, W/4]",
                   f"got {got[:2]} (M = 16): the first M hourglass channels make the heatmaps, the other M are "
                   "the hidden state")


def _fh_first_step(cls) -> Outcome:
    torch.manual_seed(0)
    model = cls(16, 68).eval()
    img = _image(1)
    with torch.no_grad():
        a = model(img)[0]
        b = model(img, model.pre_conv_block(img))[0]
    ok = max_difference(a, b) < 1e-5
    return Outcome(ok, "without a hidden state, the stem feature is concatenated with itself",
                   "model(img) differs from model(img, model.pre_conv_block(img)): at the first step use "
                   "torch.cat([feature, feature])")


def _fh_hidden(cls) -> Outcome:
    torch.manual_seed(0)
    model = cls(16, 68).eval()
    img = _image(2)
    with torch.no_grad():
        h0, s0 = model(img)
        h1, _ = model(img, s0 + 1.0)
    ok = max_difference(h0, h1) > 1e-6
    return Outcome(ok, "the hidden state changes the heatmaps of the same image",
                   "the heatmaps ignore `hidden`: concatenate it with the stem feature before first_conv")


def _fh_grad(cls) -> Outcome:
    torch.manual_seed(0)
    model = cls(8, 68)
    img = _image(3)
    state = _randn(2, 8, 16, 16, seed=4).requires_grad_()
    heat, _ = model(img, state)
    return gradients_reach_every_parameter(model, heat.square().mean(), " from the heatmaps, and the hidden state",
                                           state, "no gradient reaches the incoming hidden state")


check_feedback_hourglass = Check(
    "FeedbackHourglass",
    [Property("shapes", _fh_shape),
     Property("parameters", lambda cls: parameter_count(lambda: cls(32, 68), lambda: FeedbackHourglass(32, 68),
                                                        "FeedbackHourglass(32, 68)")),
     Property("first step", _fh_first_step), Property("hidden state", _fh_hidden), Property("gradients", _fh_grad),
     Property("agreement", lambda cls: agreement(
         [("M=16, no hidden state", lambda: cls(16, 68), lambda: FeedbackHourglass(16, 68), (_image(5),)),
          ("M=16, with a hidden state", lambda: cls(16, 68), lambda: FeedbackHourglass(16, 68),
           (_image(6), _randn(2, 16, 16, 16, seed=7)))],
         "dicmini.models.FeedbackHourglass",
         "heatmaps = last(hg_out[:, :M]), hidden = hg_out[:, M:]"), requires=("parameters",))],
    FeedbackHourglass, "dicmini.models.FeedbackHourglass",
    doc="Check ``MyFeedbackHourglass(mid_channels, num_keypoints)`` (notebook 03).")
