"""LightCNN discriminator / feature network (docs/reference_implementations.md#dicgan-networks) and the VGG19
feature trunk."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from dicmini.models.weights import CheckpointError
from refvectors import load_vector, require_vectors

from dicmini.models import lightcnn as lightcnn_mod
from dicmini.models import vgg as vgg_mod
from dicmini.models.lightcnn import LightCNN, LightCNNFeature, MaxFeature, lightcnn_from_official
from dicmini.models.vgg import VGG19_LAYER_NAMES, VGG19Features

torch.set_num_threads(1)

ATOL = RTOL = 1e-5


def vectors(name: str) -> Path:
    return require_vectors(name) / name


load = load_vector


def read_table(name: str) -> list[list[str]]:
    lines = vectors(name).read_text().splitlines()
    return [line.split("\t") for line in lines if line.strip() and not line.startswith("#")]


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def to_official(sd: dict) -> dict:
    """MMagic -> official layout, from the keymap file (used to build official-layout test files)."""
    inverse = {mm: off for off, mm, _ in read_table("official_to_mmagic_lightcnn_keymap.txt")}
    return {inverse[k]: v for k, v in sd.items()}


@pytest.fixture
def fresh_warnings(monkeypatch):
    """Reset the warn-once flags so every test sees a 'first' construction."""
    monkeypatch.setattr(lightcnn_mod, "_WARNED_RANDOM_FEATURE", False)
    monkeypatch.setattr(vgg_mod, "_WARNED_RANDOM_VGG", False)


# ------------------------------------------------------------------------------------------- LightCNN


def test_max_feature_conv_and_linear():
    torch.manual_seed(0)
    conv = MaxFeature(3, 4, 3, 1, 1)
    x = torch.randn(2, 3, 5, 5)
    y = conv.filter(x)
    assert torch.equal(conv(x), torch.maximum(y[:, :4], y[:, 4:]))
    lin = MaxFeature(6, 2, filter_type="linear")
    z = torch.randn(3, 6)
    w = lin.filter(z)
    assert lin(z).shape == (3, 2)
    assert torch.equal(lin(z), torch.maximum(w[:, :2], w[:, 2:]))
    assert sorted(k for k, _ in lin.named_parameters()) == ["filter.bias", "filter.weight"]
    with pytest.raises(ValueError):
        MaxFeature(3, 4, filter_type="deconv")


def test_lightcnn_param_count():
    net = LightCNN(3)
    assert n_params(net) == 5_485_921
    assert n_params(net.features) == 1_290_848
    assert n_params(net.classifier) == 4_195_073
    assert isinstance(net.classifier[1], torch.nn.LeakyReLU) and net.classifier[1].negative_slope == 0.2
    pools = [m for m in net.features if isinstance(m, torch.nn.MaxPool2d)]
    assert len(pools) == 4 and all(p.ceil_mode and p.kernel_size == 2 and p.stride == 2 for p in pools)


def test_lightcnn_keys_and_shapes_match_reference():
    expected = [(k, [int(s) for s in shape.split("x")]) for k, shape, _ in read_table("lightcnn_keys.txt")]
    got = [(k, list(v.shape)) for k, v in LightCNN(3).state_dict().items()]
    assert got == expected
    feat = LightCNNFeature(LightCNN(3).state_dict())
    assert [(k, list(v.shape)) for k, v in feat.state_dict().items()] == [
        e for e in expected if e[0].startswith("features.")
    ]


def test_lightcnn_reproduces_reference_vectors():
    state, io = load("lightcnn_seed0_state.pt"), load("lightcnn_seed0_io.pt")
    net = LightCNN(3)
    net.load_state_dict(state, strict=True)
    net.eval()
    with torch.no_grad():
        out = net(io["x"])
        feats = net.features(io["x"])
    assert out.shape == (2, 1) and feats.shape == (2, 128, 8, 8)
    torch.testing.assert_close(out, io["out"], atol=ATOL, rtol=RTOL)
    torch.testing.assert_close(feats, io["features"], atol=ATOL, rtol=RTOL)


def test_lightcnn_wrong_input_size():
    net = LightCNN(3)
    with pytest.raises(ValueError, match=r"x.*128.*8\*8\*128"):
        net(torch.zeros(1, 3, 64, 64))
    with pytest.raises(ValueError, match="128"):
        net(torch.zeros(1, 1, 128, 128))


def test_official_keymap_rules_reproduce_every_line():
    rows = read_table("official_to_mmagic_lightcnn_keymap.txt")
    assert len(rows) == 22
    official = {off: torch.zeros([int(s) for s in shape.split("x")]) for off, _, shape in rows}
    mapped = lightcnn_from_official(official)
    assert list(mapped) == [mm for _, mm, _ in rows]
    for off, mm, _ in rows:
        assert mapped[mm] is official[off]
    # and the mapped layout is exactly LightCNN's
    LightCNN(3).load_state_dict(mapped, strict=True)


def test_lightcnn_feature_loads_mmagic_and_official_layouts(tmp_path, fresh_warnings):
    state, io = load("lightcnn_seed0_state.pt"), load("lightcnn_seed0_io.pt")
    feats_only = {k: v for k, v in state.items() if k.startswith("features.")}
    files = {
        "mmagic.pth": feats_only,
        "mmagic_wrapped.pth": {"state_dict": feats_only, "meta": {"note": "mmcv"}},
        "official.pth": to_official(feats_only),
        "official_full.pth": to_official(state),  # full discriminator: classifier.* ignored on purpose
        "official_bare.pth": {k[len("features."):]: v for k, v in to_official(feats_only).items()},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no random-weights warning when weights are given
        for name, sd in files.items():
            torch.save(sd, tmp_path / name)
            net = LightCNNFeature(tmp_path / name)
            assert net.pretrained is True
            with torch.no_grad():
                torch.testing.assert_close(net(io["x"]), io["features"], atol=ATOL, rtol=RTOL)
        net = LightCNNFeature(str(tmp_path / "official.pth"))  # str path and dict input too
        net = LightCNNFeature(feats_only)
    assert net.pretrained


def test_lightcnn_feature_frozen_eval_and_grad_to_input(fresh_warnings):
    with pytest.warns(UserWarning):
        net = LightCNNFeature()
    assert not net.training
    net.train()
    assert not net.training and not any(m.training for m in net.modules())
    assert all(not p.requires_grad for p in net.parameters())
    assert n_params(net) == 1_290_848
    x = torch.rand(1, 3, 128, 128, requires_grad=True)
    out = net(x)
    assert out.shape == (1, 128, 8, 8)
    out.abs().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())


def test_lightcnn_feature_random_warns_once(fresh_warnings, recwarn):
    net1 = LightCNNFeature()
    net2 = LightCNNFeature()
    msgs = [str(w.message) for w in recwarn.list if "LightCNNFeature" in str(w.message)]
    assert len(msgs) == 1
    assert "RANDOM" in msgs[0] and "light_cnn_feature.pth" in msgs[0] and "LightCNN_feature.pth" in msgs[0]
    assert net1.pretrained is False and net2.pretrained is False


def test_lightcnn_feature_strict_loading_errors(tmp_path, fresh_warnings):
    state = LightCNN(3).state_dict()
    feats_only = {k: v for k, v in state.items() if k.startswith("features.")}
    missing = dict(feats_only)
    del missing["features.9.filter.bias"]
    torch.save(missing, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): features\.9\.filter\.bias"):
        LightCNNFeature(tmp_path / "missing.pth")
    extra = dict(feats_only, **{"features.99.filter.weight": torch.zeros(1)})
    with pytest.raises(CheckpointError, match=r"unexpected keys \(1\): features\.99\.filter\.weight"):
        LightCNNFeature(extra)
    bad_shape = dict(feats_only, **{"features.0.filter.bias": torch.zeros(5)})
    with pytest.raises(CheckpointError, match="shape mismatches"):
        LightCNNFeature(bad_shape)


# ------------------------------------------------------------------------------------------- VGG19


VGG_CONV_INDICES = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def torchvision_like_state(seed: int) -> dict:
    """Random tensors in torchvision's vgg19 layout, including the classifier head."""
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}
    in_ch = 3
    channels = [64, 64, 128, 128, 256, 256, 256, 256] + [512] * 8
    for idx, out_ch in zip(VGG_CONV_INDICES, channels):
        sd[f"features.{idx}.weight"] = torch.randn(out_ch, in_ch, 3, 3, generator=g) * (2.0 / (9 * in_ch)) ** 0.5
        sd[f"features.{idx}.bias"] = torch.randn(out_ch, generator=g) * 0.01
        in_ch = out_ch
    sd["classifier.0.weight"] = torch.zeros(8, 16)  # small stand-ins for the FC head (ignored)
    sd["classifier.0.bias"] = torch.zeros(8)
    sd["classifier.6.weight"] = torch.zeros(2, 8)
    return sd


