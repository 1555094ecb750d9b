"""Shared fixtures (helpers for the reference vectors are in ``refvectors.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from refvectors import require_vectors


@pytest.fixture
def vectors_dir() -> Path:
    return require_vectors()


@pytest.fixture(autouse=True)
def _few_threads():
    """Keep unit tests on at most 2 threads (CI has 2 cores); restore afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(min(before, 2))
    yield
    torch.set_num_threads(before)
