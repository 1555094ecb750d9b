"""Training and evaluation engine of DIC / DICGAN (paper §3.4, §4; docs/reference_implementations.md,
Recipes, Evaluation protocols, Loading published checkpoints).

* :mod:`~dicmini.train.config`     typed :class:`TrainConfig`, the named recipes, ``--set key=value`` parsing
* :mod:`~dicmini.train.init`       :func:`init_weights` (official Kaiming-normal, or PyTorch's default)
* :mod:`~dicmini.train.data`       datasets of a config; the deterministic, resumable, shardable batch order
* :mod:`~dicmini.train.trainer`    :class:`Trainer`: one loop for DIC, DICGAN and hourglass pre-training
* :mod:`~dicmini.train.checkpoint` training checkpoints (dicmini format + optimiser/scheduler/RNG state)
* :mod:`~dicmini.train.ddp`        ``torchrun`` data parallelism (gradient all-reduce, rank-0 I/O)
* :mod:`~dicmini.train.evaluate`   per-step PSNR/SSIM (protocol) and landmark NME, bicubic baseline, learning curves
* :mod:`~dicmini.train.inference`  :func:`super_resolve` and loading a model for inference
* :mod:`~dicmini.train.demo`       the ``dicmini demo`` figure and metrics table
* :mod:`~dicmini.train.commands`   ``dicmini train | test | sr | demo``
"""

from .config import CONFIGS, TrainConfig, apply_overrides, config_from_dict, config_to_dict, get_config
from .evaluate import EvalResult, evaluate, evaluate_hourglass, learning_curve
from .inference import load_model, super_resolve
from .init import init_weights
from .trainer import Trainer, TrainingDiverged

__all__ = ["CONFIGS", "EvalResult", "TrainConfig", "Trainer", "TrainingDiverged", "apply_overrides",
           "config_from_dict", "config_to_dict", "evaluate", "evaluate_hourglass", "get_config", "init_weights",
           "learning_curve", "load_model", "super_resolve"]
