"""The dead-leaves backdrop of the synthetic faces (``synthetic_backdrop``): photograph-like backgrounds that leave
the face itself untouched."""

import cv2
import numpy as np
import pytest

from dicmini.data.synthetic import dead_leaves, render_face
from dicmini.train import apply_overrides, get_config


def _face_interior(points: np.ndarray) -> np.ndarray:
    """Pixels well inside the hull of the 68 landmarks (the skin, eyes, nose and mouth)."""
    mask = np.zeros((128, 128), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    return cv2.erode(mask, np.ones((7, 7), np.uint8)).astype(bool)


@pytest.mark.parametrize("seed", [3, 11, 40])
def test_the_backdrop_replaces_the_background_and_keeps_the_face(seed):
    face, points = render_face(seed)
    leaves, leaf_points = render_face(seed, backdrop=1.0)
    assert np.array_equal(points, leaf_points)                       # same shape, same landmarks
    inside = _face_interior(points)
    assert inside.mean() > 0.1
    assert np.array_equal(face[inside], leaves[inside])              # same face, pixel for pixel
    corners = np.zeros((128, 128), bool)
    corners[:12, :12] = corners[:12, -12:] = True                    # background in every portrait
    assert np.abs(face[corners].astype(int) - leaves[corners]).mean() > 3


def test_the_backdrop_share_is_drawn_from_its_own_stream():
    changed = []
    for seed in range(12):
        changed.append(not np.array_equal(render_face(seed)[0], render_face(seed, backdrop=0.5)[0]))
        expected = dead_leaves.backdrop_stream(seed).random() < 0.5
        assert changed[-1] == expected
    assert 0 < sum(changed) < 12                                     # some faces have it, some do not
    assert np.array_equal(render_face(5, backdrop=1.0)[0], render_face(5, backdrop=1.0)[0])


def test_dead_leaves_image_is_in_range_deterministic_and_has_edges_at_many_scales():
    img = dead_leaves.dead_leaves(np.random.default_rng(1), 256)
    assert img.shape == (3, 256, 256) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0
    assert np.array_equal(img, dead_leaves.dead_leaves(np.random.default_rng(1), 256))
    assert not np.array_equal(img, dead_leaves.dead_leaves(np.random.default_rng(2), 256))
    # occlusion edges at fine and coarse scales: the image still varies after a small and after a large blur
    grey = img.mean(axis=0).astype(np.float64)
    fine = np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 1.0)).mean()
    coarse = cv2.GaussianBlur(grey, (0, 0), 8.0).std()
    assert fine > 0.003 and coarse > 0.02


def test_disc_radii_follow_the_inverse_cube_law():
    radii = dead_leaves._power_law_radii(np.random.default_rng(0), 20000, 100)
    lo, hi = (s * 100 for s in dead_leaves.RADIUS_RANGE)
    assert radii.min() >= lo and radii.max() <= hi
    # p(r) ~ r^-3 on [lo, hi]: 1 / r^2 is uniform, so the median radius is 1 / sqrt of the mean of the ends
    expected_median = 1 / np.sqrt((1 / lo**2 + 1 / hi**2) / 2)
    assert np.median(radii) == pytest.approx(expected_median, rel=0.03)


def test_a_bad_backdrop_share_is_refused():
    with pytest.raises(ValueError, match="backdrop"):
        render_face(0, backdrop=1.5)
    with pytest.raises(ValueError, match="synthetic_backdrop"):
        apply_overrides(get_config("tiny"), {"synthetic_backdrop": -0.1})

