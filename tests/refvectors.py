"""Reference-vector helpers for the tests.

The reference vectors (tensors produced by the reference implementation) live outside the project, in
``../shared/reference/vectors`` beside the clone; a user's clone does not have them, so tests that need
them skip with a clear reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

VECTORS_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference" / "vectors"


def require_vectors(*names: str) -> Path:
    """Return the vectors folder, or skip the calling test when it (or one of ``names``) is absent."""
    if not VECTORS_DIR.is_dir():
        pytest.skip(f"reference vectors not found at {VECTORS_DIR} (they live in ../shared beside the clone)")
    for name in names:
        if not (VECTORS_DIR / name).exists():
            pytest.skip(f"reference vector file {VECTORS_DIR / name} not found")
    return VECTORS_DIR


def load_vector(name: str) -> dict:
    """``torch.load`` a reference vector file (weights_only), skipping when it is absent."""
    path = require_vectors(name) / name
    return torch.load(path, weights_only=True, map_location="cpu")
