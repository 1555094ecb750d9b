"""Random camera effects on training HR faces (``hr_camera``): what they change, what they keep."""

import numpy as np
import pytest

from dicmini.data import camera_effects as ce
from dicmini.data.synthetic import render_face


def test_effects_keep_size_and_type_and_each_one_changes_the_face():
    face, _ = render_face(5)
    out = ce.camera_effects(face, np.random.default_rng(0))
    assert out.dtype == np.uint8 and out.shape == face.shape
    assert np.array_equal(ce.camera_effects(face, np.random.default_rng(0)), out)      # a function of the stream
    assert np.array_equal(ce.camera_effects(face, np.random.default_rng(0), ce.BLUR_SIGMA, ce.EFFECT_PROBABILITY), out)
    assert np.array_equal(ce.camera_effects(face, np.random.default_rng(0), probability=0.0), face)  # no effect
    blurred = ce.camera_effects(face, np.random.default_rng(1), probability=1.0)
    # blur, noise and JPEG together: high frequencies drop (the Laplacian's energy), the picture stays close
    lap = [np.abs(np.diff(image.astype(float), 2, axis=0)).mean() for image in (face, blurred)]
    assert lap[1] < lap[0] and np.abs(blurred.astype(int) - face).mean() < 12


def test_effects_reject_what_is_not_an_rgb_uint8_image():
    with pytest.raises(ValueError, match="uint8 H x W x 3"):
        ce.camera_effects(np.zeros((8, 8), np.uint8), np.random.default_rng(0))


def test_a_stronger_blur_takes_more_of_the_fine_detail():
    face, _ = render_face(8)

    def detail(image):
        return np.abs(np.diff(image.astype(float), 2, axis=0)).mean()

    mild = ce.camera_effects(face, np.random.default_rng(3), (0.5, 0.5), probability=1.0)
    strong = ce.camera_effects(face, np.random.default_rng(3), (2.5, 2.5), probability=1.0)
    assert detail(strong) < 0.7 * detail(mild) < 0.7 * detail(face)
