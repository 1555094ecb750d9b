"""Checks for notebook 02: the projection units and the SRFBN feedback block (paper §3.1, Fig. 2;
docs/reference_implementations.md, Feedback blocks)."""

from __future__ import annotations

import torch
from torch import nn

from ...models import FeedbackBlock, down_projection, up_projection
from ._core import Check, CheckPair, Outcome, Property
from ._modules import agreement, gradients_reach_every_parameter, parameter_count

__all__ = ["check_projections", "check_up_projection", "check_down_projection", "check_feedback_block"]


# ------------------------------------------------------------------------------------------ projections
def _proj_shapes(fn, up: bool) -> Outcome:
    bad = []
    for s in (2, 3, 4, 8):
        for n in (5, 8):
            unit = fn(2, s)
            x = torch.zeros(1, 2, n, n) if up else torch.zeros(1, 2, n * s, n * s)
            got = tuple(unit(x).shape[-2:])
            want = (n * s, n * s) if up else (n, n)
            if got != want:
                bad.append(f"s={s}, {tuple(x.shape[-2:])} -> {got} (expected {want})")
    text = ("[B, C, n, n] -> [B, C, n*s, n*s] for s = 2, 3, 4, 8" if up else
            "[B, C, n*s, n*s] -> [B, C, n, n] for s = 2, 3, 4, 8")
    return Outcome(not bad, text, (bad[0] if bad else "") + ": kernel s + 4, stride s, padding 2")


def _proj_prelu(fn) -> Outcome:
    unit = fn(3, 4)
    prelus = [m for m in unit.modules() if isinstance(m, nn.PReLU)]
    ok = len(prelus) == 1 and prelus[0].weight.numel() == 1 and abs(float(prelus[0].weight.detach()) - 0.2) < 1e-7
    return Outcome(ok, "one PReLU with a single slope initialised at 0.2",
                   f"found {len(prelus)} PReLU module(s); use nn.PReLU(init=0.2) after the convolution")


def _projection_check(up: bool) -> Check:
    ref = up_projection if up else down_projection
    name = ref.__name__
    return Check(
        name.replace("_", "-"),
        [Property("shapes", lambda fn: _proj_shapes(fn, up)),
         Property("PReLU", _proj_prelu),
         Property("parameters", lambda fn: parameter_count(lambda: fn(48, 8), lambda: ref(48, 8),
                                                           f"{name}(48, 8)", "kernel s + 4 = 12, with a bias")),
         Property("agreement", lambda fn: agreement(
             [("C=3, s=8", lambda: fn(3, 8), lambda: ref(3, 8),
               (torch.randn(2, 3, 6, 6) if up else torch.randn(2, 3, 48, 48),)),
              ("C=4, s=3", lambda: fn(4, 3), lambda: ref(4, 3),
               (torch.randn(1, 4, 7, 7) if up else torch.randn(1, 4, 21, 21),))],
             f"dicmini.models.{name}",
             "a transposed convolution for up, a strided convolution for down, then the PReLU"))],
        ref, f"dicmini.models.{name}",
        doc=f"Check ``my_{name}(channels, s)`` (notebook 02).")


check_up_projection = _projection_check(up=True)
check_down_projection = _projection_check(up=False)
#: ``my_up_projection, my_down_projection = check_projections(my_up_projection, my_down_projection)``
check_projections = CheckPair(check_up_projection, check_down_projection)


# ------------------------------------------------------------------------------------------ feedback block
def _inputs(c: int = 8, n: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, c, n, n, generator=g), torch.randn(2, c, n, n, generator=g)


def _fb_shape(cls) -> Outcome:
    got = [tuple(cls(c, g, s)(*_inputs(c, n)).shape) for c, g, s, n in [(8, 3, 8, 8), (4, 2, 2, 6)]]
    want = [(2, 8, 8, 8), (2, 4, 6, 6)]
    return Outcome(got == want, "output (= new hidden state) has the shape of the input",
                   f"got {got}, expected {want}: compress_out maps the G down-projected features back to C channels")


def _fb_hidden(cls) -> Outcome:
    torch.manual_seed(0)
    block = cls(8, 3, 8).eval()
    x, h = _inputs()
    with torch.no_grad():
        a, b = block(x, h), block(x, torch.zeros_like(h))
    ok = bool((a - b).abs().max() > 1e-6)
    return Outcome(ok, "the hidden state changes the output",
                   "the output does not depend on `hidden`: concatenate [x, hidden] before compress_in")


def _fb_grad(cls) -> Outcome:
    torch.manual_seed(0)
    block = cls(4, 3, 2)
    x, h = (t.requires_grad_() for t in _inputs(4, 6))
    return gradients_reach_every_parameter(block, block(x, h).square().mean(), " and the hidden state",
                                           h, "no gradient reaches the incoming hidden state")


check_feedback_block = Check(
    "feedback block",
    [Property("shape", _fb_shape),
     Property("parameters", lambda cls: parameter_count(lambda: cls(48, 6, 8), lambda: FeedbackBlock(48, 6, 8),
                                                        "FeedbackBlock(48, 6, 8)")),
     Property("hidden state", _fb_hidden),
     Property("gradients", _fb_grad),
     Property("agreement", lambda cls: agreement(
         [("C=8, G=3, s=8", lambda: cls(8, 3, 8), lambda: FeedbackBlock(8, 3, 8), _inputs()),
          ("C=4, G=4, s=2", lambda: cls(4, 4, 2), lambda: FeedbackBlock(4, 4, 2), _inputs(4, 6, 1))],
         "dicmini.models.FeedbackBlock",
         "T^L_g sees [L_0..L_{g-1}], T^H_g sees [H_1..H_g], compress_out sees [L_1..L_G] (L_0 excluded)"))],
    FeedbackBlock, "dicmini.models.FeedbackBlock",
    doc="Check ``MyFeedbackBlock(mid_channels, num_blocks, upscale_factor)`` (notebook 02).")
