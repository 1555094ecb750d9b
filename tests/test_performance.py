"""Speed paths give the same results as the reference evaluation: HR transitions summed over weight slices,
fine-grained activation checkpointing, channels-last, the trainer's speed settings, and the benchmark scripts."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from dicmini.models import DICNet
from dicmini.models.feedback import AttentionFeedbackBlock, FeedbackBlock, conv1x1_prelu_sum
from dicmini.models.prelu import PReLU, _FusedSlopeBackward
from dicmini.train import Trainer, apply_overrides, get_config
from dicmini.train import performance
from dicmini.train.data import collate

ROOT = Path(__file__).resolve().parents[1]
SMALL = dict(mid_channels=4, num_blocks=3, hg_mid_channels=8, num_steps=2, upscale_factor=2, num_fusion_blocks=1)
TINY = {"mid_channels": 4, "num_blocks": 2, "hg_mid_channels": 8, "upscale_factor": 2, "num_fusion_blocks": 1,
        "batch_size": 2, "train_size": 8, "val_size": 2, "init": "default", "progress": False, "lr": 1e-3,
        "val_every": 1000, "ckpt_every": 1000, "log_every": 2, "iterations": 4, "seed": 0, "num_steps": 2,
        "threads": 0,
        # the recipe levers of the tiny config off: the reference behaviour these tests pin
        "hourglass_stage": "", "face_pool": False, "truth_guidance": 0.0, "hourglass_lr_scale": 1.0,
        "release_hourglass_step": 0}


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*frozen until iteration.*")
        yield


def _grads(model):
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def _train_pass(model, lr):
    model.zero_grad(set_to_none=True)
    out = model(lr)
    sum(s.square().mean() + h.square().mean() for s, h in zip(out.sr, out.heatmaps)).backward()
    return out.sr[-1].detach(), _grads(model)


def test_transition_sum_equals_the_concatenated_conv():
    torch.manual_seed(0)
    unit = FeedbackBlock(mid_channels=4, num_blocks=3, upscale_factor=2).hr_blocks[1]   # 12 -> 4 channels
    features = [torch.randn(2, 4, 6, 6) for _ in range(3)]
    torch.testing.assert_close(conv1x1_prelu_sum(unit, features), unit(torch.cat(features, dim=1)),
                               atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True])
def test_transition_sum_gradients_equal_the_concatenated_conv(channels_last):
    # channels-last features take the addmm chain, contiguous ones the per-slice convolutions
    torch.manual_seed(0)
    unit = FeedbackBlock(mid_channels=4, num_blocks=3, upscale_factor=2).hr_blocks[1]
    layout = torch.channels_last if channels_last else torch.contiguous_format
    features = [torch.randn(2, 4, 6, 5).contiguous(memory_format=layout).requires_grad_() for _ in range(3)]
    copies = [f.detach().clone().requires_grad_() for f in features]
    out, ref = conv1x1_prelu_sum(unit, features), unit(torch.cat(copies, dim=1))
    assert out.is_contiguous(memory_format=layout) and out.shape == ref.shape == (2, 4, 6, 5)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-5)
    weight_grads = []
    for result, inputs in ((out, features), (ref, copies)):
        unit.zero_grad(set_to_none=True)
        result.backward(torch.linspace(-1, 1, result.numel()).view_as(result))
        weight_grads.append([p.grad.clone() for p in unit.parameters()])
    for a, b in zip(features, copies):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-6, rtol=1e-5)
    for a, b in zip(*weight_grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("shape, layout", [((2, 6, 5, 4), torch.channels_last), ((2, 6, 5, 4), torch.contiguous_format),
                                           ((3, 7), torch.contiguous_format)])
def test_fused_prelu_backward_matches_pytorch(shape, layout):
    torch.manual_seed(0)
    native, fused = PReLU(init=0.2), PReLU(init=0.2)
    fused.fused_backward = True
    assert not PReLU.fused_backward and isinstance(fused, torch.nn.PReLU)
    x = torch.randn(*shape)
    x = (x.contiguous(memory_format=layout) if x.dim() == 4 else x).requires_grad_()
    y = x.detach().clone().requires_grad_()
    grad = torch.randn(*shape)
    out_native, out_fused = native(x), fused(y)
    assert torch.equal(out_native, out_fused)
    out_native.backward(grad)
    out_fused.backward(grad)
    assert torch.equal(x.grad, y.grad)                                  # the same elementwise rule
    torch.testing.assert_close(fused.weight.grad, native.weight.grad, atol=1e-6, rtol=1e-5)  # the same sum
    assert out_fused.grad_fn is not None and "FusedSlope" in type(out_fused.grad_fn).__name__
    with torch.no_grad():                                               # no autograd: PyTorch's forward as is
        assert torch.equal(fused(x), native(x))
    double = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    slope = torch.tensor([0.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(_FusedSlopeBackward.apply, (double, slope))


def test_prelu_backward_setting():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert performance.resolve_prelu_backward("auto", cpu) and not performance.resolve_prelu_backward("auto", cuda)
    assert performance.resolve_prelu_backward("fused", cuda) and not performance.resolve_prelu_backward("native", cpu)
    with pytest.raises(ValueError, match="prelu_backward"):
        performance.resolve_prelu_backward("fast", cpu)
    with pytest.raises(ValueError, match="prelu_backward"):
        apply_overrides(get_config("tiny"), ["prelu_backward=fast"])
    model = performance.set_prelu_backward(DICNet(**SMALL), True)
    prelus = [m for m in model.modules() if isinstance(m, torch.nn.PReLU)]
    assert prelus and all(isinstance(m, PReLU) and m.fused_backward for m in prelus)
    assert get_config("tiny").prelu_backward == "auto" and get_config("official-celeba").prelu_backward == "auto"
    # a run stored before the setting existed used PyTorch's backward, and resumes with it
    from dicmini.train.config import config_from_dict, config_to_dict
    stored = {k: v for k, v in config_to_dict(get_config("official-celeba")).items() if k != "prelu_backward"}
    assert config_from_dict(stored).prelu_backward == "native"


def test_feedback_block_sum_path_matches_the_reference_concatenation():
    torch.manual_seed(0)
    block = AttentionFeedbackBlock(mid_channels=4, num_blocks=4, upscale_factor=2, num_fusion_blocks=1)
    assert block.concat_transitions  # the references' evaluation by default
    x, att, hidden = torch.randn(2, 4, 8, 8), torch.randn(2, 5, 8, 8), torch.randn(2, 4, 8, 8)
    outs = {}
    for concat in (True, False):
        block.concat_transitions = concat
        block.zero_grad(set_to_none=True)
        out = block(x, att, hidden)
        out.square().sum().backward()
        outs[concat] = (out.detach(), _grads(block))
    torch.testing.assert_close(outs[False][0], outs[True][0], atol=1e-6, rtol=1e-5)
    for key, grad in outs[True][1].items():
        torch.testing.assert_close(outs[False][1][key], grad, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("mode", ["call", "fine"])
def test_checkpointing_modes_give_identical_outputs_and_gradients(mode):
    torch.manual_seed(0)
    plain = DICNet(**SMALL).train()
    ckpt = DICNet(**SMALL, gradient_checkpointing=mode).train()
    ckpt.load_state_dict(plain.state_dict())
    lr = torch.rand(2, 3, 8, 8) - 0.45
    (out_a, grads_a), (out_b, grads_b) = _train_pass(plain, lr), _train_pass(ckpt, lr)
    assert torch.equal(out_a, out_b)
    assert grads_a.keys() == grads_b.keys() and all(torch.equal(grads_a[k], grads_b[k]) for k in grads_a)
    assert ckpt.config["gradient_checkpointing"] == {"call": True, "fine": "fine"}[mode]
    assert ckpt.coarse_block.checkpoint_groups == (mode == "fine")


def test_checkpointing_values_are_validated():
    assert DICNet(**SMALL, gradient_checkpointing="none").config["gradient_checkpointing"] is False
    with pytest.raises(ValueError, match="gradient_checkpointing"):
        DICNet(**SMALL, gradient_checkpointing="step")


def test_channels_last_model_matches_nchw():
    torch.manual_seed(0)
    model = DICNet(**SMALL).train()
    lr = torch.rand(2, 3, 8, 8) - 0.45
    out_a, grads_a = _train_pass(model, lr)
    performance.to_memory_format(model, True)
    assert model.lr_feature[0].weight.is_contiguous(memory_format=torch.channels_last)
    out_b, grads_b = _train_pass(model, performance.as_input(lr, torch.device("cpu"), True))
    torch.testing.assert_close(out_b, out_a, atol=1e-5, rtol=1e-4)
    for key, grad in grads_a.items():
        torch.testing.assert_close(grads_b[key], grad, atol=1e-4, rtol=1e-3)


def test_host_values_and_finiteness():
    values = {"a": torch.tensor(1.5), "b": 2.0, "c": torch.tensor(3.0, dtype=torch.float64)}
    assert performance.host_values(values) == {"a": 1.5, "b": 2.0, "c": 3.0}
    assert bool(performance.all_finite_values(values))
    assert not bool(performance.all_finite_values({**values, "d": torch.tensor(float("nan"))}))


def test_speed_settings_are_validated():
    with pytest.raises(ValueError, match="sync_every=3 must divide log_every=100"):
        apply_overrides(get_config("official-celeba"), ["sync_every=3"])
    with pytest.raises(ValueError, match="channels_last"):
        apply_overrides(get_config("tiny"), ["channels_last=maybe"])
    with pytest.raises(ValueError, match="checkpoint_granularity"):
        apply_overrides(get_config("tiny"), ["checkpoint_granularity=step"])
    cfg = apply_overrides(get_config("tiny"), ["gradient_checkpointing=true", "checkpoint_granularity=fine"])
    assert cfg.model_kwargs()["gradient_checkpointing"] == "fine"
    assert apply_overrides(get_config("tiny"), ["checkpoint_granularity=fine"]).model_kwargs()[
        "gradient_checkpointing"] is False
    assert not get_config("tiny").deterministic and get_config("tiny").sync_every == 1
    assert get_config("official-celeba").channels_last == "auto" and get_config("tiny").channels_last == "auto"
    assert get_config("tiny").hr_transitions == "auto"


def test_trainer_channels_last_and_sync_every(tmp_path):
    runs = {}
    reference = {"channels_last": "false", "hr_transitions": "concat", "prelu_backward": "native"}
    for name, changes in {"nchw": reference, "every": {}, "deferred": {"sync_every": 2}}.items():
        trainer = Trainer(apply_overrides(get_config("tiny"), {**TINY, **changes}), tmp_path / name)
        assert trainer.channels_last == (name != "nchw")
        assert trainer.model.coarse_block.concat_transitions == (name == "nchw")
        assert trainer.model.lr_feature[1].fused_backward == (name != "nchw")
        batch = collate([trainer.train_set[i] for i in range(2)])
        runs[name] = (trainer, [trainer.train_step([batch]) for _ in range(4)])
    every, deferred = runs["every"][1], runs["deferred"][1]
    assert all(isinstance(v, float) for v in every[2].values())
    # iterations 1, 2, 4 read back (the first, and every sync_every-th); iteration 3 stays on the device
    assert isinstance(deferred[2]["total"], torch.Tensor) and isinstance(deferred[3]["total"], float)
    assert deferred[3] == every[3] and deferred[0] == every[0]          # read-backs equal the per-iteration values
    for key, value in runs["every"][0].model.state_dict().items():
        assert torch.equal(value, runs["deferred"][0].model.state_dict()[key])
        torch.testing.assert_close(value, runs["nchw"][0].model.state_dict()[key], atol=1e-4, rtol=1e-3)


def test_deferred_sync_still_stops_a_diverged_run(tmp_path, monkeypatch):
    from dicmini.train import tasks as trainer_module  # the DIC task computes the loss
    from dicmini.train.trainer import TrainingDiverged

    real = trainer_module.dic_generator_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss, terms = real(*args, **kwargs)
        return (loss * float("nan"), terms) if calls["n"] == 3 else (loss, terms)

    monkeypatch.setattr(trainer_module, "dic_generator_loss", poisoned)
    trainer = Trainer(apply_overrides(get_config("tiny"), {**TINY, "sync_every": 2}), tmp_path)
    batch = collate([trainer.train_set[i] for i in range(2)])
    trainer.train_step([batch])
    trainer.train_step([batch])
    logs = trainer.train_step([batch])  # iteration 3: NaN gradients, kept on the device
    assert not torch.isfinite(logs["grad_norm"])
    with pytest.raises(TrainingDiverged, match="since the previous host sync"):
        trainer.train_step([batch])  # iteration 4 reads back and stops


def test_gpu_check_logic_on_the_cpu(tmp_path):
    out = tmp_path / "gpu_check.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--device", "cpu", "--quick",
                           "--no-compile", "--budget-s", "3000", "--out", str(out)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(out.read_text())
    cells = {(r["precision"], r["checkpointing"]): r for r in result["table"]}
    assert len(cells) == 6 and cells[("compiled", "none")]["skipped"] == "--no-compile"
    assert cells[("fp32", "none")]["max_abs_diff_vs_fp32"] == 0.0
    assert cells[("fp32", "call")]["max_abs_diff_vs_fp32"] == 0.0       # checkpointing recomputes exactly
    assert 0.0 < cells[("bf16", "none")]["max_abs_diff_vs_fp32"] < 1.0
    assert all(cells[k]["it_per_s"] > 0 for k in cells if "skipped" not in cells[k])
    run = result["train_run"]
    assert run["projected_hours_150k"] == pytest.approx(150_000 * run["s_per_iteration"] / 3600)
    assert "150,000 iterations in" in proc.stdout and "wrote" in proc.stdout


def test_committed_bench_ratios_follow_from_the_raw_timings():
    result = json.loads((ROOT / "benchmarks" / "results" / "bench_dicnet.json").read_text())
    for mode in ("train", "forward"):
        times = result["model"][mode]["times_s"]
        assert result["model"][mode]["ratio"] == pytest.approx(
            statistics.median(times["new"]) / statistics.median(times["old"]))
    tiny = result["tiny_recipe"]
    per_minute = {v: 60 * tiny["iterations_per_chunk"] / statistics.median(t) for v, t in tiny["times_s"].items()}
    assert tiny["ratio"] == pytest.approx(per_minute["new"] / per_minute["old"])
    assert result["model"]["max_abs_diff_sr"] < 1e-4
    # the committed run is the evidence: the targets of a training step, a forward pass, the tiny recipe
    # and the batch-8 peak memory with and without checkpointing
    assert result["model"]["batch"] >= 2
    assert result["model"]["train"]["ratio"] <= 0.65 and result["model"]["forward"]["ratio"] <= 0.7
    assert tiny["ratio"] >= 1.3
    peaks = {r["checkpointing"]: r["peak_rss_mib"] for r in result["memory"] if r["batch"] == 8}
    assert peaks["call"] <= 4 * 1024 and peaks[False] <= 12 * 1024
