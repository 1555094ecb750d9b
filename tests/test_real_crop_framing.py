"""Training faces framed like real crops: the crop rule on synthetic faces (``hr_crop_rule``) and a wider yaw
(``synthetic_yaw``)."""

import numpy as np
import pytest
import torch

from dicmini.data.crop import crop_with_landmarks
from dicmini.data.datasets import SyntheticFaces, make_sample
from dicmini.data.degrade import denormalize, downsample, normalize, to_uint8
from dicmini.data.face_pool import pool_path
from dicmini.data.face_shape import PORTRAIT_YAW, REAL_CROP_YAW, sample_shape
from dicmini.data.landmarks import heatmaps_to_landmarks
from dicmini.data.synthetic import render_face
from dicmini.train import apply_overrides, augment, get_config, tasks
from dicmini.train.data import build_datasets, collate


def _task_and_batch(p):
    config = apply_overrides(get_config("tiny"), {"hr_crop_rule": p, "face_pool": False, "hourglass_stage": "",
                                                  "batch_size": 4, "progress": False})
    samples = [make_sample(*render_face(seed), name=str(seed), sigma=config.heatmap_sigma) for seed in range(4)]
    return tasks.make_task(config, "x"), collate(samples)


def test_crop_rule_reframes_face_landmarks_heatmaps_and_input_together():
    task, batch = _task_and_batch(1.0)
    out = augment.crop_rule(batch, task.config, step=7)
    for i in range(4):
        face = to_uint8(denormalize(batch["hr"][i]))
        expected, points, _ = crop_with_landmarks(face, batch["landmarks"][i].numpy(), 128)
        new = to_uint8(denormalize(out["hr"][i]))
        assert np.array_equal(new, expected)                               # exactly `dicmini data prepare`'s crop
        assert np.allclose(out["landmarks"][i].numpy(), points, atol=1e-4)
        assert torch.equal(out["lr"][i], normalize(downsample(new)))       # the input is made from the new HR
        # the heatmaps peak at the moved landmarks (a 32-px grid: within a grid cell of 4 HR pixels)
        decoded = heatmaps_to_landmarks(out["heatmaps"][i][None], image_size=128)[0].numpy()
        assert np.abs(decoded - points).max() < 2.0
    # the eyes move up in the frame, as in the real-face benchmark's crops (eye centre at y ~ 45 of 128)
    eyes_before = batch["landmarks"][:, 36:48, 1].mean().item()
    eyes_after = out["landmarks"][:, 36:48, 1].mean().item()
    assert eyes_after < eyes_before
    assert torch.equal(augment.crop_rule(batch, task.config, step=7)["hr"], out["hr"])     # resume-exact
    assert torch.equal(batch["hr"][0], make_sample(*render_face(0), name="0")["hr"])   # the batch is not changed


def test_wider_yaw_draws_the_same_face_turned_further():
    yaws = {name: np.array([np.degrees(sample_shape(np.random.default_rng(s), 128, yaw).yaw) for s in range(300)])
            for name, yaw in (("portrait", PORTRAIT_YAW), ("real", REAL_CROP_YAW))}
    assert np.abs(yaws["portrait"]).max() <= PORTRAIT_YAW[1] + 1e-9
    assert np.abs(yaws["real"]).max() <= REAL_CROP_YAW[1] + 1e-9
    assert yaws["real"].std() > 2 * yaws["portrait"].std()
    # the same random numbers: identical identity and expression, only the pose differs
    a = sample_shape(np.random.default_rng(3), 128, PORTRAIT_YAW)
    b = sample_shape(np.random.default_rng(3), 128, REAL_CROP_YAW)
    assert a.params == b.params and np.array_equal(a.frame_points, b.frame_points)
    # the default is the portrait yaw, pixel for pixel
    assert all(np.array_equal(x, y) for x, y in zip(render_face(11), render_face(11, yaw=PORTRAIT_YAW)))


def test_the_yaw_setting_reaches_the_training_faces_and_their_pool_file(tmp_path):
    config = apply_overrides(get_config("tiny"), {"synthetic_yaw": (20.0, 40.0), "face_pool": False,
                                                  "train_size": 8, "val_size": 2})
    train, val = build_datasets(config)
    assert train.yaw == (20.0, 40.0) and val.yaw == PORTRAIT_YAW          # validation faces keep the default
    turned, _ = render_face(train.seed(5), yaw=(20.0, 40.0))
    assert torch.equal(train[5]["hr"], normalize(turned))
    assert "yaw" not in pool_path(0, 8, 128, tmp_path).name
    assert pool_path(0, 8, 128, tmp_path, (20.0, 40.0)).name.startswith("synthetic-0-8-128px-yaw20-40-")
    pooled = SyntheticFaces(3, pool=False, yaw=(20.0, 40.0))
    assert pooled.yaw == (20.0, 40.0)
    with pytest.raises(ValueError, match="synthetic_yaw"):
        apply_overrides(get_config("tiny"), {"synthetic_yaw": (0.0, 20.0)})

