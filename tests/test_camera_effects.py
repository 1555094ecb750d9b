"""Random camera effects on training HR faces (``hr_camera``): what they change, what they keep."""

import numpy as np
import pytest
import torch

from dicmini.data import camera_effects as ce
from dicmini.data.datasets import make_sample
from dicmini.data.degrade import denormalize, downsample, normalize
from dicmini.data.synthetic import render_face
from dicmini.train import apply_overrides, augment, get_config, tasks
from dicmini.train.data import collate


def test_effects_keep_size_and_type_and_each_one_changes_the_face(monkeypatch):
    face, _ = render_face(5)
    out = ce.camera_effects(face, np.random.default_rng(0))
    assert out.dtype == np.uint8 and out.shape == face.shape
    assert np.array_equal(ce.camera_effects(face, np.random.default_rng(0)), out)      # a function of the stream
    monkeypatch.setattr(ce, "EFFECT_PROBABILITY", 0.0)
    assert np.array_equal(ce.camera_effects(face, np.random.default_rng(0)), face)     # no effect: the same face
    monkeypatch.setattr(ce, "EFFECT_PROBABILITY", 1.0)
    blurred = ce.camera_effects(face, np.random.default_rng(1))
    # blur, noise and JPEG together: high frequencies drop (the Laplacian's energy), the picture stays close
    lap = [np.abs(np.diff(image.astype(float), 2, axis=0)).mean() for image in (face, blurred)]
    assert lap[1] < lap[0] and np.abs(blurred.astype(int) - face).mean() < 12


def test_effects_reject_what_is_not_an_rgb_uint8_image():
    with pytest.raises(ValueError, match="uint8 H x W x 3"):
        ce.camera_effects(np.zeros((8, 8), np.uint8), np.random.default_rng(0))


def _task_and_batch(p):
    config = apply_overrides(get_config("tiny"), {"hr_camera": p, "face_pool": False, "hourglass_stage": "",
                                                  "batch_size": 4, "progress": False})
    samples = [make_sample(*render_face(seed), name=str(seed)) for seed in range(4)]
    return tasks.make_task(config, "x"), collate(samples)


def test_dic_task_remakes_the_input_from_the_camera_face_and_keeps_the_landmarks():
    task, batch = _task_and_batch(1.0)
    out = augment.camera(batch, task.config, step=7)
    assert torch.equal(out["heatmaps"], batch["heatmaps"]) and torch.equal(out["landmarks"], batch["landmarks"])
    changed = [i for i in range(4) if not torch.equal(out["hr"][i], batch["hr"][i])]
    assert changed                                       # p = 1: every face went through a camera (most change)
    for i in range(4):
        face = np.rint(denormalize(out["hr"][i])).astype(np.uint8)
        assert torch.equal(out["lr"][i], normalize(downsample(face)))        # the input is made from the new HR
    again = augment.camera(batch, task.config, step=7)
    assert torch.equal(again["hr"], out["hr"])           # a function of the seed and the iteration: resume-exact
    assert not torch.equal(augment.camera(batch, task.config, step=8)["hr"], out["hr"])
    assert torch.equal(batch["hr"][0], make_sample(*render_face(0), name="0")["hr"])      # the batch is not changed

