"""The settings that change only the synthetic *training* faces (``synthetic_backdrop``, ``synthetic_grin``) reach
the pool they are rendered into, and never the held-out validation faces."""

import numpy as np
import pytest

from dicmini.data import face_pool
from dicmini.data.datasets import SyntheticFaces
from dicmini.train import apply_overrides, get_config
from dicmini.train.data import build_datasets


@pytest.mark.parametrize("key, argument, tag", [("synthetic_backdrop", "backdrop", "-leaves1-"),
                                                ("synthetic_grin", "grin", "-grin1-")])
def test_training_faces_get_the_setting_and_validation_faces_do_not(tmp_path, monkeypatch, key, argument, tag):
    monkeypatch.setenv("DICMINI_FACE_POOL", str(tmp_path))
    config = apply_overrides(get_config("tiny"), {key: 1.0, "train_size": 3, "val_size": 2})
    train, val = build_datasets(config)
    assert isinstance(train, SyntheticFaces)
    assert getattr(train, argument) == 1.0 and getattr(val, argument) == 0.0
    pooled = train[1]["hr"]
    plain = SyntheticFaces(3, **{argument: 1.0})[1]["hr"]
    assert np.array_equal(np.asarray(pooled), np.asarray(plain))    # the pool holds exactly the rendered faces
    assert not np.array_equal(np.asarray(plain), np.asarray(SyntheticFaces(3)[1]["hr"]))
    names = [p.name for p in tmp_path.iterdir()]
    assert len(names) == 1 and tag in names[0]
    assert face_pool.pool_path(0, 3, 128, tmp_path) != face_pool.pool_path(0, 3, 128, tmp_path, **{argument: 1.0})