def test_vgg_layout_and_param_count(fresh_warnings):
    with pytest.warns(UserWarning, match="RANDOM"):
        net = VGG19Features()
    assert net.pretrained is False
    assert n_params(net) == 20_024_384
    expected = [f"features.{i}.{p}" for i in VGG_CONV_INDICES for p in ("weight", "bias")]
    assert list(net.state_dict()) == expected
    assert VGG19_LAYER_NAMES[34] == "conv5_4" and VGG19_LAYER_NAMES[35] == "relu5_4"


def test_vgg_warns_once(fresh_warnings, recwarn):
    VGG19Features()
    VGG19Features(layer="relu2_2")
    assert len([w for w in recwarn.list if "VGG19Features" in str(w.message)]) == 1


def test_vgg_loads_torchvision_layout(tmp_path, fresh_warnings):
    torch.save(torchvision_like_state(1), tmp_path / "vgg19.pth")
    x = torch.rand(1, 3, 32, 32) - 0.4
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = VGG19Features(tmp_path / "vgg19.pth", layer="relu2_2")
        b = VGG19Features(torchvision_like_state(2), layer=8)
    assert a.pretrained and b.pretrained
    with torch.no_grad():
        ya, yb = a(x), b(x)
    assert ya.shape == yb.shape == (1, 128, 16, 16)
    assert not torch.allclose(ya, yb)
    # the loaded weights are used: recompute the first conv by hand
    sd = torchvision_like_state(1)
    mean = torch.tensor([0.509, 0.424, 0.378]).view(1, 3, 1, 1)
    in_mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    in_std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    xin = (x + mean - in_mean) / in_std
    ref = torch.nn.functional.conv2d(xin, sd["features.0.weight"], sd["features.0.bias"], padding=1)
    with torch.no_grad():
        torch.testing.assert_close(VGG19Features(sd, layer=0)(x), ref, atol=1e-5, rtol=1e-5)
        unit = VGG19Features(sd, layer=0, input_space="unit")(x + mean)
    torch.testing.assert_close(unit, ref, atol=1e-5, rtol=1e-5)


