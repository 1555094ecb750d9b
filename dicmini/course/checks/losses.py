"""Checks for the adversarial-loss exercise of notebook 06 (DICGAN, paper §3.4;
docs/reference_implementations.md, Losses).

``my_discriminator_loss(real_logits, fake_logits)`` = BCEWithLogits(real, 1) + BCEWithLogits(fake, 0) (a sum,
no 1/2) and ``my_generator_loss(fake_logits, weight=0.005)`` = weight * BCEWithLogits(fake, 1), compared
with :func:`dicmini.losses.gan_discriminator_loss` / :func:`dicmini.losses.gan_generator_loss`.
"""

from __future__ import annotations

import torch

from ... import losses
from ._core import Check, CheckPair, Outcome, Property

__all__ = ["check_gan_losses", "check_discriminator_loss", "check_generator_loss"]

TOLERANCE = 1e-6


def _logits(seed: int, shape=(4, 1)) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64) * 2.0


def _scalar(fn, *args, **kwargs) -> Outcome | torch.Tensor:
    out = fn(*args, **kwargs)
    if not isinstance(out, torch.Tensor) or out.dim() != 0:
        shape = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return Outcome(False, "the loss is a scalar tensor", f"got {shape}; reduce with a mean over all logits")
    return out


def _d_scalar(fn) -> Outcome:
    out = _scalar(fn, _logits(0), _logits(1))
    return out if isinstance(out, Outcome) else Outcome(True, "discriminator loss: returns a scalar tensor")


def _d_labels(fn) -> Outcome:
    """Raising the real logits must lower the loss; raising the fake logits must raise it."""
    real, fake = _logits(2).requires_grad_(), _logits(3).requires_grad_()
    fn(real, fake).backward()
    ok = bool((real.grad < 0).all() and (fake.grad > 0).all())
    return Outcome(ok, "real logits are pushed up (label 1), fake logits down (label 0)",
                   "the real (HR) logits must be compared with 1 and the fake (SR) logits with 0"
                   " — are the labels swapped?")


def _d_known(fn) -> Outcome:
    zero = torch.zeros(3, 1, dtype=torch.float64)
    v = float(fn(zero, zero))
    expected = 2 * float(torch.log(torch.tensor(2.0, dtype=torch.float64)))
    return Outcome(abs(v - expected) < 1e-6, "zero logits give 2 ln 2 (sum of the two terms, no 1/2)",
                   f"got {v:.4f}, expected {expected:.4f}: add the real and the fake term, do not average them")


def _d_agree(fn) -> Outcome:
    worst = 0.0
    for seed, shape in [(4, (4, 1)), (5, (2, 1, 6, 6)), (6, (8,))]:
        real, fake = _logits(seed, shape), _logits(seed + 10, shape)
        worst = max(worst, abs(float(fn(real, fake)) - float(losses.gan_discriminator_loss(real, fake))))
    return Outcome(worst <= TOLERANCE, "agrees with dicmini.losses.gan_discriminator_loss on 3 logit shapes",
                   f"largest difference {worst:.2e}; use the numerically stable BCE with logits (mean reduction)")


def _g_scalar(fn) -> Outcome:
    out = _scalar(fn, _logits(7))
    return out if isinstance(out, Outcome) else Outcome(True, "generator loss: returns a scalar tensor")


def _g_label(fn) -> Outcome:
    fake = _logits(8).requires_grad_()
    fn(fake).backward()
    ok = bool((fake.grad < 0).all())
    return Outcome(ok, "fake logits are pushed up (the generator wants D to answer 'real', label 1)",
                   "the generator loss compares D(SR) with 1 — are the labels swapped?")


def _g_weight(fn) -> Outcome:
    fake = _logits(9)
    default, one = float(fn(fake)), float(fn(fake, weight=1.0))
    ref_default = float(losses.gan_generator_loss(fake))
    ok = abs(default - ref_default) <= TOLERANCE and abs(default - 0.005 * one) <= TOLERANCE
    return Outcome(ok, "default weight 0.005, scaling the loss linearly",
                   f"loss {default:.6f} with the default weight, {one:.6f} with weight=1.0 (expected "
                   f"{ref_default:.6f} and 200x that)")


def _g_agree(fn) -> Outcome:
    worst = 0.0
    for seed, shape, w in [(11, (4, 1), 0.005), (12, (2, 1, 6, 6), 1.0), (13, (8,), 0.1)]:
        fake = _logits(seed, shape)
        worst = max(worst, abs(float(fn(fake, weight=w)) - float(losses.gan_generator_loss(fake, weight=w))))
    return Outcome(worst <= TOLERANCE, "agrees with dicmini.losses.gan_generator_loss on 3 logit shapes and weights",
                   f"largest difference {worst:.2e}")


check_discriminator_loss = Check(
    "discriminator loss",
    [Property("scalar", _d_scalar), Property("labels", _d_labels), Property("zero logits", _d_known),
     Property("agreement", _d_agree)],
    losses.gan_discriminator_loss, "dicmini.losses.gan_discriminator_loss",
    doc="Check ``my_discriminator_loss(real_logits, fake_logits)`` (notebook 06).")

check_generator_loss = Check(
    "generator loss",
    [Property("scalar", _g_scalar), Property("label", _g_label), Property("weight", _g_weight),
     Property("agreement", _g_agree)],
    losses.gan_generator_loss, "dicmini.losses.gan_generator_loss",
    doc="Check ``my_generator_loss(fake_logits, weight=0.005)`` (notebook 06).")

#: ``my_discriminator_loss, my_generator_loss = check_gan_losses(my_discriminator_loss, my_generator_loss)``
check_gan_losses = CheckPair(check_discriminator_loss, check_generator_loss)
