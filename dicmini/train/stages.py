"""Staged training: the landmark branch pre-trained on its own, then DIC with that branch as its start.

The official DIC recipe starts from a pretrained feedback hourglass (``FB_HG_68_CelebA.pth``, paper §4.1) whose
training is not published. dicmini's recipes name the pre-training as a config of their own (``hourglass_stage``,
a ``task="hourglass"`` recipe such as ``tiny-hourglass``); ``dicmini train`` runs it first into
``<out>/hourglass-stage/`` and the main run loads that stage's ``last.pt`` into its landmark branch. The stage is
an ordinary run: an interrupted stage resumes, a completed one is not trained again.
"""

from __future__ import annotations

import dataclasses
import os

from .checkpoint import read_training_checkpoint
from .config import TrainConfig, config_from_dict, get_config
from .tasks import STAGE_FOLDER, stage_checkpoint
from .trainer import Trainer


def stage_config(config: TrainConfig) -> TrainConfig:
    """The named ``hourglass_stage`` config of ``config``, run with the main run's device and progress display."""
    stage = get_config(config.hourglass_stage)
    if stage.hg_mid_channels != config.hg_mid_channels:
        raise ValueError(f"config hourglass_stage: {config.hourglass_stage!r} trains a landmark branch of width "
                         f"hg_mid_channels={stage.hg_mid_channels}, this run's has {config.hg_mid_channels}")
    return dataclasses.replace(stage, device=config.device, progress=config.progress).validate()


def stage_complete(out_dir: str | os.PathLike, config: TrainConfig) -> bool:
    """Whether ``out_dir`` holds the finished pre-training stage of ``config``."""
    path = stage_checkpoint(out_dir)
    if not path.is_file():
        return False
    state = read_training_checkpoint(path)
    return int(state["step"]) >= stage_config(config).iterations


def run_hourglass_stage(config: TrainConfig, out_dir: str | os.PathLike) -> dict | None:
    """Train (or resume) the ``hourglass_stage`` of ``config`` into ``out_dir/hourglass-stage``; ``None`` when
    it is already complete, else the stage's :meth:`~dicmini.train.trainer.Trainer.fit` summary."""
    if not config.hourglass_stage or stage_complete(out_dir, config):
        return None
    path = stage_checkpoint(out_dir)
    if path.is_file():
        state = read_training_checkpoint(path)
        resumed = dataclasses.replace(config_from_dict(state["train_config"]), progress=config.progress)
        trainer = Trainer(resumed, path.parent, resume=path, _checkpoint=state)
    else:
        trainer = Trainer(stage_config(config), path.parent)
    return trainer.fit()


__all__ = ["STAGE_FOLDER", "stage_checkpoint", "stage_config", "stage_complete", "run_hourglass_stage"]