def test_vgg_strict_loading(fresh_warnings):
    sd = torchvision_like_state(0)
    del sd["features.34.bias"]
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): features\.34\.bias"):
        VGG19Features(sd)
    sd = torchvision_like_state(0)
    sd["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="unexpected keys"):
        VGG19Features(sd)


def test_vgg_output_shapes_and_gradients(fresh_warnings):
    with pytest.warns(UserWarning):
        net = VGG19Features()
    net.train()
    assert not net.training
    assert all(not p.requires_grad for p in net.parameters())
    x = torch.rand(1, 3, 128, 128, requires_grad=True)
    out = net(x)
    assert out.shape == (1, 512, 8, 8)
    out.pow(2).mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())

    multi = VGG19Features(layer=[34, "relu5_4", "conv1_1"])
    with torch.no_grad():
        res = multi(x)
    assert set(res) == {34, "relu5_4", "conv1_1"}
    assert res["conv1_1"].shape == (1, 64, 128, 128)
    # relu is not in-place: the pre-activation output survives a deeper request
    assert (res[34] < 0).any()
    torch.testing.assert_close(res["relu5_4"], res[34].clamp_min(0))
    with pytest.raises(ValueError):
        VGG19Features(layer="conv6_1")
    with pytest.raises(ValueError):
        VGG19Features(layer=37)
