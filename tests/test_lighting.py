"""Random lighting on training HR faces (``hr_lighting``): what it changes, what it keeps."""

import numpy as np
import pytest
import torch

from dicmini.data import lighting
from dicmini.data.datasets import make_sample
from dicmini.data.degrade import denormalize, downsample, normalize
from dicmini.data.synthetic import render_face
from dicmini.train import apply_overrides, augment, get_config, tasks
from dicmini.train.data import collate


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


def test_dic_task_relights_hr_remakes_the_input_and_keeps_the_landmarks():
    config = apply_overrides(get_config("tiny"), {"hr_lighting": 1.0, "face_pool": False, "hourglass_stage": "",
                                                  "batch_size": 4, "progress": False})
    task = tasks.make_task(config, "x")
    batch = collate([make_sample(*render_face(seed), name=str(seed)) for seed in range(4)])
    out = augment.lighting(batch, task.config, step=5)
    assert torch.equal(out["heatmaps"], batch["heatmaps"]) and torch.equal(out["landmarks"], batch["landmarks"])
    for i in range(4):
        face = np.rint(denormalize(out["hr"][i])).astype(np.uint8)
        assert not torch.equal(out["hr"][i], batch["hr"][i])
        assert torch.equal(out["lr"][i], normalize(downsample(face)))
    assert torch.equal(augment.lighting(batch, task.config, step=5)["hr"], out["hr"])          # resume-exact
