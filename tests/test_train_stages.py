"""The one training path: task objects, staged landmark-branch pre-training, the face pool, a slower landmark
branch, ground-truth guidance, blurred pre-training images."""

import dataclasses
import json
import warnings

import numpy as np
import pytest
import torch

from dicmini.cli import main as cli_main
from dicmini.data import face_pool
from dicmini.data.datasets import SyntheticFaces
from dicmini.data.synthetic import render_face
from dicmini.train import Trainer, apply_overrides, get_config
from dicmini.train import config as config_module
from dicmini.train import tasks
from dicmini.train.checkpoint import read_training_checkpoint
from dicmini.train.data import collate
from dicmini.train.stages import STAGE_FOLDER, stage_checkpoint, stage_complete

SMALL = {"mid_channels": 4, "num_blocks": 1, "hg_mid_channels": 8, "upscale_factor": 2, "num_fusion_blocks": 1,
         "batch_size": 2, "train_size": 8, "val_size": 2, "init": "default", "progress": False, "lr": 1e-3,
         "val_every": 1000, "ckpt_every": 1000, "log_every": 1, "iterations": 4, "seed": 0, "num_steps": 2,
         "threads": 0, "face_pool": False, "hourglass_stage": "", "truth_guidance": 0.0,
         "hourglass_lr_scale": 1.0, "release_hourglass_step": 0}


def small(**changes):
    return apply_overrides(get_config("tiny"), {**SMALL, **changes})


@pytest.fixture(autouse=True)
def _quiet():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*frozen until.*")
        yield
    torch.set_num_threads(threads)


@pytest.fixture
def mini_stage(monkeypatch):
    """A registered 3-iteration hourglass stage of width 8."""
    stage = dataclasses.replace(config_module._tiny_hourglass(), name="mini-stage", iterations=3, train_size=8,
                                val_size=2, val_every=2, ckpt_every=2, face_pool=False, hg_mid_channels=8,
                                num_steps=2, batch_size=2, progress=False, threads=0)
    monkeypatch.setitem(config_module.CONFIGS, "mini-stage", lambda: dataclasses.replace(stage))
    return stage


def test_each_task_is_an_object_of_its_own():
    assert isinstance(tasks.make_task(small(), "x"), tasks.DICTraining)
    assert isinstance(tasks.make_task(small(task="dicgan"), "x"), tasks.DICGANTraining)
    hg = tasks.make_task(apply_overrides(get_config("tiny-hourglass"), {"face_pool": False}), "x")
    assert isinstance(hg, tasks.HourglassPretraining)
    assert (hg.kind, hg.best_metric, hg.higher_is_better) == ("hourglass", "nme", False)


def test_face_pool_holds_exactly_the_rendered_faces(tmp_path, monkeypatch):
    monkeypatch.setenv("DICMINI_FACE_POOL", str(tmp_path))
    pooled = SyntheticFaces(3, first_seed=5, size=32, pool=True)
    files = list(tmp_path.glob("synthetic-5-3-32px-*.npz"))
    assert len(files) == 1
    image, points = render_face(6, size=32)
    sample = pooled[1]
    assert sample["name"] == "seed_6"
    torch.testing.assert_close(sample["landmarks"], torch.from_numpy(points))
    fresh = SyntheticFaces(3, first_seed=5, size=32)[1]
    for key in ("lr", "hr", "heatmaps"):
        torch.testing.assert_close(sample[key], fresh[key], rtol=0, atol=0)
    # read back, not rendered again: a changed file is what the next pool returns
    with np.load(files[0]) as data:
        images, marks = data["images"].copy(), data["landmarks"]
    images[1] = 0
    np.savez(files[0], images=images, landmarks=marks)
    assert torch.all(SyntheticFaces(3, first_seed=5, size=32, pool=True)[1]["hr"] < 0)


def test_face_pool_name_follows_the_renderer(tmp_path, monkeypatch):
    first = face_pool.pool_path(0, 10, 32, tmp_path)
    monkeypatch.setattr(face_pool, "PROBE_SEED", 777)
    assert face_pool.pool_path(0, 10, 32, tmp_path) != first


def test_truth_guidance_is_a_function_of_seed_and_iteration(tmp_path, monkeypatch):
    task = tasks.make_task(small(truth_guidance=0.5), tmp_path)
    coins = [task.truth_guided(step) for step in range(200)]
    assert coins == [task.truth_guided(step) for step in range(200)]
    assert 70 < sum(coins) < 130
    assert not any(tasks.make_task(small(), tmp_path).truth_guided(step) for step in range(50))
    trainer = Trainer(small(truth_guidance=1.0), tmp_path)
    seen = []
    model = trainer.model
    original = type(model).forward

    def spy(self, lr, guidance=None):
        seen.append(guidance)
        return original(self, lr, guidance)

    monkeypatch.setattr(type(model), "forward", spy)
    batch = collate([trainer.train_set[i] for i in range(2)])
    trainer.train_step([batch])
    assert seen and seen[0] is not None
    torch.testing.assert_close(seen[0], batch["heatmaps"])


