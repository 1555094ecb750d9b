import numpy as np
import pytest
import torch
from PIL import Image

from dicmini.data.degrade import (
    MEAN, bicubic_upsample, bilinear_skip, denormalize, downsample, normalize, to_uint8,
)


def _image(h=128, w=128, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_downsample_is_pil_bicubic():
    hr = _image()
    lr = downsample(hr)
    assert lr.shape == (16, 16, 3) and lr.dtype == np.uint8
    ref = np.asarray(Image.fromarray(hr).resize((16, 16), Image.BICUBIC))
    np.testing.assert_array_equal(lr, ref)
    assert downsample(_image(64, 128), scale=4).shape == (16, 32, 3)
    assert bicubic_upsample(lr).shape == (128, 128, 3)


def test_downsample_bad_input():
    with pytest.raises(ValueError, match="hr: expected a uint8"):
        downsample(np.zeros((128, 128, 3), np.float32))
    with pytest.raises(ValueError, match="multiples of scale"):
        downsample(_image(100, 128))


def test_normalize_denormalize_round_trip():
    img = _image(16, 24)
    t = normalize(img)
    assert t.shape == (3, 16, 24) and t.dtype == torch.float32
    assert t[0, 0, 0].item() == pytest.approx(img[0, 0, 0] / 255 - MEAN[0], abs=1e-7)
    back = denormalize(t)
    assert back.shape == (16, 24, 3)
    np.testing.assert_array_equal(to_uint8(back), img)
    batch = normalize(np.stack([img, img]))
    assert batch.shape == (2, 3, 16, 24)
    assert denormalize(batch).shape == (2, 16, 24, 3)
    with pytest.raises(ValueError, match="image: expected uint8"):
        normalize(img.astype(np.float32))
    with pytest.raises(ValueError, match="tensor"):
        denormalize(torch.zeros(4, 8, 8))


def test_denormalize_clamps_without_rounding():
    t = torch.full((3, 2, 2), 0.3)
    out = denormalize(t)
    assert out[0, 0, 0] == pytest.approx((0.3 + MEAN[0]) * 255)
    assert denormalize(torch.full((3, 1, 1), 5.0)).max() == 255


def test_bilinear_skip_matches_fixed_size_call():
    x = torch.rand(2, 3, 16, 16)
    a = bilinear_skip(x)
    b = torch.nn.functional.interpolate(x, size=(128, 128), mode="bilinear", align_corners=False)
    assert torch.equal(a, b)
    c = torch.nn.functional.interpolate(x, scale_factor=8, mode="bilinear", align_corners=False)
    assert torch.equal(a, c)
    assert bilinear_skip(torch.rand(1, 3, 24, 16)).shape == (1, 3, 192, 128)
