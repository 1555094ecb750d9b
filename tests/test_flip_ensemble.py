"""The flip ensemble (:mod:`dicmini.models.flip_ensemble`) and its ``flip`` options in inference, evaluation and CLI."""

import numpy as np
import pytest
import torch
from PIL import Image

import dicmini
from dicmini.cli import main
from dicmini.data.datasets import SyntheticFaces
from dicmini.data.degrade import denormalize, normalize, to_uint8
from dicmini.metrics import psnr
from dicmini.models import DICNet, save_dicmini_checkpoint
from dicmini.models.flip_ensemble import flip_ensemble
from dicmini.train.evaluate import evaluate

ARCH = dict(mid_channels=4, num_blocks=1, hg_mid_channels=8, upscale_factor=2, num_fusion_blocks=1)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DICNet(**ARCH).eval()


def lr_batch(n: int = 2) -> torch.Tensor:
    return normalize(np.random.default_rng(0).integers(0, 256, size=(n, 16, 16, 3), dtype=np.uint8))


@torch.no_grad()
def test_images_are_the_mean_of_the_two_passes_and_heatmaps_the_plain_ones(model):
    x = lr_batch()
    out, plain, mirrored = flip_ensemble(model, x), model(x), model(torch.flip(x, dims=[-1]))
    assert len(out.sr) == len(plain.sr) == model.num_steps
    for t in range(model.num_steps):
        torch.testing.assert_close(out.sr[t], (plain.sr[t] + mirrored.sr[t].flip(-1)) / 2, rtol=0, atol=1e-7)
        assert torch.equal(out.heatmaps[t], plain.heatmaps[t])


@torch.no_grad()
def test_the_ensemble_is_mirror_equivariant_where_the_model_is_not(model):
    x = lr_batch()
    flipped = torch.flip(x, dims=[-1])
    assert not torch.allclose(model(flipped).sr[-1], model(x).sr[-1].flip(-1), atol=1e-4)
    a, b = flip_ensemble(model, flipped).sr, flip_ensemble(model, x).sr
    for ta, tb in zip(a, b):
        assert torch.equal(ta, tb.flip(-1))


def test_super_resolve_flip(model):
    lr = np.random.default_rng(1).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = to_uint8(denormalize(flip_ensemble(model, normalize(lr)[None]).sr[-1]))[0]
    out = dicmini.super_resolve(lr, model, flip=True)
    np.testing.assert_array_equal(out, expected)
    assert not np.array_equal(out, dicmini.super_resolve(lr, model))


def test_evaluate_flip_scores_the_ensemble(model):
    data = SyntheticFaces(2, first_seed=0, held_out=True, pool=False)
    result = evaluate(model, data, flip=True, landmarks=False, batch_size=2)
    batch = [data[i] for i in range(2)]
    lr = torch.stack([b["lr"] for b in batch])
    with torch.no_grad():
        sr = denormalize(flip_ensemble(model, lr).sr[-1].float())
    hr = [to_uint8(denormalize(b["hr"])) for b in batch]
    assert result.flip and "flip ensemble" in result.markdown()
    assert result.psnr[-1] == pytest.approx(np.mean([psnr(sr[i], hr[i], 8, "mmagic") for i in range(2)]), abs=1e-9)
    plain = evaluate(model, data, landmarks=False, batch_size=2)
    assert not plain.flip and plain.psnr[-1] != pytest.approx(result.psnr[-1], abs=1e-6)


def test_cli_sr_flip(tmp_path, capsys, model):
    ckpt = save_dicmini_checkpoint(tmp_path / "m.pt", model)
    lr = np.random.default_rng(2).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    Image.fromarray(lr).save(tmp_path / "in.png")
    code = main(["sr", str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--checkpoint", str(ckpt), "--flip"])
    out = capsys.readouterr().out
    assert code == 0 and "mirror image" in out
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png")),
                                  dicmini.super_resolve(lr, model, flip=True))


def test_cli_test_flip_writes_the_ensembles_figures(tmp_path, capsys, model):
    import json

    ckpt = save_dicmini_checkpoint(tmp_path / "m.pt", model)
    args = ["test", "--checkpoint", str(ckpt), "--data", "synthetic", "--n", "2", "--batch-size", "2",
            "--no-identity", "--no-lpips", "--quiet"]
    assert main([*args, "--flip", "--json", str(tmp_path / "flip.json")]) == 0
    assert main([*args, "--json", str(tmp_path / "single.json")]) == 0
    assert "flip ensemble" in capsys.readouterr().out
    flipped, single = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("flip", "single"))
    assert flipped["flip"] is True and single["flip"] is False
    expected = evaluate(model, SyntheticFaces(2, first_seed=0, held_out=True), flip=True, batch_size=2)
    assert flipped["psnr"] == pytest.approx(expected.psnr, abs=1e-9)
    assert flipped["nme"] == pytest.approx(single["nme"], abs=1e-12)       # landmarks: the plain pass's
    assert flipped["bicubic_psnr"] == pytest.approx(single["bicubic_psnr"], abs=1e-12)