def test_prior_dropout_guides_by_zeros_on_its_share_of_the_iterations(tmp_path):
    heat = torch.rand(2, 68, 8, 8)
    task = tasks.make_task(small(prior_dropout=0.5), tmp_path)
    picks = [task.guidance(heat, step) for step in range(200)]
    zeros = [g is not None for g in picks]
    assert all(g is None or (torch.count_nonzero(g) == 0 and g.shape == heat.shape) for g in picks)
    assert 70 < sum(zeros) < 130
    assert zeros == [task.guidance(heat, step) is not None for step in range(200)]    # resume-exact
    # the ground truth, when drawn, comes first; without either setting the model guides itself
    both = tasks.make_task(small(truth_guidance=1.0, prior_dropout=1.0), tmp_path)
    assert all(both.guidance(heat, step) is heat for step in range(20))
    assert all(tasks.make_task(small(), tmp_path).guidance(heat, step) is None for step in range(20))


def test_slower_landmark_branch_keeps_its_ratio_through_schedule_and_resume(tmp_path):
    config = small(hourglass_lr_scale=0.25, lr_schedule="cosine", min_lr_ratio=0.1, iterations=6)
    trainer = Trainer(config, tmp_path / "a")
    groups = trainer.optimizers["generator"].param_groups
    landmark = {id(p) for p in trainer.model.landmark_estimator.parameters()}
    assert [len(g["params"]) for g in groups][1] == len(landmark)
    assert all(id(p) in landmark for p in groups[1]["params"])
    batch = collate([trainer.train_set[i] for i in range(2)])
    for _ in range(3):
        trainer.train_step([batch])
    assert groups[1]["lr"] == pytest.approx(0.25 * groups[0]["lr"])
    factor = 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * 3 / 6))
    assert groups[0]["lr"] == pytest.approx(1e-3 * factor)
    trainer.save("last.pt")
    resumed = Trainer.from_checkpoint(tmp_path / "a" / "last.pt", overrides=["lr=2e-3"])
    g = resumed.optimizers["generator"].param_groups
    assert g[0]["lr"] == pytest.approx(2e-3 * factor) and g[1]["lr"] == pytest.approx(0.25 * 2e-3 * factor)
    with pytest.raises(ValueError, match="hourglass_lr_scale"):
        Trainer.from_checkpoint(tmp_path / "a" / "last.pt", out_dir=tmp_path / "b",
                                overrides=["hourglass_lr_scale=1.0"])


def test_blurred_pretraining_images_are_deterministic(tmp_path):
    config = apply_overrides(get_config("tiny-hourglass"), {"face_pool": False, "hourglass_degrade": 0.5,
                                                              "train_size": 8, "hg_mid_channels": 8})
    task = tasks.make_task(config, tmp_path)
    hr = torch.rand(8, 3, 32, 32)
    a, b = task.degrade(hr, 3), task.degrade(hr, 3)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    changed = [not torch.equal(a[i], hr[i]) for i in range(8)]
    assert 0 < sum(changed) < 8
    clear = tasks.make_task(dataclasses.replace(config, hourglass_degrade=0.0), tmp_path)
    assert torch.equal(clear.degrade(hr, 3), hr)


def test_staged_run_pretrains_then_starts_from_the_stage(tmp_path, mini_stage, capsys):
    out = tmp_path / "run"
    args = ["train", "--config", "tiny", "--out", str(out), "--quiet"]
    args += [f"--set={k}={v}" for k, v in {**SMALL, "hourglass_stage": "mini-stage", "iterations": 2}.items()
             if k not in ("face_pool", "truth_guidance", "hourglass_lr_scale")]
    assert cli_main(args) == 0
    stage = stage_checkpoint(out)
    assert stage.parent.name == STAGE_FOLDER and stage.is_file()
    stage_state = read_training_checkpoint(stage)
    assert stage_state["kind"] == "hourglass" and stage_state["step"] == 3
    # the main run's landmark branch started from the stage: with the branch frozen it is still equal
    assert stage_complete(out, small(hourglass_stage="mini-stage"))
    config = json.loads((out / "config.json").read_text())
    assert config["hourglass_stage"] == "mini-stage" and config["init_hourglass"] == ""
    frozen = tmp_path / "frozen"
    args_frozen = [a if not a.startswith("--set=iterations") else "--set=iterations=1" for a in args]
    args_frozen = [a if a != str(out) else str(frozen) for a in args_frozen] + ["--set", "release_hourglass_step=9"]
    assert cli_main(args_frozen) == 0
    main_state = read_training_checkpoint(frozen / "last.pt")["model"]
    stage_weights = read_training_checkpoint(stage_checkpoint(frozen))["model"]
    for key, value in stage_weights.items():
        torch.testing.assert_close(main_state[f"landmark_estimator.{key}"], value, rtol=0, atol=0)


