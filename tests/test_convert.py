"""State-dict layouts and checkpoint loading (docs/reference_implementations.md: State-dict layout, Loading
published checkpoints)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from refvectors import load_vector, require_vectors
from dicmini.models import (
    CheckpointError, DICNet, FeedbackHourglass, from_mmagic, from_official, infer_dicnet_config,
    load_official_hourglass, load_pretrained, save_dicmini_checkpoint, to_mmagic,
)
from dicmini.models.convert import (
    PRETRAINED_NAMES, dicmini_key_to_mmagic, mmagic_key_to_dicmini, official_key_to_mmagic, read_checkpoint,
)

#: Config A sizes of the reference vectors: small enough to build and save in milliseconds.
SMALL = dict(mid_channels=16, num_blocks=2, hg_mid_channels=32)


def read_table(name: str) -> list[list[str]]:
    text = (require_vectors(name) / name).read_text()
    return [line.split("\t") for line in text.splitlines() if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def small() -> DICNet:
    torch.manual_seed(0)
    return DICNet(**SMALL).eval()


@pytest.fixture(scope="module")
def mmagic_to_official() -> dict[str, str]:
    return {mm: off for off, mm, _ in read_table("official_to_mmagic_dicnet_keymap.txt")}


def assert_same_weights(model: torch.nn.Module, expected: torch.nn.Module) -> None:
    a, b = model.state_dict(), expected.state_dict()
    assert list(a) == list(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


# -- key rules --------------------------------------------------------------------------------------------

def test_official_rules_reproduce_the_dicnet_keymap():
    rows = read_table("official_to_mmagic_dicnet_keymap.txt")
    assert len(rows) == 296
    for official, mmagic, _ in rows:
        assert official_key_to_mmagic(official) == mmagic, official
    state = {official: torch.zeros(1) for official, _, _ in rows}
    converted = from_official(state)
    assert set(converted) == {mmagic_key_to_dicmini(mmagic) for _, mmagic, _ in rows}


def test_official_rules_reproduce_the_lightcnn_keymap():
    rows = read_table("official_to_mmagic_lightcnn_keymap.txt")
    state = {official: torch.zeros(1) for official, _, _ in rows}
    converted = from_official(state)  # kind detected from the names
    assert list(converted) == [mmagic for _, mmagic, _ in rows]


def test_lightcnn_layout_is_identity_with_validation():
    keys = [key for key, _, _ in read_table("lightcnn_keys.txt")]
    state = {key: torch.full((1,), float(i)) for i, key in enumerate(keys)}
    assert from_mmagic(state) == state and to_mmagic(state) == state
    with pytest.raises(CheckpointError, match="features.3.conv.weight"):
        from_mmagic({**state, "features.3.conv.weight": torch.zeros(1)})


def test_mmagic_round_trip_on_reference_state():
    state = load_vector("dicnet_A_seed0_state.pt")
    dicmini = from_mmagic(state)
    assert list(dicmini)[:3] == ["lr_feature.0.weight", "lr_feature.0.bias", "lr_feature.1.weight"]
    back = to_mmagic(dicmini)
    assert list(back) == list(state)
    assert all(back[k] is state[k] for k in state)


def test_dicmini_round_trip_and_rename_table(small):
    state = small.state_dict()
    assert list(from_mmagic(to_mmagic(state))) == list(state)
    assert dicmini_key_to_mmagic("coarse_block.compress_in.0.weight") == "first_block.conv_first.0.weight"
    assert dicmini_key_to_mmagic("attention_block.compress_out.1.weight") == "block.conv_last.1.weight"
    assert dicmini_key_to_mmagic("attention_block.fusion.body.3.res.2.bias") == "block.fusion_block.body.3.res.2.bias"
    assert dicmini_key_to_mmagic("landmark_estimator.hg.low2.up1.conv_block.0.weight") == \
        "hour_glass.hg.low2.up1.conv_block.0.weight"
    assert dicmini_key_to_mmagic("reconstruction.2.bias") == "conv_last.2.bias"
    assert mmagic_key_to_dicmini("conv_first.1.weight") == "lr_feature.1.weight"
    with pytest.raises(CheckpointError, match="match no rule"):
        to_mmagic({"generator.conv_first.0.weight": torch.zeros(1)})


def test_infer_config(small):
    config = infer_dicnet_config(small.state_dict())
    assert config == {"mid_channels": 16, "num_blocks": 2, "upscale_factor": 8, "hg_mid_channels": 32,
                      "hg_num_keypoints": 68, "fusion": "attention", "num_fusion_blocks": 7}


# -- load_pretrained --------------------------------------------------------------------------------------

def _mmcv_checkpoint(model: DICNet) -> dict:
    """The structure of the published MMagic/MMEditing DIC(GAN) checkpoints
    (docs/reference_implementations.md#loading-published-checkpoints)."""
    state = {f"generator.{k}": v for k, v in to_mmagic(model.state_dict()).items()}
    state["img_denormalize.weight"] = torch.eye(3).view(3, 3, 1, 1)
    state["img_denormalize.bias"] = torch.tensor([0.509, 0.424, 0.378])
    state["step_counter"] = torch.tensor([500000.0])
    state["discriminator.features.0.filter.weight"] = torch.zeros(96, 3, 5, 5)
    state["feature_loss.model.features.0.filter.weight"] = torch.zeros(96, 3, 5, 5)
    meta = {"mmedit_version": "0.8.0", "iter": 500000, "time": "Fri Jun 25 2021",
            "hook_msgs": {"best_score": np.float64(25.23), "last_ckpt": "iter_500000.pth"}}
    optimizer = {"generator": {"state": {}, "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "params": [0]}]}}
    return {"meta": meta, "state_dict": state, "optimizer": optimizer}


def test_load_published_mmagic_checkpoint(tmp_path, small):
    path = tmp_path / "dic_gan_x8c48b6_g4_500k_CelebAHQ.pth"
    torch.save(_mmcv_checkpoint(small), path)
    model = load_pretrained(path)
    assert not model.training
    assert_same_weights(model, small)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x).sr[-1], small(x).sr[-1])


def test_load_raw_mmagic_state_dict_and_overrides(tmp_path, small):
    path = tmp_path / "raw.pth"
    torch.save(to_mmagic(small.state_dict()), path)
    model = load_pretrained(path, num_steps=2, detach_attention=True)
    assert_same_weights(model, small)
    assert model.num_steps == 2 and model.detach_attention
    with torch.no_grad():
        assert len(model(torch.rand(1, 3, 16, 16)).sr) == 2


def test_load_official_checkpoint_with_netg_and_module_prefix(tmp_path, small, mmagic_to_official):
    generator = {f"module.{mmagic_to_official[k]}": v for k, v in to_mmagic(small.state_dict()).items()}
    path = tmp_path / "DICGAN_CelebA.pth"
    torch.save({"step": 80000, "epoch": 3, "netG": generator, "netD": {"module.features.0.filter.weight":
                                                                        torch.zeros(1)}, "best_pred": 26.0}, path)
    assert_same_weights(load_pretrained(path), small)
    raw = tmp_path / "DIC_CelebA.pth"
    torch.save({k[len("module."):]: v for k, v in generator.items()}, raw)
    assert_same_weights(load_pretrained(raw), small)


def test_dicmini_checkpoint_round_trip(tmp_path):
    torch.manual_seed(1)
    model = DICNet(**SMALL, num_steps=3, fusion="concat")
    path = save_dicmini_checkpoint(tmp_path / "sub" / "ckpt.pt", model, step=7, note="hello")
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.pt"]  # atomic write leaves no temporary file
    ckpt = read_checkpoint(path)
    assert ckpt["format"] == "dicmini" and ckpt["kind"] == "dicnet" and ckpt["step"] == 7
    assert ckpt["config"] == model.config
    loaded = load_pretrained(path)
    assert loaded.config == model.config and loaded.num_steps == 3
    assert_same_weights(loaded, model)
    assert load_pretrained(ckpt, num_steps=1).num_steps == 1  # an already-read dict works too
    with pytest.raises(ValueError, match="override"):
        save_dicmini_checkpoint(tmp_path / "x.pt", model, config={})


def test_dicmini_checkpoint_of_another_kind_is_refused(tmp_path):
    path = tmp_path / "d.pt"
    torch.save({"format": "dicmini", "kind": "lightcnn", "config": {}, "model": {}}, path)
    with pytest.raises(CheckpointError, match="not a DICNet"):
        load_pretrained(path)


def test_missing_file_and_packaged_name():
    with pytest.raises(FileNotFoundError, match="nowhere.pth"):
        load_pretrained("/nonexistent/nowhere.pth")
    if PRETRAINED_NAMES["tiny"].exists():
        assert isinstance(load_pretrained("tiny"), DICNet)
    else:
        with pytest.raises(FileNotFoundError, match="dic_tiny.pt"):
            load_pretrained("tiny")


@pytest.mark.parametrize("content", [b"", b"definitely not a checkpoint", b"PK\x03\x04truncated zip"])
def test_corrupt_file_raises_value_error_naming_it(tmp_path, content):
    path = tmp_path / "broken.pth"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="broken.pth"):
        load_pretrained(path)


