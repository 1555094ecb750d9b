"""Training configs: the named recipes against docs/reference_implementations.md (Recipes, Losses), ``--set``
parsing, init schemes."""

import dataclasses

import pytest
import torch
from torch import nn

from dicmini.train.config import (CONFIGS, TrainConfig, apply_overrides, config_from_dict, config_to_dict,
                                  get_config, parse_value)
from dicmini.train.init import init_generator, init_weights

# docs/reference_implementations.md#recipes table (+ the loss weights of #losses), one dict per named recipe
SPEC = {
    "official-celeba": dict(
        task="dic", init="kaiming", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.0,
        milestones=(10_000, 20_000, 40_000, 80_000), gamma=0.5, iterations=150_000, batch_size=8,
        release_hourglass_step=2000, pixel_weight=1.0, align_kind="mse", align_weight=0.1, val_every=2000, seed=0,
        official_dicgan_pixel_quirk=False),
    "mmagic-celebahq": dict(
        task="dic", init="default", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.0,
        milestones=(10_000, 20_000, 40_000, 80_000), gamma=0.5, iterations=150_000, batch_size=8,
        release_hourglass_step=0, pixel_weight=1.0, align_kind="mse", align_weight=0.1, val_every=2000, seed=None),
    "mmedit-celebahq": dict(
        task="dic", init="default", lr=1e-4, milestones=(10_000, 20_000, 40_000, 80_000), gamma=0.5,
        iterations=150_000, batch_size=8, release_hourglass_step=0, pixel_weight=1.0, align_kind="l1",
        align_weight=1.0, val_every=2000, seed=None),
    "official-dicgan": dict(
        task="dicgan", init="default", d_init="default", lr=1e-4, d_lr=1e-4, betas=(0.9, 0.999),
        d_betas=(0.9, 0.999), milestones=(10_000, 20_000, 40_000), d_milestones=(10_000, 20_000, 40_000),
        gamma=0.5, d_gamma=0.5, iterations=80_000, batch_size=8, release_hourglass_step=2_000_000, pixel_init=0,
        disc_repeat=1, pixel_weight=1.0, official_dicgan_pixel_quirk=True, align_kind="mse", align_weight=0.1,
        feature_weight=0.1, gan_weight=0.005, val_every=1000, seed=0),
    "mmagic-dicgan": dict(
        task="dicgan", init="default", d_init="default", lr=1e-4, d_lr=1e-5,
        milestones=(100_000, 200_000, 300_000, 400_000), d_milestones=(100_000, 200_000, 300_000, 400_000),
        gamma=0.5, d_gamma=0.5, iterations=500_000, batch_size=8, release_hourglass_step=0, pixel_init=10_000,
        disc_repeat=2, pixel_weight=1.0, official_dicgan_pixel_quirk=False, align_kind="mse", align_weight=0.1,
        feature_weight=0.1, gan_weight=0.005, val_every=5000, seed=None),
}
FULL_ARCH = dict(mid_channels=48, num_blocks=6, hg_mid_channels=256, hg_num_keypoints=68, num_steps=4,
                 upscale_factor=8, num_fusion_blocks=7, detach_attention=False, prelu_init=0.2, fusion="attention")


@pytest.mark.parametrize("name", sorted(SPEC))
def test_named_recipes_match_spec(name):
    cfg = get_config(name)
    assert cfg.name == name
    for key, value in {**SPEC[name], **FULL_ARCH}.items():
        assert getattr(cfg, key) == value, f"{name}.{key}"
    assert cfg.protocol == "mmagic" and cfg.crop_border == 8 and cfg.accum_steps == 1 and cfg.amp == "none"