def test_stage_width_must_match_and_a_missing_stage_is_announced(tmp_path, mini_stage):
    from dicmini.train.stages import run_hourglass_stage

    with pytest.raises(ValueError, match="hg_mid_channels=64, this run's has 8"):
        run_hourglass_stage(small(hourglass_stage="tiny-hourglass"), tmp_path)
    trainer = Trainer(small(hourglass_stage="mini-stage"), tmp_path)
    assert any("landmark branch starts untrained" in note for note in trainer.notes)


def test_stage_is_not_trained_twice_and_resumes_when_cut(tmp_path, mini_stage):
    config = small(hourglass_stage="mini-stage")
    from dicmini.train.stages import run_hourglass_stage

    first = run_hourglass_stage(config, tmp_path)
    assert first["step"] == 3
    assert run_hourglass_stage(config, tmp_path) is None  # complete: not trained again
    cut = tmp_path / "cut"
    partial = Trainer(dataclasses.replace(mini_stage), cut / STAGE_FOLDER)
    partial.fit(stop_at=2)
    summary = run_hourglass_stage(config, cut)
    assert summary["step"] == 3
    a = read_training_checkpoint(stage_checkpoint(tmp_path))["model"]
    b = read_training_checkpoint(stage_checkpoint(cut))["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


@pytest.mark.parametrize("changes,match", [
    ({"hourglass_stage": "tiny"}, "must be a 'hourglass' config"),
    ({"hourglass_stage": "nope"}, "unknown config 'nope'"),
    ({"hourglass_stage": "mini-stage", "init_hourglass": "x.pt"}, "only for DIC/DICGAN runs without init_hourglass"),
    ({"truth_guidance": 1.5}, "truth_guidance: expected a probability"),
    ({"hourglass_lr_scale": 0.0}, "hourglass_lr_scale: expected > 0"),
])
def test_stage_and_lever_settings_are_checked(changes, match, mini_stage):
    with pytest.raises(ValueError, match=match):
        small(**changes)


def test_discriminator_warm_up_trains_only_the_discriminator(tmp_path):
    trainer = Trainer(small(task="dicgan", d_warmup=2, pixel_init=0, feature_weight=0.0), tmp_path)
    batch = collate([trainer.train_set[i] for i in range(2)])
    generator = [p.detach().clone() for p in trainer.model.parameters()]
    disc = [p.detach().clone() for p in trainer.discriminator.parameters()]
    logs = trainer.train_step([batch])
    assert logs["grad_norm"] == 0.0 and "d_loss" in logs
    assert all(torch.equal(a, b) for a, b in zip(generator, trainer.model.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(disc, trainer.discriminator.parameters()))
    trainer.train_step([batch])
    trainer.train_step([batch])  # iteration 3: past the warm-up, the generator learns
    assert not all(torch.equal(a, b) for a, b in zip(generator, trainer.model.parameters()))


def test_tiny_dicgan_fine_tunes_the_shipped_tiny_model():
    config = get_config("tiny-dicgan")
    tiny = get_config("tiny")
    assert (config.task, config.init_generator, config.d_warmup) == ("dicgan", "tiny", 80)
    assert config.model_kwargs() == tiny.model_kwargs() and config.heatmap_sigma == tiny.heatmap_sigma


def test_landmark_branch_warm_up_ramps_its_rate_from_the_release(tmp_path):
    config = small(hourglass_lr_scale=0.5, hourglass_warmup=4, release_hourglass_step=2, lr_schedule="multistep",
                   milestones=(100,), iterations=8)
    trainer = Trainer(config, tmp_path)
    batch = collate([trainer.train_set[i] for i in range(2)])
    rates = []
    for _ in range(7):
        rates.append([g["lr"] for g in trainer.optimizers["generator"].param_groups])
        trainer.train_step([batch])
    assert all(r[0] == pytest.approx(1e-3) for r in rates)
    assert [r[1] / 5e-4 for r in rates] == pytest.approx([0, 0, 0.25, 0.5, 0.75, 1.0, 1.0])
