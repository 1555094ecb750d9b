"""Softened eyes, brows and lips on training HR faces (``hr_soft_features``), and the landmarks of the ground-truth
guidance moved as a real face's estimate is (``guidance_jitter``)."""

import cv2
import numpy as np
import pytest
import torch

from dicmini.data import soft_features
from dicmini.data.datasets import make_sample
from dicmini.data.landmarks import heatmaps_to_landmarks
from dicmini.data.synthetic import render_face
from dicmini.metrics import nme
from dicmini.train import apply_overrides, augment, get_config, tasks
from dicmini.train.data import collate


def _regions(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pixels of the features (mask > 0.5) and those far from them (mask == 0)."""
    mask = soft_features.feature_mask(points, 128)
    return mask > 0.5, mask == 0


def test_soften_lowers_the_features_contrast_and_leaves_the_rest_alone():
    face, points = render_face(7)
    out = soft_features.soften_features(face, points, np.random.default_rng(0))
    assert out.dtype == np.uint8 and out.shape == face.shape
    inside, outside = _regions(points)
    assert inside.mean() > 0.03                                  # eyes, brows and lips cover some of the face
    assert np.array_equal(out[outside], face[outside])          # nothing changes away from them
    # inside, the strokes lose contrast: the local detail (image minus its blur) shrinks by the blend strength

    def detail(img):
        grey = img.astype(np.float64).mean(axis=2)
        return np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 2.0))[inside].mean()

    assert detail(out) < (1 - 0.5 * soft_features.STRENGTH[0]) * detail(face)
    assert np.array_equal(soft_features.soften_features(face, points, np.random.default_rng(0)), out)
    assert not np.array_equal(soft_features.soften_features(face, points, np.random.default_rng(1)), out)


def test_soften_rejects_bad_images_and_points():
    face, points = render_face(7)
    with pytest.raises(ValueError, match="square uint8 H x W x 3"):
        soft_features.soften_features(face[:, :100], points, np.random.default_rng(0))
    with pytest.raises(ValueError, match="68 finite"):
        soft_features.soften_features(face, points[:5], np.random.default_rng(0))


def test_jittered_guidance_moves_the_landmarks_about_as_far_as_asked():
    batch = collate([make_sample(*render_face(seed), name=str(seed), sigma=1.0) for seed in range(8)])
    exact = get_config("tiny")
    assert exact.guidance_jitter == 0.0 and augment.jittered_guidance(batch, exact, 3) is batch["heatmaps"]
    errors = {}
    for j in (0.03, 0.1):
        config = apply_overrides(exact, {"guidance_jitter": j, "heatmap_sigma": 1.0})
        maps = augment.jittered_guidance(batch, config, step=3)
        assert maps.shape == batch["heatmaps"].shape and maps.dtype == batch["heatmaps"].dtype
        assert torch.equal(augment.jittered_guidance(batch, config, step=3), maps)          # resume-exact
        moved = heatmaps_to_landmarks(maps, image_size=128)
        errors[j] = np.mean([nme(moved[i].numpy(), batch["landmarks"][i].numpy()) for i in range(8)])
    # a similarity shift of N(0, j) eye-corner distances plus point noise: about 1.2-2 j off on average
    assert 0.8 * 0.1 < errors[0.1] < 2.5 * 0.1 and errors[0.03] < 0.6 * errors[0.1]
    with pytest.raises(ValueError, match="guidance_jitter"):
        apply_overrides(exact, {"guidance_jitter": -0.1})


def test_the_task_guides_by_the_jittered_truth_only_on_truth_guided_iterations():
    config = apply_overrides(get_config("tiny"), {"guidance_jitter": 0.1, "truth_guidance": 0.5, "face_pool": False,
                                                  "hourglass_stage": "", "progress": False})
    task = tasks.make_task(config, "x")
    heat, moved = torch.zeros(1, 68, 32, 32), torch.ones(1, 68, 32, 32)
    steps = range(40)
    guided = [s for s in steps if task.truth_guided(s)]
    assert 0 < len(guided) < len(steps)
    for s in steps:
        got = task.guidance(heat, s, moved)
        assert (got is moved) if s in guided else (got is None)
