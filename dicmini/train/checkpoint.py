"""Training checkpoints: the dicmini checkpoint format plus everything an exact resume needs.

A training checkpoint is a dicmini checkpoint (:mod:`dicmini.models.convert`; docs/reference_implementations.md,
Loading published checkpoints, for the published formats)::

    {"format": "dicmini", "version": 1, "kind": "dicnet" | "hourglass",
     "config": {...model constructor arguments...}, "model": <state dict>,
     # training state:
     "step": int,                      # completed iterations
     "train_config": {...},            # the TrainConfig as a plain dict (seed resolved)
     "optimizers": {"generator": ..., "discriminator": ...},
     "schedulers": {"generator": ..., "discriminator": ...},
     "scalers": {...},                 # fp16 GradScaler states (empty dicts when unused)
     "discriminator": <state dict>,    # DICGAN only
     "rng": {"python": [...], "numpy": [...], "torch": <uint8 tensor>, "cuda": [<uint8 tensor>, ...]},
     "best": {"step": int, "value": float, "metric": str}, "metrics": {...last validation...}}

so :func:`dicmini.models.load_pretrained` reads a training checkpoint of a DIC run as a model. Everything in
it is a tensor, a container, a number or a string: it loads with ``torch.load(weights_only=True)``
(NumPy's and Python's RNG states are stored as lists).
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..models.convert import DICMINI_CHECKPOINT_VERSION, DICMINI_FORMAT, CheckpointError, read_checkpoint
from ..models.weights import check_finite
from ..utils import atomic_write

TRAINING_KEYS = ("step", "train_config", "optimizers", "schedulers", "rng")


def capture_rng_state() -> dict[str, Any]:
    """The states of Python's ``random``, NumPy's global generator and torch (CPU and every CUDA device),
    as ``weights_only``-loadable values."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(internal), gauss],
        "numpy": [str(kind), keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(x) for x in internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[:torch.cuda.device_count()])


def unwrap(module: nn.Module) -> nn.Module:
    """The module itself (also for ``DistributedDataParallel`` / ``torch.compile`` wrappers)."""
    module = getattr(module, "module", module)
    return getattr(module, "_orig_mod", module)


def cpu_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of ``module``'s state dict."""
    return {k: v.detach().to("cpu", copy=True) for k, v in unwrap(module).state_dict().items()}


def all_finite(module: nn.Module) -> bool:
    """Whether every floating-point parameter and buffer of ``module`` is finite."""
    return all(bool(torch.isfinite(t).all()) for t in unwrap(module).state_dict().values() if t.is_floating_point())


def model_payload(model: nn.Module, kind: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The dicmini checkpoint header and weights of ``model``."""
    return {"format": DICMINI_FORMAT, "version": DICMINI_CHECKPOINT_VERSION, "kind": kind, "config": dict(config),
            "model": cpu_state_dict(model)}


def save_checkpoint(path: str | os.PathLike, payload: Mapping[str, Any]) -> Path:
    """Write ``payload`` atomically (a temporary file renamed onto ``path``)."""
    return atomic_write(path, lambda tmp: torch.save(dict(payload), tmp))


def read_training_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a training checkpoint (``weights_only=True``) for resuming; one-line errors for a missing or
    corrupt file, another format, or a model-only checkpoint without training state."""
    obj = read_checkpoint(path)
    if not isinstance(obj, Mapping) or obj.get("format") != DICMINI_FORMAT:
        raise CheckpointError(f"{path}: not a dicmini training checkpoint (no 'format': 'dicmini' entry); "
                              "--resume needs a checkpoint written by `dicmini train`")
    missing = [k for k in TRAINING_KEYS if k not in obj]
    if missing:
        raise CheckpointError(f"{path}: a dicmini model checkpoint without training state (missing {missing}); "
                              "it can initialise a run (--set init_generator=...) but not resume one")
    check_training_checkpoint(obj, path)
    return dict(obj)


def check_training_checkpoint(ckpt: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Validate a training checkpoint before anything is built from it: a non-negative integer ``step``, a
    ``train_config`` that passes :meth:`TrainConfig.validate` (sizes within limits), and finite tensors in the
    weights and optimiser states. Raises :class:`CheckpointError` naming the file."""
    from .config import config_from_dict

    step = ckpt.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise CheckpointError(f"{path}: 'step' is {step!r}, expected a non-negative integer (damaged checkpoint)")
    if not isinstance(ckpt.get("train_config"), Mapping):
        raise CheckpointError(f"{path}: 'train_config' is not a dict (damaged checkpoint)")
    try:
        config_from_dict(ckpt["train_config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its stored train config is invalid: {err}") from None
    for key in ("model", "discriminator", "optimizers"):
        check_finite(ckpt.get(key), f"{path} ({key})")
