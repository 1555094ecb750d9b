"""What a training run trains: one small task object per kind of run, driven by the one engine in
:mod:`dicmini.train.trainer`.

* :class:`HourglassPretraining` -- the landmark branch alone on HR faces (and blurred copies), the role of the
  official pretrained ``FB_HG_68_CelebA.pth`` (paper §4.1); kept by lowest last-pass NME.
* :class:`DICTraining` -- DIC: ``sum_t [pixel + alignment]`` over the recurrent steps (paper §3.4, Eq. 5);
  optional landmark-branch freeze, a slower landmark branch, ground-truth guidance of steps 2..T; kept by
  highest last-step PSNR.
* :class:`DICGANTraining` -- DICGAN: DIC plus the feature and adversarial losses on the last step and a
  discriminator (paper §3.4, Eq. 6-8) trained after every generator step.

A task builds its model (and any adversary), says which parameters its generator optimiser holds, computes the
generator loss of one micro-batch, the adversary loss, and validates. The engine owns everything else:
optimisers, schedules, accumulation, processes, host syncs, checkpoints, logs, resume.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from ..losses import LossRecipe, alignment_loss, dic_generator_loss, gan_discriminator_loss
from ..models.convert import (PRETRAINED_NAMES, CheckpointError, infer_dicnet_config, load_official_hourglass,
                              load_state_dict_strict, read_checkpoint, to_dicmini_state_dict)
from ..models.dic import DICNet
from ..models.hourglass import FeedbackHourglass, run_hourglass
from ..models.lightcnn import LightCNN, LightCNNFeature
from ..models.vgg import VGG16Features
from ..models.widen import widen_state_dict
from . import performance
from .augment import augment, iteration_rng, jittered_guidance
from .checkpoint import unwrap
from .config import TrainConfig
from .evaluate import EvalResult, evaluate, evaluate_hourglass
from .init import init_generator, init_weights

Batch = Mapping[str, Any]

#: sub-folder of a staged run that holds the landmark-branch pre-training (:mod:`dicmini.train.stages`)
STAGE_FOLDER = "hourglass-stage"


def stage_checkpoint(out_dir: str | os.PathLike) -> Path:
    """The pre-trained landmark branch a staged run in ``out_dir`` starts from."""
    return Path(out_dir) / STAGE_FOLDER / "last.pt"


class Task:
    """The parts of a run that depend on what is trained (see the module docstring)."""

    #: the ``kind`` of the checkpoints this task writes
    kind = "dicnet"
    #: validation metric that keeps ``best.pt`` (its last-step value) and whether higher is better
    best_metric = "psnr"
    higher_is_better = True

    def __init__(self, config: TrainConfig, out_dir: Path) -> None:
        self.config = config
        self.out_dir = out_dir
        #: lines the trainer warns about at start (and logs)
        self.notes: list[str] = []

    def build_model(self, load_init: bool) -> nn.Module:
        raise NotImplementedError

    def model_config(self, model: nn.Module) -> dict[str, Any]:
        return dict(unwrap(model).config)

    def adversaries(self, device: torch.device, channels_last: bool) -> dict[str, nn.Module]:
        """Further trained modules (optimiser name -> module), built after the model."""
        return {}

    def generator_parameters(self, model: nn.Module) -> Any:
        return model.parameters()

    def before_step(self, model: nn.Module, step: int) -> None:
        """Called at the start of every iteration (e.g. the landmark-branch freeze)."""

    def adversarial(self, step: int) -> bool:
        """Whether iteration ``step`` uses the adversarial losses and updates the adversaries."""
        return False

    def generator_frozen(self, step: int) -> bool:
        """Whether iteration ``step`` leaves the generator alone (only the adversaries learn)."""
        return False

    def generator_loss(self, model: nn.Module, batch: Batch, step: int, device: torch.device, channels_last: bool,
                       adversarial: bool) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        """``(loss, logged terms, last output)`` of one micro-batch."""
        raise NotImplementedError

    def adversary_loss(self, name: str, batch: Batch, fake: Tensor, device: torch.device,
                       channels_last: bool) -> Tensor:
        raise NotImplementedError

    def validate(self, model: nn.Module, val_set: Dataset, device: torch.device) -> EvalResult:
        raise NotImplementedError

    def best_value(self, result: EvalResult) -> float:
        return result.last_psnr


class HourglassPretraining(Task):
    """The feedback hourglass alone: ``num_steps`` passes on the same image (hidden state fed back), MSE to the
    ground-truth heatmaps summed over passes; a share ``hourglass_degrade`` of the images blurred."""

    kind = "hourglass"
    best_metric = "nme"
    higher_is_better = False

    def build_model(self, load_init: bool) -> nn.Module:
        model = FeedbackHourglass(self.config.hg_mid_channels, self.config.hg_num_keypoints)
        init_generator(model, self.config.init)
        return model

    def model_config(self, model: nn.Module) -> dict[str, Any]:
        model = unwrap(model)
        return {"mid_channels": model.mid_channels, "num_keypoints": model.num_keypoints, "in_channels": 3}

    def degrade(self, hr: Tensor, step: int) -> Tensor:
        """Each image replaced, with probability ``hourglass_degrade``, by a blurred copy (area-downsampled by
        2, 4 or 8, bicubic-upsampled back), so that the branch also reads the blurry SR of early steps."""
        p = self.config.hourglass_degrade
        if p <= 0:
            return hr
        rng = iteration_rng(self.config, step, 0x6867)
        picks = rng.random(hr.size(0)) < p
        factors = rng.choice([2, 4, 8], size=hr.size(0))
        out = hr.clone()
        for i in np.flatnonzero(picks):
            small = nn.functional.interpolate(hr[i:i + 1], scale_factor=1 / int(factors[i]), mode="area")
            out[i:i + 1] = nn.functional.interpolate(small, size=hr.shape[-2:], mode="bicubic", align_corners=False)
        return out

    def generator_loss(self, model: nn.Module, batch: Batch, step: int, device: torch.device, channels_last: bool,
                       adversarial: bool) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        hr, heat = (performance.as_input(batch[k], device, channels_last) for k in ("hr", "heatmaps"))
        steps = run_hourglass(model, self.degrade(hr, step), self.config.num_steps)
        loss = alignment_loss(steps, heat, self.config.align_kind, self.config.align_weight)
        value = loss.detach()
        return loss, {"align": value, "total": value}, steps[-1]

    def validate(self, model: nn.Module, val_set: Dataset, device: torch.device) -> EvalResult:
        return evaluate_hourglass(unwrap(model), val_set, self.config.num_steps,
                                  batch_size=min(self.config.batch_size, 8), device=device)

    def best_value(self, result: EvalResult) -> float:
        return result.nme[-1]


class DICTraining(Task):
    """DIC (paper Eq. 5): pixel and alignment losses summed over the recurrent steps."""

    def __init__(self, config: TrainConfig, out_dir: Path) -> None:
        super().__init__(config, out_dir)
        self.recipe = LossRecipe(config.name, config.align_kind, config.align_weight, config.pixel_weight,
                                 config.feature_weight, config.gan_weight, step_decay=config.step_decay,
                                 pixel_kind=config.pixel_kind)
        self._hourglass_trainable: bool | None = None
        self.feature_net: nn.Module | None = None
        self.discriminator: nn.Module | None = None

    def build_model(self, load_init: bool) -> nn.Module:
        cfg = self.config
        model = DICNet(**cfg.model_kwargs())
        init_generator(model, cfg.init, cfg.reconstruction_init_scale)
        if load_init and cfg.init_generator:
            source = str(PRETRAINED_NAMES.get(cfg.init_generator, cfg.init_generator))
            state = to_dicmini_state_dict(read_checkpoint(source), source)
            width = infer_dicnet_config(state).get("mid_channels", cfg.mid_channels)
            hint = ""
            if cfg.init_widen:
                try:
                    state = widen_state_dict(state, model)
                except ValueError as error:
                    raise CheckpointError(f"{source}: --set init_widen=true: {error}") from None
                if width != cfg.mid_channels:
                    self.notes.append(f"init_widen: {source} widened from {width} to {cfg.mid_channels} recovery "
                                      "channels (the same images at the start)")
            elif width < cfg.mid_channels:
                hint = "a checkpoint with fewer mid_channels starts a wider model with --set init_widen=true"
            load_state_dict_strict(model, state, source, hint=hint)
        if load_init and cfg.init_hourglass:
            load_official_hourglass(PRETRAINED_NAMES.get(cfg.init_hourglass, cfg.init_hourglass), model)
        if load_init and cfg.hourglass_stage:
            stage = stage_checkpoint(self.out_dir)
            if stage.is_file():
                load_official_hourglass(stage, model)
            else:
                self.notes.append(f"hourglass_stage={cfg.hourglass_stage}: no {stage}, so the landmark branch "
                                  "starts untrained (`dicmini train` runs the stage first)")
        return model

    def generator_parameters(self, model: nn.Module) -> Any:
        """One group, or (``hourglass_lr_scale != 1`` or a ``hourglass_warmup``) the SR branch and the landmark
        branch at ``lr * hourglass_lr_scale`` (each group records its ``lr_scale`` and warm-up)."""
        cfg = self.config
        scale = cfg.hourglass_lr_scale
        if scale == 1.0 and not cfg.hourglass_warmup:
            return model.parameters()
        landmark = list(unwrap(model).landmark_estimator.parameters())
        ids = {id(p) for p in landmark}
        rest = [p for p in model.parameters() if id(p) not in ids]
        return [{"params": rest, "lr_scale": 1.0},
                {"params": landmark, "lr": cfg.lr * scale, "lr_scale": scale,
                 "warmup_start": cfg.release_hourglass_step, "warmup": cfg.hourglass_warmup}]

    def before_step(self, model: nn.Module, step: int) -> None:
        """The official landmark-branch freeze: no parameter updates before ``release_hourglass_step`` (gradients
        still flow *through* the branch to the SR branch)."""
        trainable = step >= self.config.release_hourglass_step
        if trainable != self._hourglass_trainable:
            unwrap(model).landmark_estimator.requires_grad_(trainable)
            self._hourglass_trainable = trainable

    def truth_guided(self, step: int) -> bool:
        """Whether iteration ``step`` guides steps 2..T by the ground-truth heatmaps (``truth_guidance``)."""
        p = self.config.truth_guidance
        return p > 0 and bool(iteration_rng(self.config, step, 0x7467).random() < p)

    def guidance(self, heatmaps: Tensor, step: int, truth: Tensor | None = None) -> Tensor | None:
        """What guides steps 2..T at iteration ``step``: the ground-truth maps (``truth_guidance``; ``truth``,
        default ``heatmaps``), else all-zero maps (``prior_dropout``), else None (the model's own estimate)."""
        if self.truth_guided(step):
            return heatmaps if truth is None else truth
        p = self.config.prior_dropout
        if p > 0 and iteration_rng(self.config, step, 0x7064).random() < p:
            return torch.zeros_like(heatmaps)
        return None

    def generator_loss(self, model: nn.Module, batch: Batch, step: int, device: torch.device, channels_last: bool,
                       adversarial: bool) -> tuple[Tensor, dict[str, Tensor], Tensor]:
        batch = augment(batch, self.config, step)
        lr, hr, heat = (performance.as_input(batch[k], device, channels_last) for k in ("lr", "hr", "heatmaps"))
        truth = None
        if self.config.guidance_jitter > 0 and self.truth_guided(step):
            truth = performance.as_input(jittered_guidance(batch, self.config, step), device, channels_last)
        out = model(lr, guidance=self.guidance(heat, step, truth))
        loss, terms = dic_generator_loss(
            out, hr, heat, self.recipe, feature_net=self.feature_net if adversarial else None,
            discriminator=self.discriminator if adversarial else None,
            official_dicgan_pixel_quirk=self.config.official_dicgan_pixel_quirk, log_tensors=True)
        return loss, terms, out.sr[-1]

    def validate(self, model: nn.Module, val_set: Dataset, device: torch.device) -> EvalResult:
        cfg = self.config
        return evaluate(unwrap(model), val_set, protocol=cfg.protocol, crop_border=cfg.crop_border,
                        batch_size=min(cfg.batch_size, 8), device=device, bicubic=False)


class DICGANTraining(DICTraining):
    """DICGAN (paper Eq. 6-8): DIC's losses plus, after ``pixel_init`` iterations, the feature loss and the
    adversarial loss on the last step; a LightCNN discriminator trained ``disc_repeat`` times per iteration on
    ``BCE(D(HR), 1) + BCE(D(SR_last.detach()), 0)``."""

    def adversaries(self, device: torch.device, channels_last: bool) -> dict[str, nn.Module]:
        cfg = self.config
        self.discriminator = performance.to_memory_format(init_weights(LightCNN(3), cfg.d_init).to(device),
                                                          channels_last)
        feature_net = cfg.resolved_feature_net()
        if cfg.feature_net == "auto" and cfg.feature_weight > 0:
            self.notes.append(f"feature_net=auto: the DICGAN feature loss uses {feature_net}"
                              + (" (pretrained ImageNet VGG16; no LightCNN file in feature_weights)"
                                 if feature_net != "lightcnn" else ""))
        if cfg.feature_weight > 0 and feature_net.startswith("vgg16:"):
            self.feature_net = VGG16Features("pretrained", layer=feature_net[6:]).to(device)
        elif cfg.feature_weight > 0:
            self.feature_net = LightCNNFeature(cfg.feature_weights or None).to(device)
        return {"discriminator": self.discriminator}

    def adversarial(self, step: int) -> bool:
        return step >= self.config.pixel_init

    def generator_frozen(self, step: int) -> bool:
        """The discriminator warm-up: the first ``d_warmup`` iterations train D alone."""
        return step < self.config.d_warmup

    def adversary_loss(self, name: str, batch: Batch, fake: Tensor, device: torch.device,
                       channels_last: bool) -> Tensor:
        hr = performance.as_input(batch["hr"], device, channels_last)
        return gan_discriminator_loss(self.discriminator(hr), self.discriminator(fake))


TASK_CLASSES: dict[str, type[Task]] = {"hourglass": HourglassPretraining, "dic": DICTraining,
                                       "dicgan": DICGANTraining}


def make_task(config: TrainConfig, out_dir: str | os.PathLike) -> Task:
    """The task object of ``config.task``."""
    return TASK_CLASSES[config.task](config, Path(out_dir))


__all__ = ["Task", "HourglassPretraining", "DICTraining", "DICGANTraining", "TASK_CLASSES", "make_task"]