def test_tiny_and_hourglass_recipes():
    tiny = get_config("tiny")
    assert (tiny.task, tiny.data, tiny.mid_channels, tiny.num_blocks, tiny.hg_mid_channels, tiny.num_steps,
            tiny.upscale_factor, tiny.batch_size) == ("dic", "synthetic", 16, 2, 64, 3, 2, 4)
    assert tiny.hourglass_stage == "tiny-hourglass" and tiny.face_pool
    assert (tiny.init, tiny.reconstruction_init_scale, tiny.lr, tiny.lr_schedule, tiny.min_lr_ratio) == \
        ("kaiming-sr", 0.1, 2e-3, "cosine", 0.05)
    assert (tiny.heatmap_sigma, tiny.align_kind, tiny.align_weight, tiny.num_fusion_blocks) == (2.0, "mse", 3.0, 7)
    assert tiny.step_decay == 0.25  # later steps weigh more (benchmarks/results/recipe_log.md §7)
    assert 1000 <= tiny.iterations <= 10_000 and tiny.seed == 0 and tiny.threads == 1
    hg = get_config("hourglass")
    assert hg.task == "hourglass" and hg.hg_mid_channels == 256 and hg.hg_num_keypoints == 68
    assert hg.align_kind == "mse"
    stage = get_config("tiny-hourglass")
    assert (stage.task, stage.hg_mid_channels, stage.heatmap_sigma, stage.face_pool) == ("hourglass", 64, 2.0, True)
    assert 0 < stage.hourglass_degrade < 1 and stage.num_steps >= 2
    probe = get_config("tiny-probe")  # stage 1's recipe on sharp faces only, another seed: an independent estimator
    changed = {k for k, v in dataclasses.asdict(probe).items() if v != getattr(stage, k)}
    assert changed == {"name", "hourglass_degrade", "seed", "iterations"} and probe.hourglass_degrade == 0
    assert set(CONFIGS) == {"tiny", "tiny-hourglass", "tiny-probe", "tiny-dicgan", "tiny-real", "hourglass", *SPEC}


def test_get_config_returns_fresh_copies_and_unknown_name_suggests():
    a = get_config("tiny")
    a.lr = 123.0
    assert get_config("tiny").lr != 123.0
    with pytest.raises(ValueError, match=r"unknown config 'tinyy'; did you mean tiny"):
        get_config("tinyy")


@pytest.mark.parametrize("item,key,value", [
    ("iterations=500", "iterations", 500),
    ("iterations=2e6", "iterations", 2_000_000),
    ("release_hourglass_step=10_000", "release_hourglass_step", 10_000),
    ("lr=2.5e-4", "lr", 2.5e-4),
    ("detach_attention=true", "detach_attention", True),
    ("progress=no", "progress", False),
    ("milestones=100,200,300", "milestones", (100, 200, 300)),
    ("milestones=[5, 7]", "milestones", (5, 7)),
    ("milestones=()", "milestones", ()),
    ("betas=0.5,0.9", "betas", (0.5, 0.9)),
    ("seed=none", "seed", None),
    ("seed=7", "seed", 7),
    ("data=/some/folder", "data", "/some/folder"),
    ("init=kaiming-sr", "init", "kaiming-sr"),
])
def test_set_parsing_is_typed(item, key, value):
    cfg = apply_overrides(get_config("tiny"), [item])
    got = getattr(cfg, key)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("item,match", [
    ("iterations=abc", r"--set iterations: expected an integer"),
    ("iterations=1.5", r"--set iterations: expected an integer"),
    ("lr=fast", r"--set lr: expected a number"),
    ("progress=maybe", r"--set progress: expected true/false"),
    ("betas=0.9", r"--set betas: expected 2 comma-separated values"),
    ("iterations", r"--set: expected key=value"),
    ("task=gan", r"config task: expected one of"),
    ("batch_size=6", r"batch_size=6 is not divisible by accum_steps=4"),
    ("milestones=20,10", r"config milestones: expected increasing"),
])
def test_set_bad_values(item, match):
    base = apply_overrides(get_config("tiny"), ["accum_steps=4"]) if "batch_size" in item else get_config("tiny")
    with pytest.raises(ValueError, match=match):
        apply_overrides(base, [item])


def test_unknown_key_lists_close_matches_in_one_line():
    with pytest.raises(ValueError) as err:
        apply_overrides(get_config("tiny"), ["itertions=5"])
    message = str(err.value)
    assert "unknown config key 'itertions'" in message and "iterations" in message and "\n" not in message
    with pytest.raises(ValueError, match="unknown config key 'zzz'"):
        parse_value("zzz", "1")


def test_config_dict_round_trip_is_plain():
    cfg = apply_overrides(get_config("mmagic-dicgan"), ["seed=3"])
    data = config_to_dict(cfg)
    assert all(not isinstance(v, tuple) for v in data.values())
    assert config_from_dict(data) == cfg
    with pytest.raises(ValueError, match="unknown key"):
        config_from_dict({**data, "bogus": 1})


