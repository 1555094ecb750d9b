"""Check for the training-step exercise of notebook 07 (paper §3.4 and §4.1;
docs/reference_implementations.md, Losses).

``my_training_step(model, optimizer, batch, align_weight) -> float`` runs one DIC iteration: the model on
``batch["lr"]``, the loss ``sum_t L1(SR_t, HR) + sum_t align_weight * MSE(H_t, H_gt)`` over **every** recurrent
step, ``zero_grad`` / ``backward`` / ``step``, and returns the loss as a Python float.

The lesson cells after the exercise train with ``checks.usable(my_training_step)``: a step that failed a test is
replaced by :func:`reference_training_step` (a ``✗`` line says so) instead of being run on.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ...losses import alignment_loss, pixel_loss
from ...models import DICNet
from ._core import Check, Outcome, Property
from ._modules import max_difference

__all__ = ["check_training_step", "reference_training_step"]

ALIGN_WEIGHT = 0.7      # deliberately not 1 or 0.1, so that an ignored weight shows


def reference_training_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, batch: dict[str, Any],
                            align_weight: float) -> float:
    """One DIC iteration with dicmini's losses (:func:`dicmini.losses.pixel_loss`, :func:`alignment_loss`)."""
    out = model(batch["lr"])
    loss = pixel_loss(out.sr, batch["hr"]) + alignment_loss(out.heatmaps, batch["heatmaps"], "mse", align_weight)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def _setup(seed: int = 0) -> tuple[torch.nn.Module, torch.optim.Optimizer, dict[str, torch.Tensor]]:
    """A small DIC (3 steps), its Adam optimiser and a fixed random batch of two faces."""
    torch.manual_seed(seed)
    model = DICNet(mid_channels=4, num_blocks=1, hg_mid_channels=8, num_steps=3, upscale_factor=2,
                   num_fusion_blocks=1)
    g = torch.Generator().manual_seed(seed + 1)
    batch = {"lr": torch.rand(2, 3, 16, 16, generator=g) - 0.5, "hr": torch.rand(2, 3, 128, 128, generator=g) - 0.5,
             "heatmaps": torch.rand(2, 68, 32, 32, generator=g) * 0.1}
    return model, torch.optim.Adam(model.parameters(), lr=1e-3), batch


def _run(step_fn, iterations: int) -> tuple[list[float], torch.nn.Module]:
    model, optimizer, batch = _setup()
    losses = [float(step_fn(model, optimizer, batch, ALIGN_WEIGHT)) for _ in range(iterations)]
    return losses, model


def _loss(fn) -> Outcome:
    (mine,), _ = _run(fn, 1)
    (ref,), _ = _run(reference_training_step, 1)
    ok = math.isfinite(mine) and math.isclose(mine, ref, rel_tol=1e-5)
    return Outcome(ok, "returns the loss of every step: sum_t L1(SR_t, HR) + sum_t w * MSE(H_t, H_gt)",
                   f"got {mine:.5f}, expected {ref:.5f}: sum the terms of all steps (not only the last, not a mean), "
                   "with the alignment term weighted by align_weight, and return a float")


def _one_update(fn) -> Outcome:
    _, mine = _run(fn, 1)
    _, ref = _run(reference_training_step, 1)
    gap = max(max_difference(a, b) for a, b in zip(mine.state_dict().values(), ref.state_dict().values()))
    return Outcome(gap <= 1e-6, "one call updates the weights exactly as the reference step does",
                   f"weights differ by {gap:.2e}: backward the total loss, then optimizer.step()")


def _repeated(fn) -> Outcome:
    mine, _ = _run(fn, 3)
    ref, _ = _run(reference_training_step, 3)
    ok = all(math.isclose(a, b, rel_tol=1e-4) for a, b in zip(mine, ref))
    return Outcome(ok, "three calls in a row match three reference steps (gradients do not accumulate)",
                   f"losses {[round(x, 5) for x in mine]} vs {[round(x, 5) for x in ref]}: call "
                   "optimizer.zero_grad() before backward in every step")


check_training_step = Check(
    "training step",
    [Property("loss", _loss), Property("one update", _one_update), Property("repeated steps", _repeated)],
    reference_training_step, "dicmini.course.checks.training.reference_training_step (dicmini.losses)",
    doc="Check ``my_training_step(model, optimizer, batch, align_weight)`` (notebook 07).")
