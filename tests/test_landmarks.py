import numpy as np
import pytest
import torch

from refvectors import load_vector
from dicmini.data.landmarks import (
    COMPONENT_RANGES, FLIP_PERMUTATION, LANDMARK_GROUPS, NUM_LANDMARKS, flip_image, flip_landmarks,
    heatmaps_to_landmarks, landmarks_to_heatmaps, merge_to_components,
)


def test_heatmaps_equal_reference_vectors():
    ref = load_vector("heatmap_seed3.pt")
    out = landmarks_to_heatmaps(ref["landmarks"])
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert out.shape == (5, 68, 32, 32)
    torch.testing.assert_close(out, ref["heatmaps"], atol=1e-6, rtol=0)
    out_np = landmarks_to_heatmaps(ref["landmarks"][0].numpy())
    assert isinstance(out_np, np.ndarray) and out_np.shape == (68, 32, 32)
    np.testing.assert_allclose(out_np, ref["heatmaps"][0].numpy(), atol=1e-6, rtol=0)


@pytest.mark.parametrize("pair", [("input", "output"), ("input_clamp", "output_clamp"), ("input5", "output5")])
def test_merge_equals_reference_vectors(pair):
    ref = load_vector("reduce5_seed4.pt")
    out = merge_to_components(ref[pair[0]])
    assert out.shape == ref[pair[1]].shape
    torch.testing.assert_close(out, ref[pair[1]], atol=1e-5, rtol=0)


def test_heatmap_formula_by_hand():
    pts = np.zeros((68, 2), np.float32)
    pts[0] = (8.0, 4.0)  # grid point (2, 1) at scale 1/4
    h = landmarks_to_heatmaps(pts)
    assert h[0, 1, 2] == pytest.approx(1.0)
    assert h[0, 1, 3] == pytest.approx(np.exp(-0.5))
    assert h[0, 2, 3] == pytest.approx(np.exp(-1.0))
    assert h[0].argmax() == 1 * 32 + 2


def test_merge_groups_and_detach():
    x = torch.zeros(1, 68, 4, 4)
    x[0, 40, 1, 1] = 2.0  # a point of the image-left eye group 36-41
    x.requires_grad_(True)
    out = merge_to_components(x)
    # channel 0 = left eye: the 2.0 peak normalised to 1; the other maps are 0 / 0.05 = 0
    assert out[0, 0, 1, 1].item() == pytest.approx(1.0)
    assert out[0, 1:].abs().sum() == 0
    assert merge_to_components(x, detach=True).requires_grad is False
    assert out.requires_grad is True
    assert [b - a for a, b in COMPONENT_RANGES] == [6, 6, 9, 20, 27]


def test_merge_rejects_other_channel_counts():
    with pytest.raises(ValueError, match="68 landmark or 5 component"):
        merge_to_components(torch.zeros(1, 20, 8, 8))
    with pytest.raises(ValueError, match=r"\[B, C, h, w\]"):
        merge_to_components(torch.zeros(68, 8, 8))


def test_flip_permutation_is_an_involution_and_swaps_sides():
    perm = np.array(FLIP_PERMUTATION)
    assert sorted(perm) == list(range(NUM_LANDMARKS))
    assert np.array_equal(perm[perm], np.arange(NUM_LANDMARKS))
    assert perm[36] == 45 and perm[39] == 42 and perm[0] == 16 and perm[17] == 26
    assert perm[48] == 54 and perm[60] == 64
    for fixed in (8, 27, 28, 29, 30, 33, 51, 57, 62, 66):
        assert perm[fixed] == fixed
    # groups map onto their mirror groups
    a, b = LANDMARK_GROUPS["right_eye"]
    assert set(perm[a:b]) == set(range(*LANDMARK_GROUPS["left_eye"]))


def test_flip_round_trip_and_pixel_convention():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 127, (68, 2)).astype(np.float32)
    once = flip_landmarks(pts, 128)
    np.testing.assert_allclose(flip_landmarks(once, 128), pts, atol=1e-5, rtol=0)
    # x -> W - 1 - x, with the left/right swap
    assert once[45, 0] == pytest.approx(127 - pts[36, 0])
    assert once[45, 1] == pytest.approx(pts[36, 1])
    img = rng.integers(0, 255, (128, 128, 3), dtype=np.uint8)
    np.testing.assert_array_equal(flip_image(flip_image(img)), img)
    # a pixel at column x moves to column W-1-x
    assert np.array_equal(flip_image(img)[5, 127 - 10], img[5, 10])
    with pytest.raises(ValueError, match="points"):
        flip_landmarks(np.zeros((5, 2)), 128)


def test_flipped_heatmaps_follow_the_flipped_image():
    pts = np.full((68, 2), 64.0, np.float32)
    pts[36] = (20.0, 50.0)  # image-left eye corner
    flipped = flip_landmarks(pts, 128)
    heat = landmarks_to_heatmaps(flipped)
    xy = heatmaps_to_landmarks(heat, method="soft")
    assert xy[45] == pytest.approx([107.0, 50.0], abs=0.05)


@pytest.mark.parametrize("method,tol", [("soft", 0.05), ("argmax", 2.0)])
def test_heatmaps_to_landmarks_recovers_points(method, tol):
    rng = np.random.default_rng(1)
    pts = rng.uniform(16, 112, (2, 68, 2)).astype(np.float32)  # soft-argmax window inside the grid
    heat = landmarks_to_heatmaps(torch.from_numpy(pts))
    got = heatmaps_to_landmarks(heat, method=method)
    assert got.shape == (2, 68, 2)
    assert (got - torch.from_numpy(pts)).abs().max() <= tol
    got_np = heatmaps_to_landmarks(heat.numpy(), method=method)
    np.testing.assert_allclose(got_np, got.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="method"):
        heatmaps_to_landmarks(heat, method="median")


def test_heatmap_bad_input():
    with pytest.raises(ValueError, match="points"):
        landmarks_to_heatmaps(np.zeros((68, 3)))
