"""``dicmini.super_resolve``: shapes, dtype, agreement with the model, input checks."""

import numpy as np
import pytest
import torch

import dicmini
from dicmini.data.degrade import denormalize, normalize, to_uint8
from dicmini.models import DICNet, save_dicmini_checkpoint

ARCH = dict(mid_channels=4, num_blocks=1, hg_mid_channels=8, upscale_factor=2, num_fusion_blocks=1)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DICNet(**ARCH)


def faces(*shape):
    return np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)


def test_single_image_shape_dtype_and_values(model):
    lr = faces(16, 16, 3)
    sr = dicmini.super_resolve(lr, model)
    assert sr.shape == (128, 128, 3) and sr.dtype == np.uint8
    with torch.no_grad():
        expected = to_uint8(denormalize(model.eval()(normalize(lr)[None]).sr[-1]))[0]
    np.testing.assert_array_equal(sr, expected)


def test_batch_and_non_square_inputs(model):
    batch = faces(3, 16, 16, 3)
    out = dicmini.super_resolve(batch, model, batch_size=2)
    assert out.shape == (3, 128, 128, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[1], dicmini.super_resolve(batch[1], model))
    assert dicmini.super_resolve(faces(16, 24, 3), model).shape == (128, 192, 3)


def test_training_mode_is_restored(model):
    model.train()
    dicmini.super_resolve(faces(16, 16, 3), model)
    assert model.training
    model.eval()


def test_accepts_a_checkpoint_path(tmp_path, model):
    path = save_dicmini_checkpoint(tmp_path / "m.pt", model)
    lr = faces(16, 16, 3)
    np.testing.assert_array_equal(dicmini.super_resolve(lr, str(path)), dicmini.super_resolve(lr, model))


@pytest.mark.parametrize("bad,match", [
    (np.zeros((16, 16, 3), np.float32), "expected a uint8"),
    (np.zeros((16, 16), np.uint8), "expected a uint8"),
    (np.zeros((16, 16, 4), np.uint8), "expected a uint8"),
    (np.zeros((17, 16, 3), np.uint8), "image is 16x17; DIC needs a width and height that are multiples of 8"),
])
def test_bad_inputs(model, bad, match):
    with pytest.raises(ValueError, match=match):
        dicmini.super_resolve(bad, model)
