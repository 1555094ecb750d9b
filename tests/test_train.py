"""Trainer: loss falls, exact resume, NaN guard, DICGAN step order, frozen hourglass, accumulation, sampler."""

import json
import math
import warnings

import numpy as np
import pytest
import torch

import dicmini.train.tasks as trainer_module  # the task objects compute the losses
from dicmini.models import load_pretrained
from dicmini.train import Trainer, TrainingDiverged, apply_overrides, evaluate, get_config, learning_curve
from dicmini.train.checkpoint import capture_rng_state, read_training_checkpoint
from dicmini.train.data import IterationBatchSampler, collate, global_batch

TINY = {"mid_channels": 4, "num_blocks": 1, "hg_mid_channels": 8, "upscale_factor": 2, "num_fusion_blocks": 1,
        "batch_size": 2, "train_size": 8, "val_size": 2, "init": "default", "progress": False, "lr": 1e-3,
        "milestones": (2, 3), "gamma": 0.5, "val_every": 1000, "ckpt_every": 1000, "log_every": 1,
        "iterations": 4, "seed": 0, "num_steps": 4, "lr_schedule": "multistep", "heatmap_sigma": 1.0,
        "align_weight": 0.1, "reconstruction_init_scale": 1.0, "threads": 0,
        # the recipe levers of the tiny config off: the reference behaviour these tests pin
        "hourglass_stage": "", "face_pool": False, "truth_guidance": 0.0, "hourglass_lr_scale": 1.0,
        "release_hourglass_step": 0}


def tiny(**changes):
    return apply_overrides(get_config("tiny"), {**TINY, **changes})


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*RANDOM weights.*")
        warnings.filterwarnings("ignore", message=".*not writable.*")
        yield
    torch.set_num_threads(threads)


def fixed_batch(trainer, n=2):
    return collate([trainer.train_set[i] for i in range(n)])


