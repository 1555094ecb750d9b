"""Training losses of DIC and DICGAN (paper §3.4; docs/reference_implementations.md, Losses).

Notation: ``SR_t`` and ``H_t`` (t = 0..T-1, T = 4 by default) are the per-step super-resolved images and
68-channel landmark heatmaps produced by DICNet; ``HR`` is the target image and ``Hgt`` the target
heatmaps. Images live in dicmini's **normalised** space ``x/255 - MEAN`` (as the networks produce them),
heatmaps are the raw 32x32 Gaussians. Every reduction is a **mean** over all elements
(``nn.L1Loss()`` / ``nn.MSELoss()`` defaults), and every step has the same weight.

Paper and references:

* DIC (official ``SRLandmarkSolver``, MMagic 1.x ``DIC``):
  ``L = sum_t [ 1.0 * L1(SR_t, HR) + 0.1 * MSE(H_t, Hgt) ]``.
* MMEditing 0.x — the code that trained the **published MMagic checkpoints** — used the pixel criterion
  for the alignment term by mistake: ``sum_t [ L1(SR_t, HR) + 1.0 * L1(H_t, Hgt) ]`` (recipe ``"mmedit"``).
* DICGAN adds, on the last step only, a LightCNN feature ("identity") loss
  ``0.1 * L1(F(SR_last), F(HR))`` and a vanilla GAN loss ``0.005 * BCEWithLogits(D(SR_last), 1)``
  (MMagic only after ``pixel_init = 10,000`` iterations: simply leave the feature net / discriminator out
  of :func:`dic_generator_loss` before that).
* The official DICGAN solver (``SRLandmarkGANSolver``) has a pixel-loss quirk: its per-step loop uses the
  **final** SR for every step, i.e. ``w_pix * sum_t L1(SR_last, HR) = T * w_pix * L1(SR_last, HR)``
  (``w_pix`` = 1 on CelebA, 2 on Helen). Reproduce it with ``official_dicgan_pixel_quirk=True``.
* Discriminator (both): ``BCE(D(HR), 1) + BCE(D(SR_last.detach()), 0)`` — a sum, no 1/2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "pixel_loss", "alignment_loss", "feature_loss", "perceptual_loss", "gan_generator_loss",
    "gan_discriminator_loss", "LossRecipe", "RECIPES", "dic_generator_loss",
]


def _steps(x, name: str, like: torch.Tensor) -> list[torch.Tensor]:
    """A sequence of per-step tensors (a single tensor of ``like``'s shape counts as one step)."""
    steps = [x] if isinstance(x, torch.Tensor) else list(x)
    if not steps:
        raise ValueError(f"{name}: expected at least one step")
    for t, s in enumerate(steps):
        if not isinstance(s, torch.Tensor) or s.shape != like.shape:
            shape = list(s.shape) if isinstance(s, torch.Tensor) else type(s).__name__
            raise ValueError(f"{name}[{t}]: expected a tensor of shape {list(like.shape)}, got {shape}")
    return steps


def _criterion(kind: str, name: str = "kind"):
    if kind == "l1":
        return F.l1_loss
    if kind == "mse":
        return F.mse_loss
    raise ValueError(f"{name}: expected 'l1' or 'mse', got {kind!r}")


def step_weights(num_steps: int, decay: float = 1.0) -> list[float]:
    """Loss weight of each recurrent step: ``decay ** (T - t)`` for step ``t`` of ``T`` (the last step weighs 1).
    ``decay = 1`` is the references' equal weighting; below 1, later steps weigh more, as in recurrent refinement
    networks such as RAFT (Teed & Deng, ECCV 2020, Eq. 7; dicmini's option, not DIC's)."""
    if not 0 < decay <= 1:
        raise ValueError(f"step decay: expected a number in (0, 1], got {decay}")
    return [decay ** (num_steps - 1 - t) for t in range(num_steps)]


def pixel_loss(sr_steps: Sequence[torch.Tensor] | torch.Tensor, hr: torch.Tensor, decay: float = 1.0,
               kind: str = "l1") -> torch.Tensor:
    """Reconstruction loss ``sum_t L1(SR_t, HR)`` (mean L1 per step, equal weights, summed — not
    averaged — over steps, as both references do). A single tensor is treated as one step. ``decay < 1`` weighs
    step ``t`` by :func:`step_weights`. ``kind="mse"`` puts the mean squared error in place of L1 (dicmini's option,
    not DIC's: the estimate that minimises it is the mean of the plausible faces, which is what PSNR rewards)."""
    crit = _criterion(kind, "pixel kind")
    steps = _steps(sr_steps, "sr_steps", hr)
    return sum(w * crit(s, hr) for w, s in zip(step_weights(len(steps), decay), steps))


def alignment_loss(heatmap_steps: Sequence[torch.Tensor] | torch.Tensor, gt_heatmaps: torch.Tensor,
                   kind: str = "mse", weight: float = 0.1, decay: float = 1.0) -> torch.Tensor:
    """Landmark alignment loss ``sum_t weight * crit(H_t, Hgt)``.

    Default ``kind="mse", weight=0.1`` is the paper / official / MMagic 1.x loss; ``kind="l1",
    weight=1.0`` reproduces MMEditing 0.x (the recipe of the published MMagic checkpoints). ``decay < 1`` weighs
    step ``t`` by :func:`step_weights` as well.
    """
    crit = _criterion(kind)
    steps = _steps(heatmap_steps, "heatmap_steps", gt_heatmaps)
    return sum(weight * w * crit(h, gt_heatmaps) for w, h in zip(step_weights(len(steps), decay), steps))


def feature_loss(feature_net: nn.Module, sr: torch.Tensor, hr: torch.Tensor, weight: float = 0.1) -> torch.Tensor:
    """DICGAN identity/feature loss ``weight * L1(F(SR), F(HR).detach())`` (paper §3.4).

    ``feature_net`` is any module, normally :class:`dicmini.models.lightcnn.LightCNNFeature` (the frozen
    LightCNN-9 trunk, ``[B,3,128,128] -> [B,128,8,8]``) applied to normalised images. ``F(HR)`` is a
    constant target (computed without a graph); gradients flow to ``sr`` only.
    """
    if sr.shape != hr.shape:
        raise ValueError(f"sr and hr: shape mismatch, {list(sr.shape)} vs {list(hr.shape)}")
    with torch.no_grad():
        target = feature_net(hr)
    return weight * F.l1_loss(feature_net(sr), target.detach())


def perceptual_loss(vgg: nn.Module, sr: torch.Tensor, hr: torch.Tensor, weight: float = 1.0,
                    kind: str = "l1", layer_weights: Mapping | None = None) -> torch.Tensor:
    """Optional VGG perceptual loss ``weight * sum_l w_l * crit(V_l(SR), V_l(HR).detach())``.

    Not part of DIC/DICGAN (which use :func:`feature_loss`); the SRGAN/ESRGAN-style alternative
    (ESRGAN: L1 on ``conv5_4`` before ReLU, weight 1). ``vgg`` returns a tensor or a dict of layer tensors
    (e.g. :class:`dicmini.models.vgg.VGG19Features`); ``layer_weights`` maps dict keys to weights
    (default 1 each). ``kind`` is ``"l1"`` or ``"mse"``.
    """
    crit = _criterion(kind)
    if sr.shape != hr.shape:
        raise ValueError(f"sr and hr: shape mismatch, {list(sr.shape)} vs {list(hr.shape)}")
    with torch.no_grad():
        target = vgg(hr)
    pred = vgg(sr)
    if isinstance(pred, torch.Tensor):
        return weight * crit(pred, target.detach())
    lw = layer_weights or {}
    return weight * sum(lw.get(k, 1.0) * crit(pred[k], target[k].detach()) for k in pred)


def gan_generator_loss(fake_logits: torch.Tensor, weight: float = 0.005) -> torch.Tensor:
    """Vanilla GAN generator loss ``weight * BCEWithLogits(D(SR), 1)`` (DICGAN weight 0.005)."""
    return weight * F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def gan_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss ``BCEWithLogits(D(HR), 1) + BCEWithLogits(D(SR.detach()), 0)`` (sum, no 1/2;
    weight 1). The caller detaches SR *before* the discriminator so that no gradient reaches the
    generator: ``gan_discriminator_loss(D(hr), D(sr.detach()))``."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real + fake


@dataclass(frozen=True)
class LossRecipe:
    """Weights of the generator loss terms of one training recipe."""

    name: str
    align_kind: str  # "mse" or "l1"
    align_weight: float
    pixel_weight: float = 1.0
    feature_weight: float = 0.1
    gan_weight: float = 0.005
    description: str = ""
    #: step ``t`` of ``T`` weighs ``step_decay ** (T - t)`` in the pixel and alignment sums (1 = equal, as the
    #: references; :func:`step_weights`)
    step_decay: float = 1.0
    #: criterion of the pixel term: ``"l1"`` (both references) or ``"mse"`` (:func:`pixel_loss`)
    pixel_kind: str = "l1"


#: The loss weights of the references, by name: their one home (the named training configs of
#: :mod:`dicmini.train.config` take their weights from here).
RECIPES: dict[str, LossRecipe] = {
    "official": LossRecipe("official", "mse", 0.1,
                           description="official DIC/DICGAN: sum_t L1 + 0.1 MSE heatmaps (+0.1 feature +0.005 GAN)"),
    "mmagic": LossRecipe("mmagic", "mse", 0.1,
                         description="MMagic 1.x: same weights as official; GAN terms only after pixel_init=10k"),
    "mmedit": LossRecipe("mmedit", "l1", 1.0,
                         description="MMEditing 0.x (published checkpoints): alignment term 1.0 L1 (the 0.x bug)"),
}


def _split_output(output) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    if isinstance(output, Mapping):
        return output["sr"], output["heatmaps"]
    if hasattr(output, "sr") and hasattr(output, "heatmaps"):
        return output.sr, output.heatmaps
    if isinstance(output, (tuple, list)) and len(output) == 2:
        return output[0], output[1]
    raise ValueError("output: expected (sr_steps, heatmap_steps), a mapping with 'sr'/'heatmaps' "
                     "or an object with .sr/.heatmaps")


def dic_generator_loss(output, hr: torch.Tensor, gt_heatmaps: torch.Tensor, recipe: str | LossRecipe = "official",
                       *, feature_net: nn.Module | None = None, discriminator: nn.Module | None = None,
                       official_dicgan_pixel_quirk: bool = False,
                       pixel_weight: float | None = None,
                       log_tensors: bool = False) -> tuple[torch.Tensor, dict[str, Any]]:
    """The full DIC / DICGAN generator loss of one batch.

    ``output`` is DICNet's ``(sr_steps, heatmap_steps)`` (lists of per-step tensors). Terms:

    * ``pixel``: ``pixel_weight * sum_t L1(SR_t, HR)`` (MSE with the recipe's ``pixel_kind="mse"``); with
      ``official_dicgan_pixel_quirk=True`` ``pixel_weight * T * L1(SR_last, HR)`` (the official DICGAN solver's
      bug, see the module docstring; earlier steps then get no direct image supervision). ``pixel_weight``
      defaults to the recipe's (1.0; the official Helen DICGAN used 2).
    * ``align``: :func:`alignment_loss` with the recipe's criterion and weight.
    * with the recipe's ``step_decay < 1``, both sums weigh step ``t`` by ``step_decay ** (T - t)``.
    * ``feature`` (only if ``feature_net`` is given): ``0.1 * L1(F(SR_last), F(HR))``.
    * ``gan`` (only if ``discriminator`` is given): ``0.005 * BCEWithLogits(D(SR_last), 1)``. Freeze D's
      parameters during the generator step; gradients flow through D to SR.

    Returns ``(total, terms)`` with ``terms`` a dict of Python floats (``pixel``, ``align``, optional
    ``feature``, ``gan``, and ``total``) for logging; with ``log_tensors=True`` detached 0-d tensors instead
    (no host synchronisation).
    """
    if isinstance(recipe, str):
        if recipe not in RECIPES:
            raise ValueError(f"recipe: unknown recipe {recipe!r}; valid recipes are {sorted(RECIPES)}")
        recipe = RECIPES[recipe]
    sr_steps, heatmap_steps = _split_output(output)
    sr_steps = _steps(sr_steps, "sr_steps", hr)
    w_pix = recipe.pixel_weight if pixel_weight is None else pixel_weight
    sr_last = sr_steps[-1]
    if official_dicgan_pixel_quirk:
        pix = w_pix * len(sr_steps) * pixel_loss(sr_last, hr, kind=recipe.pixel_kind)
    else:
        pix = w_pix * pixel_loss(sr_steps, hr, recipe.step_decay, recipe.pixel_kind)
    terms: dict[str, torch.Tensor] = {
        "pixel": pix,
        "align": alignment_loss(heatmap_steps, gt_heatmaps, recipe.align_kind, recipe.align_weight,
                                recipe.step_decay),
    }
    if feature_net is not None:
        terms["feature"] = feature_loss(feature_net, sr_last, hr, recipe.feature_weight)
    if discriminator is not None:
        terms["gan"] = gan_generator_loss(discriminator(sr_last), recipe.gan_weight)
    total = sum(terms.values())
    logs: dict[str, Any] = {k: v.detach() for k, v in terms.items()}
    logs["total"] = total.detach()
    if not log_tensors:
        logs = {k: float(v) for k, v in logs.items()}
    return total, logs
