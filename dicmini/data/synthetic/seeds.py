"""Seeds of synthetic faces: the held-out range and argument checks."""

from __future__ import annotations

import numpy as np

HELD_OUT_SEED_START: int = 900_000
"""Seeds ``>= 900_000`` are reserved for held-out evaluation and are never used for training.

Training and validation sets draw seeds below this value; test sets of synthetic faces use seeds from
``HELD_OUT_SEED_START`` upwards, so no test face can have been seen in training.
"""


def check_seed(seed: object, name: str = "seed") -> int:
    """``seed`` as an ``int``; a ``ValueError`` naming ``name`` unless it is a non-negative integer."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"{name}: expected a non-negative integer, got {type(seed).__name__} {seed!r}")
    if seed < 0:
        raise ValueError(f"{name}: expected a non-negative integer, got {seed}")
    return int(seed)


def is_held_out(seed: int) -> bool:
    """Whether ``seed`` is reserved for held-out evaluation (``seed >= HELD_OUT_SEED_START``)."""
    return check_seed(seed) >= HELD_OUT_SEED_START
