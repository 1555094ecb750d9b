"""Random lighting on training HR faces (``hr_lighting``): what it changes, what it keeps."""

import numpy as np
import pytest

from dicmini.data import lighting
from dicmini.data.synthetic import render_face


def test_relight_changes_brightness_smoothly_and_is_a_function_of_the_stream():
    face, _ = render_face(5)
    out = lighting.relight(face, np.random.default_rng(0))
    assert out.dtype == np.uint8 and out.shape == face.shape
    assert np.array_equal(lighting.relight(face, np.random.default_rng(0)), out)
    assert not np.array_equal(lighting.relight(face, np.random.default_rng(1)), out)
    # a light changes brightness and colour, not detail: the light factor itself is smooth ...
    field = lighting.light_field(128, np.random.default_rng(2))
    assert field.shape == (128, 128) and field.min() > 0
    assert np.abs(np.diff(np.log(field), axis=1)).max() < 0.05
    # ... and the relit face keeps its edges where they were (the gradients of the two images correlate)
    gx = [np.diff(img.astype(float).mean(axis=2), axis=1).ravel() for img in (face, out)]
    assert np.corrcoef(*gx)[0, 1] > 0.8


def test_a_strong_ramp_darkens_one_side(monkeypatch):
    monkeypatch.setattr(lighting, "RAMP", (0.7, 0.7))
    monkeypatch.setattr(lighting, "UNEVEN_SIGMA", 1e-6)
    field = lighting.light_field(64, np.random.default_rng(4))
    assert field.max() / field.min() > 4                  # 1 - 0.7 .. 1 + 0.7, along the light's direction


def test_relight_rejects_what_is_not_a_square_rgb_uint8_image():
    with pytest.raises(ValueError, match="square uint8 H x W x 3"):
        lighting.relight(np.zeros((8, 6, 3), np.uint8), np.random.default_rng(0))
