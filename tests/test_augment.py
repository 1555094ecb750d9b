"""The per-iteration changes of training faces together (dicmini.train.augment): defaults, bounds and order.
Each change on its own: test_real_crop_framing.py, test_soft_features.py, test_lighting.py, test_camera_effects.py."""

import numpy as np
import pytest
import torch

from dicmini.data.datasets import make_sample
from dicmini.data.degrade import denormalize, downsample, normalize
from dicmini.data.synthetic import render_face
from dicmini.train import apply_overrides, augment, get_config, tasks
from dicmini.train.data import collate


def _batch(sigma: float = 2.0):
    return collate([make_sample(*render_face(seed), name=str(seed), sigma=sigma) for seed in (1, 2)])


@pytest.mark.parametrize("setting, change", [("hr_crop_rule", augment.crop_rule), ("hr_lighting", augment.lighting),
                                             ("hr_camera", augment.camera),
                                             ("hr_soft_features", augment.soft_features)])
def test_each_change_is_off_by_default_and_its_setting_is_a_probability(setting, change):
    config = get_config("tiny")
    assert getattr(config, setting) == 0.0
    batch = _batch()
    assert change(batch, config, step=3) is batch
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match=setting):
            apply_overrides(config, {setting: bad})


def test_augment_frames_then_softens_then_lights_then_films_each_face():
    config = apply_overrides(get_config("tiny"), {"hr_crop_rule": 1.0, "hr_lighting": 1.0, "hr_camera": 1.0,
                                                  "hr_soft_features": 1.0, "face_pool": False})
    batch = collate([make_sample(*render_face(seed), name=str(seed), sigma=config.heatmap_sigma) for seed in (1, 2)])
    out = augment.augment(batch, config, step=4)
    framed = augment.soft_features(augment.crop_rule(batch, config, 4), config, 4)
    again = augment.camera(augment.lighting(framed, config, 4), config, 4)
    for key in ("hr", "lr", "heatmaps", "landmarks"):
        assert torch.equal(out[key], again[key])
    assert augment.augment(batch, get_config("tiny"), step=4) is batch      # none of them by default


@pytest.mark.parametrize("setting, change, every_face", [
    ("hr_lighting", augment.lighting, True), ("hr_soft_features", augment.soft_features, True),
    ("hr_camera", augment.camera, False)])      # a camera applies each effect with probability 0.6: most change
def test_each_pixel_change_remakes_the_input_and_keeps_the_landmarks(setting, change, every_face):
    config = apply_overrides(get_config("tiny"), {setting: 1.0, "face_pool": False, "hourglass_stage": "",
                                                  "batch_size": 4, "progress": False})
    config = tasks.make_task(config, "x").config
    batch = collate([make_sample(*render_face(seed), name=str(seed)) for seed in range(4)])
    out = change(batch, config, step=7)
    assert torch.equal(out["heatmaps"], batch["heatmaps"]) and torch.equal(out["landmarks"], batch["landmarks"])
    changed = [i for i in range(4) if not torch.equal(out["hr"][i], batch["hr"][i])]
    assert len(changed) == 4 if every_face else changed
    for i in range(4):
        face = np.rint(denormalize(out["hr"][i])).astype(np.uint8)
        assert torch.equal(out["lr"][i], normalize(downsample(face)))        # the input is made from the new HR
    assert torch.equal(change(batch, config, step=7)["hr"], out["hr"])      # a function of seed and iteration
    assert not torch.equal(change(batch, config, step=8)["hr"], out["hr"])
    assert torch.equal(batch["hr"][0], make_sample(*render_face(0), name="0")["hr"])      # the batch is not changed


def test_the_camera_settings_reach_the_camera():
    with pytest.raises(ValueError, match="hr_camera_blur"):
        apply_overrides(get_config("tiny"), {"hr_camera_blur": (2.0, 1.0)})
    with pytest.raises(ValueError, match="hr_camera_effects"):
        apply_overrides(get_config("tiny"), {"hr_camera_effects": 1.5})
    base = apply_overrides(get_config("tiny"), {"hr_camera": 1.0})
    off = apply_overrides(base, {"hr_camera_effects": 0.0})
    strong = apply_overrides(base, {"hr_camera_effects": 1.0, "hr_camera_blur": (2.5, 3.0)})
    batch = _batch()
    assert torch.equal(augment.camera(batch, off, 0)["hr"], batch["hr"])         # a camera with no effect
    soft, hard = augment.camera(batch, base, 0)["hr"], augment.camera(batch, strong, 0)["hr"]
    assert not torch.equal(soft, hard)