def assert_same_state(a, b, where="state"):
    """Recursive bit-exact equality of nested dicts/lists of tensors and numbers."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_state(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_loss_falls_on_a_fixed_batch(tmp_path):
    trainer = Trainer(tiny(iterations=1000, milestones=(1000,)), tmp_path)
    batch = fixed_batch(trainer)
    losses = [trainer.train_step([batch])["total"] for _ in range(30)]
    assert all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5]), losses
    assert trainer.step == 30


def test_fit_writes_log_checkpoints_and_validation(tmp_path):
    trainer = Trainer(tiny(val_every=2, ckpt_every=2), tmp_path)
    summary = trainer.fit()
    assert summary["step"] == 4 and summary["stopped"] == "completed"
    records = trainer.log.read()
    assert [r["step"] for r in records if r["type"] == "train"] == [1, 2, 3, 4]
    vals = [r for r in records if r["type"] == "val"]
    assert [v["step"] for v in vals] == [2, 4] and vals[0]["protocol"] == "mmagic"
    assert len(vals[0]["psnr"]) == len(vals[0]["ssim"]) == len(vals[0]["nme"]) == 4
    for line in (tmp_path / "log.jsonl").read_text().splitlines():
        json.loads(line)  # strict JSON, one object per line
    ckpt = read_training_checkpoint(tmp_path / "last.pt")
    assert ckpt["format"] == "dicmini" and ckpt["kind"] == "dicnet" and ckpt["step"] == 4
    assert ckpt["train_config"]["mid_channels"] == 4 and ckpt["best"]["step"] in (2, 4)
    model = load_pretrained(tmp_path / "best.pt")  # a training checkpoint loads as a model
    assert model.config["mid_channels"] == 4
    assert json.loads((tmp_path / "config.json").read_text())["iterations"] == 4
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files
    # the validations as a learning curve (notebook 07), gains over the bicubic PSNR of the validation faces
    bicubic = evaluate(trainer.model, trainer.val_set).bicubic_psnr
    curve = learning_curve(records, bicubic)
    assert [p["it"] for p in curve] == [2, 4] and curve[1]["probe"] == 2
    assert curve[1]["gain_db"] == pytest.approx([p - bicubic for p in vals[1]["psnr"]])
    assert curve[1]["nme"] == vals[1]["nme"] and len(curve[0]["gain_db"]) == 4


def test_lr_schedule_steps_per_iteration(tmp_path):
    trainer = Trainer(tiny(milestones=(2, 3), gamma=0.5), tmp_path)
    batch = fixed_batch(trainer)
    lrs = [trainer.train_step([batch])["lr"] for _ in range(4)]
    assert lrs == pytest.approx([1e-3, 1e-3, 5e-4, 2.5e-4])


@pytest.mark.parametrize("task", ["dic", "dicgan"])
def test_resume_is_bit_exact(tmp_path, task):
    extra = {"task": task, "pixel_init": 1, "disc_repeat": 2, "d_milestones": (2,)} if task == "dicgan" else {}
    config = tiny(iterations=4 if task == "dic" else 3, val_every=1, **extra)
    full = Trainer(config, tmp_path / "full")
    full.fit()
    full_state, full_rng = full.state_payload(), capture_rng_state()

    first = Trainer(config, tmp_path / "split")
    first.fit(stop_at=2)
    assert read_training_checkpoint(tmp_path / "split" / "last.pt")["step"] == 2
    resumed = Trainer.from_checkpoint(tmp_path / "split" / "last.pt")
    assert resumed.step == 2
    resumed.fit()
    resumed_state, resumed_rng = resumed.state_payload(), capture_rng_state()

    for key in ("model", "optimizers", "schedulers", "best") + (("discriminator",) if task == "dicgan" else ()):
        assert_same_state({key: full_state[key]}, {key: resumed_state[key]})
    assert full_state["step"] == resumed_state["step"] == config.iterations
    assert torch.equal(full_rng["torch"], resumed_rng["torch"]) and full_rng["numpy"] == resumed_rng["numpy"]
    steps = [r["step"] for r in resumed.log.read() if r["type"] == "train"]
    assert steps == list(range(1, config.iterations + 1))  # the log continues without duplicates


def test_nan_guard_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    real = trainer_module.dic_generator_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss, terms = real(*args, **kwargs)
        if calls["n"] >= 4:
            loss = loss * float("nan")
            terms = {**terms, "total": float("nan")}
        return loss, terms

    monkeypatch.setattr(trainer_module, "dic_generator_loss", poisoned)
    trainer = Trainer(tiny(iterations=6, ckpt_every=2), tmp_path)
    with pytest.raises(TrainingDiverged) as err:
        trainer.fit()
    message = str(err.value)
    assert "non-finite loss at iteration 4" in message and str(tmp_path / "last.pt") in message
    assert "\n" not in message
    good = read_training_checkpoint(tmp_path / "last.pt")
    assert good["step"] == 2
    assert all(torch.isfinite(v).all() for v in good["model"].values())
    assert trainer.log.read()[-1]["type"] == "diverged"


def test_save_refuses_non_finite_weights(tmp_path):
    trainer = Trainer(tiny(), tmp_path)
    trainer.save("last.pt")
    with torch.no_grad():
        next(trainer.model.parameters()).fill_(float("inf"))
    with pytest.raises(TrainingDiverged, match="refusing to write"):
        trainer.save("last.pt")
    assert all(torch.isfinite(v).all() for v in read_training_checkpoint(tmp_path / "last.pt")["model"].values())


def test_dicgan_warm_up_and_frozen_discriminator_during_generator_step(tmp_path):
    trainer = Trainer(tiny(task="dicgan", pixel_init=2, disc_repeat=2), tmp_path)
    disc = trainer.discriminator
    calls = []

    def record(module, inputs):
        calls.append((trainer.step, all(not p.requires_grad for p in module.parameters()), inputs[0].requires_grad))

    disc.register_forward_pre_hook(record)
    batch = fixed_batch(trainer)
    d_before = {k: v.clone() for k, v in disc.state_dict().items()}
    for step in range(2):  # warm-up: pixel + alignment only, no D update
        g_before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        logs = trainer.train_step([batch])
        assert "gan" not in logs and "feature" not in logs and "d_loss" not in logs
        assert any(not torch.equal(v, trainer.model.state_dict()[k]) for k, v in g_before.items())
    assert calls == []
    assert all(torch.equal(v, disc.state_dict()[k]) for k, v in d_before.items())

    logs = trainer.train_step([batch])
    assert {"gan", "feature", "d_loss"} <= set(logs)
    g_calls = [c for c in calls if c[2]]  # D on the SR image with a graph: the generator step
    d_calls = [c for c in calls if not c[2]]  # D on HR and on the detached SR: the discriminator steps
    assert len(g_calls) == 1 and g_calls[0][1] is True  # D frozen during the generator step
    assert len(d_calls) == 2 * 2 and all(frozen is False for _, frozen, _ in d_calls)  # disc_repeat=2
    assert any(not torch.equal(v, disc.state_dict()[k]) for k, v in d_before.items())
    assert trainer.optimizers["discriminator"].state[next(disc.parameters())]["step"] == 2


def test_dicgan_feature_loss_on_pretrained_vgg16(tmp_path, lpips_weights):
    from dicmini.losses import feature_loss
    from dicmini.models import VGG16Features

    trainer = Trainer(tiny(task="dicgan", pixel_init=0, feature_net="vgg16:relu2_2", feature_weight=0.05), tmp_path)
    assert isinstance(trainer.feature_net, VGG16Features) and trainer.feature_net.pretrained
    batch = fixed_batch(trainer)
    with torch.no_grad():
        sr_last = trainer.model.eval()(batch["lr"]).sr[-1]
        expected = float(feature_loss(VGG16Features("pretrained", layer="relu2_2"), sr_last, batch["hr"], 0.05))
    trainer.model.train()
    logs = trainer.train_step([batch])
    assert logs["feature"] == pytest.approx(expected, rel=1e-4)
    with pytest.raises(ValueError, match="config feature_net: expected 'auto', 'lightcnn' or 'vgg16:<layer>'"):
        tiny(task="dicgan", feature_net="vgg19:relu3_3").validate()


def test_auto_feature_net_is_lightcnn_with_a_file_else_pretrained_vgg16(tmp_path, monkeypatch, lpips_weights):
    from dicmini.models import VGG16Features
    from dicmini.train.config import AUTO_FEATURE_LAYER

    assert get_config("mmagic-dicgan").feature_net == get_config("official-dicgan").feature_net == "auto"
    trainer = Trainer(tiny(task="dicgan", pixel_init=0, feature_weight=0.05), tmp_path / "a")
    assert isinstance(trainer.feature_net, VGG16Features) and trainer.feature_net.pretrained
    assert any(f"vgg16:{AUTO_FEATURE_LAYER}" in note for note in trainer.notes)
    assert tiny(feature_weights="light_cnn_feature.pth").resolved_feature_net() == "lightcnn"
    assert tiny(feature_net="vgg16:relu2_2").resolved_feature_net() == "vgg16:relu2_2"
    monkeypatch.setenv("DICMINI_WEIGHTS", str(tmp_path / "empty"))  # no weights fetched: random LightCNN
    assert tiny().resolved_feature_net() == "lightcnn"


def test_frozen_hourglass_still_passes_gradients_to_the_sr_branch(tmp_path):
    with pytest.warns(UserWarning, match="frozen until iteration 1 but no pretrained hourglass"):
        trainer = Trainer(tiny(release_hourglass_step=1, pixel_weight=0.0), tmp_path)
    model = trainer.model
    batch = fixed_batch(trainer)
    hg0 = {k: v.clone() for k, v in model.landmark_estimator.state_dict().items()}
    sr0 = {k: v.clone() for k, v in model.lr_feature.state_dict().items()}
    trainer.train_step([batch])  # iteration 0: hourglass frozen, the alignment loss is the only loss
    assert all(not p.requires_grad for p in model.landmark_estimator.parameters())
    assert all(p.grad is None for p in model.landmark_estimator.parameters())
    assert all(torch.equal(v, model.landmark_estimator.state_dict()[k]) for k, v in hg0.items())
    assert any(not torch.equal(v, model.lr_feature.state_dict()[k]) for k, v in sr0.items())  # through the HG
    trainer.train_step([batch])  # iteration 1: released
    assert all(p.requires_grad for p in model.landmark_estimator.parameters())
    assert any(not torch.equal(v, model.landmark_estimator.state_dict()[k]) for k, v in hg0.items())


def test_gradient_accumulation_matches_the_full_batch(tmp_path):
    one = Trainer(tiny(batch_size=2, accum_steps=1), tmp_path / "a")
    one.fit(stop_at=1)
    two = Trainer(tiny(batch_size=2, accum_steps=2), tmp_path / "b")
    two.fit(stop_at=1)
    # the gradients of the step (left in .grad) are the full-batch gradients up to float rounding
    grads = [(p.grad, q.grad) for p, q in zip(one.model.parameters(), two.model.parameters())]
    assert all(g is not None for pair in grads for g in pair)
    flat1, flat2 = (torch.cat([pair[i].reshape(-1) for pair in grads]) for i in (0, 1))
    torch.testing.assert_close(flat1, flat2, atol=1e-5 * flat1.abs().max().item(), rtol=1e-4)


def test_hourglass_pretraining_and_init_hourglass(tmp_path):
    hg_run = Trainer(tiny(task="hourglass", iterations=2), tmp_path / "hg")
    summary = hg_run.fit()
    assert summary["best"]["metric"] == "last-step nme"
    ckpt = read_training_checkpoint(tmp_path / "hg" / "best.pt")
    assert ckpt["kind"] == "hourglass" and ckpt["config"]["mid_channels"] == 8
    dic = Trainer(tiny(init_hourglass=str(tmp_path / "hg" / "best.pt")), tmp_path / "dic")
    for key, value in ckpt["model"].items():
        assert torch.equal(dic.model.landmark_estimator.state_dict()[key], value)
    with pytest.raises(ValueError, match="not a DICNet"):
        load_pretrained(tmp_path / "hg" / "best.pt")


def test_init_hourglass_takes_a_packaged_model_name(tmp_path):
    """``init_hourglass="tiny"`` starts the landmark branch from the shipped tiny DIC's (notebook 07's own run,
    at another number of steps: the branch is shared by all steps)."""
    shipped = load_pretrained("tiny").landmark_estimator.state_dict()
    config = apply_overrides(get_config("tiny"), {"hourglass_stage": "", "init_hourglass": "tiny", "num_steps": 2,
                                                  "face_pool": False, "progress": False, "threads": 0})
    model = Trainer(config, tmp_path).model
    assert model.num_steps == 2
    assert all(torch.equal(v, shipped[k]) for k, v in model.landmark_estimator.state_dict().items())


def test_time_limit_stops_and_checkpoints(tmp_path):
    trainer = Trainer(tiny(iterations=50, time_limit_minutes=1e-9), tmp_path)
    summary = trainer.fit()
    assert summary["stopped"] == "time_limit" and summary["step"] == 1
    assert read_training_checkpoint(tmp_path / "last.pt")["step"] == 1


def test_batch_order_is_a_function_of_seed_and_step_and_shards_like_distributed_sampler():
    n, batch = 10, 4
    first = [global_batch(s, n, batch, seed=3) for s in range(6)]
    assert [len(b) for b in first] == [4] * 6
    assert len(set(np.concatenate(first[:2]).tolist())) == 8  # no repeats within an epoch (2 batches, drop_last)
    assert not np.array_equal(np.concatenate(first[:2]), np.concatenate(first[2:4]))  # epochs reshuffle
    assert np.array_equal(global_batch(4, n, batch, seed=3), first[4])
    shards = [list(IterationBatchSampler(n, batch, 3, 2, 4, rank=r, world_size=2, accum_steps=2)) for r in range(2)]
    for step in (2, 3):
        got = sorted(i for r in range(2) for mb in shards[r][(step - 2) * 2:(step - 1) * 2] for i in mb)
        assert got == sorted(first[step].tolist())
    assert list(IterationBatchSampler(n, batch, 3, 1, 3)) == [b.tolist() for b in first[1:3]]
    with pytest.raises(ValueError, match="divisible"):
        IterationBatchSampler(n, 4, 0, 0, 1, world_size=3)


def test_resume_refuses_a_model_only_checkpoint(tmp_path):
    from dicmini.models import DICNet, save_dicmini_checkpoint

    path = save_dicmini_checkpoint(tmp_path / "model.pt", DICNet(mid_channels=4, num_blocks=1, hg_mid_channels=8,
                                                                 upscale_factor=2, num_fusion_blocks=1))
    with pytest.raises(ValueError, match="without training state"):
        Trainer.from_checkpoint(path)


def test_gradient_checkpointing_switch_gives_the_same_step(tmp_path):
    plain = Trainer(tiny(), tmp_path / "a")
    ckpt = Trainer(tiny(gradient_checkpointing=True), tmp_path / "b")
    assert ckpt.model.gradient_checkpointing and not plain.model.gradient_checkpointing
    batch = fixed_batch(plain)
    assert plain.train_step([batch])["total"] == pytest.approx(ckpt.train_step([batch])["total"], rel=1e-6)
    for key, value in plain.model.state_dict().items():
        torch.testing.assert_close(value, ckpt.model.state_dict()[key], atol=1e-6, rtol=1e-5)


def test_official_dicgan_pixel_quirk_reaches_the_loss(tmp_path):
    trainer = Trainer(tiny(official_dicgan_pixel_quirk=True), tmp_path)
    batch = fixed_batch(trainer)
    with torch.no_grad():
        sr_last = trainer.model(batch["lr"]).sr[-1]
    expected = 4 * torch.nn.functional.l1_loss(sr_last, batch["hr"]).item()  # num_steps * L1(SR_last, HR)
    assert trainer.train_step([batch])["pixel"] == pytest.approx(expected, rel=1e-5)