def test_truncated_checkpoint(tmp_path, small):
    path = tmp_path / "half.pth"
    torch.save(small.state_dict(), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="half.pth"):
        load_pretrained(path)


def test_strict_loading_lists_missing_and_unexpected_keys(tmp_path, small):
    state = to_mmagic(small.state_dict())
    del state["conv_last.2.bias"]
    state["block.extra_layer.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as info:
        load_pretrained(path)
    message = str(info.value)
    assert "bad.pth" in message and "missing keys (1): reconstruction.2.bias" in message
    assert "unexpected keys (1): attention_block.extra_layer.weight" in message
    with pytest.warns(UserWarning, match="missing keys"):
        model = load_pretrained(path, strict=False)
    assert torch.equal(model.lr_feature[0].weight, small.lr_feature[0].weight)


def test_long_key_lists_are_truncated(tmp_path, small):
    state = {k: v for k, v in to_mmagic(small.state_dict()).items() if not k.startswith("hour_glass.")}
    with pytest.raises(CheckpointError, match=r"missing keys \(\d+\): .*more\)"):
        load_pretrained(state)


def test_shape_mismatch_is_an_error_even_when_not_strict(small):
    state = to_mmagic(small.state_dict())
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_pretrained(state, mid_channels=8, strict=False)


def test_lightcnn_or_discriminator_only_checkpoints_are_refused(tmp_path):
    keys = [key for key, _, _ in read_table("lightcnn_keys.txt")]
    lightcnn = {key: torch.zeros(1) for key in keys}
    with pytest.raises(CheckpointError, match="LightCNN"):
        load_pretrained(lightcnn)
    mmcv_d = {"meta": {}, "state_dict": {f"discriminator.{k}": v for k, v in lightcnn.items()}}
    with pytest.raises(CheckpointError, match="not a DICNet"):
        load_pretrained(mmcv_d)
    with pytest.raises(CheckpointError, match="discriminator"):
        load_pretrained({"netD": lightcnn})


# -- the official pretrained feedback hourglass -------------------------------------------------------------

def test_load_official_hourglass(tmp_path, small, mmagic_to_official):
    official = {mmagic_to_official[k][len("HG."):]: v for k, v in to_mmagic(small.state_dict()).items()
                if k.startswith("hour_glass.")}
    assert "compress_in.weight" in official and "hg.res_center.conv_block.0.weight" in official
    path = tmp_path / "FB_HG_68_CelebA.pth"
    torch.save(official, path)
    hourglass = load_official_hourglass(path, FeedbackHourglass(32, 68))
    assert_same_weights(hourglass, small.landmark_estimator)
    torch.manual_seed(9)
    model = DICNet(**SMALL)
    assert load_official_hourglass(official, model) is model.landmark_estimator
    assert_same_weights(model.landmark_estimator, small.landmark_estimator)
    with pytest.raises(CheckpointError, match="feedback-hourglass checkpoint"):
        load_pretrained(path)
    incomplete = {k: v for k, v in official.items() if k != "hg_conv_out.2.bias"}
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): last\.3\.bias"):
        load_official_hourglass(incomplete, FeedbackHourglass(32, 68))
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_official_hourglass(official, FeedbackHourglass(64, 68))


def test_read_checkpoint_never_unpickles_code(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": Path("x")}, path)  # an arbitrary Python object, refused by weights_only
    with pytest.raises(CheckpointError, match="evil.pth"):
        read_checkpoint(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_checkpoint(_save(tmp_path / "ok.pth", {"a": np.float32(1.0), "b": np.arange(3)}))["a"] == 1.0


def _save(path: Path, obj) -> Path:
    torch.save(obj, path)
    return path