def test_model_kwargs_build_a_dicnet():
    from dicmini.models import DICNet

    cfg = TrainConfig(mid_channels=4, num_blocks=1, hg_mid_channels=8, upscale_factor=2, num_fusion_blocks=1)
    model = DICNet(**cfg.model_kwargs())
    assert model.config["mid_channels"] == 4 and model.config["num_fusion_blocks"] == 1
    assert {f.name for f in dataclasses.fields(TrainConfig)} >= set(cfg.model_kwargs())


def test_model_kwargs_pass_every_dicnet_argument_but_the_fixed_ones():
    """A new DICNet argument is either a config field (and passed on) or deliberately fixed here."""
    from dicmini.models.dic import DICNET_ARGUMENTS

    assert set(DICNET_ARGUMENTS) - set(TrainConfig().model_kwargs()) == {"in_channels", "out_channels",
                                                                         "num_heatmaps"}


def test_init_weights_kaiming_is_the_official_init():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(64, 32, 3), nn.PReLU(init=0.2), nn.ConvTranspose2d(32, 64, 4), nn.Linear(256, 128))
    init_weights(net, "kaiming")
    for m, fan_in in ((net[0], 64 * 9), (net[2], 64 * 16), (net[3], 256)):  # torch fan_in = size(1) * k*k
        assert torch.count_nonzero(m.bias) == 0
        std = m.weight.std().item()
        assert abs(std - (2.0 / fan_in) ** 0.5) < 0.1 * (2.0 / fan_in) ** 0.5
    assert net[1].weight.item() == pytest.approx(0.2)
    before = [p.clone() for p in net.parameters()]
    init_weights(net, "default")
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    with pytest.raises(ValueError, match="init scheme"):
        init_weights(net, "xavier")


def test_init_generator_kaiming_sr_keeps_the_landmark_branch_and_fusion_default():
    from dicmini.models import DICNet

    torch.manual_seed(0)
    model = DICNet(mid_channels=4, num_blocks=1, hg_mid_channels=8, upscale_factor=2, num_fusion_blocks=1)
    hg_before = {k: v.clone() for k, v in model.landmark_estimator.state_dict().items()}
    fusion_before = {k: v.clone() for k, v in model.attention_block.fusion.state_dict().items()}
    tail_before = model.reconstruction[-1].weight.clone()
    init_generator(model, "kaiming-sr")
    assert all(torch.equal(v, model.landmark_estimator.state_dict()[k]) for k, v in hg_before.items())
    assert all(torch.equal(v, model.attention_block.fusion.state_dict()[k]) for k, v in fusion_before.items())
    assert torch.count_nonzero(model.reconstruction[0].bias) == 0
    assert torch.count_nonzero(model.attention_block.compress_in[0].bias) == 0
    assert not torch.equal(tail_before, model.reconstruction[-1].weight)
    torch.manual_seed(1)
    init_generator(model, "kaiming-sr")
    full = model.reconstruction[-1].weight.clone()
    torch.manual_seed(1)
    init_generator(model, "kaiming-sr", reconstruction_scale=0.1)
    torch.testing.assert_close(model.reconstruction[-1].weight, full * 0.1)
    init_generator(model, "kaiming")
    assert torch.count_nonzero(model.landmark_estimator.first_conv.bias) == 0


def test_cosine_schedule_threads_and_sigma_fields(tmp_path):
    from dicmini.train.trainer import make_scheduler

    cfg = apply_overrides(TrainConfig(), ["lr_schedule=cosine", "iterations=10", "min_lr_ratio=0.1",
                                          "heatmap_sigma=2", "threads=1"]).validate()
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = make_scheduler(opt, cfg, [5], 0.5)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(1.0) and lrs == sorted(lrs, reverse=True)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="lr_schedule"):
        apply_overrides(TrainConfig(), ["lr_schedule=linear"]).validate()
    with pytest.raises(ValueError, match="heatmap_sigma"):
        apply_overrides(TrainConfig(), ["heatmap_sigma=0"]).validate()

    from dicmini.data.datasets import SyntheticFaces
    from dicmini.train.data import build_datasets

    cfg = dataclasses.replace(cfg, data="synthetic", train_size=2, val_size=1)
    train, _ = build_datasets(cfg)
    wide = train[0]["heatmaps"]
    narrow = SyntheticFaces(2)[0]["heatmaps"]
    assert wide.sum() > 3 * narrow.sum()  # sigma 2 spreads each Gaussian over ~4x the area
