"""Small helpers shared by the package, scripts, tests and notebooks."""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed ``random``, NumPy and PyTorch (CPU and CUDA); with ``deterministic`` also make cuDNN deterministic
    (no autotuning). The trainer passes its ``deterministic`` setting (default off: cuDNN autotuning)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
        if deterministic:
            torch.backends.cudnn.deterministic = True
            torch.backends.cudnn.benchmark = False


def pick_device(prefer: str | None = None) -> torch.device:
    """Return ``prefer`` if given, else CUDA when available, else the CPU."""
    if prefer is not None:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``.

    A run killed half-way therefore never leaves a half-written ``path`` behind: either the old
    file (or nothing) or the complete new one is there.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path
