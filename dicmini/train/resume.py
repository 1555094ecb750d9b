"""What a resumed run may change: ``--set`` overrides on ``--resume`` are honoured or refused, never ignored.

* Settings that define the run (:data:`FIXED_ON_RESUME`: the task, the architecture, the initialisation and
  the seed) cannot change: the checkpoint's weights and data order depend on them. Changing one is refused
  with an error naming it.
* Optimiser and schedule settings (:data:`SCHEDULE_KEYS`: ``lr``, ``iterations`` for the cosine schedule,
  milestones, ...) are applied: the optimiser's hyper-parameters are set and its learning-rate schedule is
  re-laid from iteration 0 with the new values and advanced to the resumed iteration, as if the run had
  used them from the start (Adam's moment estimates are kept). Without such a change nothing is touched,
  so a plain resume stays bit-exact.
* Everything else (logging, validation interval, time limit, loss weights, ...) simply takes the new value.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

import torch

from .config import TrainConfig

#: settings a resumed run cannot change
FIXED_ON_RESUME = ("task", "mid_channels", "num_blocks", "hg_mid_channels", "hg_num_keypoints", "num_steps",
                   "upscale_factor", "num_fusion_blocks", "fusion", "prelu_init", "init", "d_init", "init_hourglass",
                   "init_generator", "init_widen", "reconstruction_init_scale", "seed", "hourglass_lr_scale",
                   "hourglass_warmup", "hourglass_stage")
#: settings of the optimisers and their schedules, re-applied on resume when changed
SCHEDULE_KEYS = ("lr", "betas", "weight_decay", "lr_schedule", "milestones", "gamma", "min_lr_ratio", "iterations",
                 "d_lr", "d_betas", "d_milestones", "d_gamma")


def resume_changes(old: TrainConfig, new: TrainConfig, source: str) -> list[str]:
    """The schedule settings that differ between the checkpoint's config ``old`` and the resumed ``new`` (only
    those that change the schedule: ``iterations`` only for the cosine schedule). Raises ``ValueError`` naming
    the setting if one of :data:`FIXED_ON_RESUME` differs."""
    for key in FIXED_ON_RESUME:
        if getattr(old, key) != getattr(new, key):
            raise ValueError(f"--set {key}={getattr(new, key)}: cannot change on --resume (the run in {source} "
                             f"has {key}={getattr(old, key)}, and its weights and data order depend on it); start a "
                             "new run to change it")
    changed = [k for k in SCHEDULE_KEYS if getattr(old, k) != getattr(new, k)]
    if "iterations" in changed and old.lr_schedule == new.lr_schedule == "multistep":
        changed.remove("iterations")  # MultiStepLR does not depend on the run length
    return changed


def relay_schedule(optimizer: torch.optim.Optimizer, make: Callable[[torch.optim.Optimizer],
                   torch.optim.lr_scheduler.LRScheduler], step: int, **hyper: object
                   ) -> torch.optim.lr_scheduler.LRScheduler:
    """Set ``hyper`` (``lr``, ``betas``, ``weight_decay``) on every parameter group of ``optimizer``, build its
    schedule with ``make`` from iteration 0 and advance it ``step`` iterations; returns the schedule."""
    for group in optimizer.param_groups:
        group.update(hyper)
        if "lr" in hyper:  # a group with its own rate (the landmark branch) keeps its ratio to ``lr``
            group["lr"] = float(hyper["lr"]) * group.get("lr_scale", 1.0)  # type: ignore[arg-type]
        group.pop("initial_lr", None)
    scheduler = make(optimizer)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()` before"))
        for _ in range(step):
            scheduler.step()
    return scheduler


__all__ = ["FIXED_ON_RESUME", "SCHEDULE_KEYS", "relay_schedule", "resume_changes"]
