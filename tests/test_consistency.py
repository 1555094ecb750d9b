"""Consistency with the input (:mod:`dicmini.models.consistency`), PIL's bicubic as a matrix
(:func:`dicmini.data.degrade.resize_matrix`) and the ``consistent`` options of inference, evaluation and CLI."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import dicmini
from dicmini.cli import main
from dicmini.data.datasets import SyntheticFaces
from dicmini.data.degrade import bicubic_upsample, denormalize, downsample, normalize, resize_matrix, to_uint8
from dicmini.metrics import psnr
from dicmini.models import DICNet, save_dicmini_checkpoint
from dicmini.models.consistency import consistent_output, make_consistent
from dicmini.models.flip_ensemble import flip_ensemble
from dicmini.models.test_time import run_model
from dicmini.train.evaluate import evaluate

ARCH = dict(mid_channels=4, num_blocks=1, hg_mid_channels=8, upscale_factor=2, num_fusion_blocks=1)
CROPS = Path(__file__).resolve().parents[1] / "notebooks" / "artifacts" / "real_faces"


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return DICNet(**ARCH).eval()


def chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float64)).permute(2, 0, 1)


def shrink(image: torch.Tensor, scale: int = 8) -> torch.Tensor:
    """``[..., C, H, W]`` -> PIL bicubic x1/scale through the matrices (float64)."""
    h, w = image.shape[-2:]
    down_h = torch.tensor(resize_matrix(h, h // scale))
    down_w = torch.tensor(resize_matrix(w, w // scale))
    return down_h @ image.double() @ down_w.T


@pytest.mark.parametrize("size", [(128, 128), (64, 96)])
def test_resize_matrix_is_pils_bicubic_downscale(size):
    hr = np.random.default_rng(0).integers(0, 256, size=(*size, 3), dtype=np.uint8)
    predicted = shrink(chw(hr)).permute(1, 2, 0).numpy()
    # PIL rounds to 8 bits after each of its two passes: at most one grey level apart
    assert np.abs(predicted - downsample(hr)).max() < 1.0
    assert np.allclose(resize_matrix(size[1], size[1] // 8).sum(axis=1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="positive"):
        resize_matrix(0, 16)


def test_the_consistent_image_shrinks_to_the_input_and_is_the_nearest():
    rng = np.random.default_rng(1)
    lr = normalize(rng.integers(0, 256, size=(2, 16, 16, 3), dtype=np.uint8))
    sr = torch.from_numpy(rng.normal(0.0, 0.3, size=(2, 3, 128, 128)).astype(np.float32))
    other = torch.from_numpy(rng.normal(0.0, 0.3, size=(2, 3, 128, 128)).astype(np.float32))
    fixed = make_consistent(sr, lr)
    assert fixed.dtype == torch.float32 and fixed.shape == sr.shape
    torch.testing.assert_close(shrink(fixed), lr.double(), rtol=0, atol=1e-5)
    torch.testing.assert_close(make_consistent(fixed, lr), fixed, rtol=0, atol=1e-5)       # a projection
    # the correction is orthogonal to every consistent direction: the nearest consistent image
    correction = (fixed - sr).double()
    along = (make_consistent(other, lr) - fixed).double()
    assert abs(float((correction * along).sum())) < 1e-6 * float(correction.norm() * along.norm())
    with pytest.raises(ValueError, match="sr and lr"):
        make_consistent(sr, lr[0])
    with pytest.raises(ValueError, match="at most"):
        make_consistent(lr, sr)


def test_on_real_faces_it_never_moves_bicubic_away_from_the_face():
    crops = sorted(CROPS.glob("*.png"))
    assert len(crops) >= 5, f"{CROPS}: the public-domain benchmark crops are missing"
    gains = []
    for path in crops:
        hr = np.asarray(Image.open(path).convert("RGB"))
        lr = downsample(hr)
        bicubic = bicubic_upsample(lr)
        fixed = make_consistent(chw(bicubic), chw(lr)).clamp(0, 255)
        plain_err = float(((chw(bicubic) - chw(hr)) ** 2).sum())
        fixed_err = float(((fixed - chw(hr)) ** 2).sum())
        assert fixed_err < plain_err, path.name     # whole image: the true face is (up to rounding) consistent
        gains.append(psnr(fixed.permute(1, 2, 0).numpy(), hr, 8, "mmagic") - psnr(bicubic, hr, 8, "mmagic"))
    assert np.mean(gains) > 0.3        # PIL's bicubic up is far from consistent with its own bicubic down


@torch.no_grad()
def test_run_model_combines_the_options_in_either_order(model):
    x = normalize(np.random.default_rng(2).integers(0, 256, size=(2, 16, 16, 3), dtype=np.uint8))
    plain = model(x)
    out = run_model(model, x, consistent=True)
    assert len(out.sr) == model.num_steps
    for sr, heat, plain_heat in zip(out.sr, out.heatmaps, plain.heatmaps):
        torch.testing.assert_close(shrink(sr), x.double(), rtol=0, atol=1e-5)
        assert torch.equal(heat, plain_heat)
    both = run_model(model, x, flip=True, consistent=True)
    mirrored = consistent_output(model(x.flip(-1)), x.flip(-1))
    for t in range(model.num_steps):
        torch.testing.assert_close(both.sr[t], consistent_output(flip_ensemble(model, x), x).sr[t])
        # projecting each pass first gives the same images: PIL's bicubic is mirror-symmetric
        torch.testing.assert_close(both.sr[t], (out.sr[t] + mirrored.sr[t].flip(-1)) / 2, rtol=0, atol=1e-5)
    torch.testing.assert_close(run_model(model, x).sr[-1], plain.sr[-1], rtol=0, atol=0)


def test_super_resolve_and_evaluate_consistent(model):
    data = SyntheticFaces(2, first_seed=0, held_out=True, pool=False)
    lr = to_uint8(denormalize(data[0]["lr"]))           # a face: nothing to clip
    out = dicmini.super_resolve(lr, model, consistent=True)
    # rounded to uint8 and clipped (this untrained model overshoots): off by a fraction of a grey level on average
    off = np.abs(downsample(out).astype(int) - lr).mean()
    assert off < 0.6 and off < np.abs(downsample(dicmini.super_resolve(lr, model)).astype(int) - lr).mean() / 5

    result = evaluate(model, data, consistent=True, landmarks=False, batch_size=2)
    batch = [data[i] for i in range(2)]
    lr_t = torch.stack([b["lr"] for b in batch])
    with torch.no_grad():
        sr = denormalize(make_consistent(model(lr_t).sr[-1], lr_t).float())
    hr = [to_uint8(denormalize(b["hr"])) for b in batch]
    assert result.consistent and not result.flip and "consistent with the input" in result.markdown()
    assert result.psnr[-1] == pytest.approx(np.mean([psnr(sr[i], hr[i], 8, "mmagic") for i in range(2)]), abs=1e-9)


def test_cli_sr_and_test_consistent(tmp_path, capsys, model):
    ckpt = save_dicmini_checkpoint(tmp_path / "m.pt", model)
    lr = np.random.default_rng(4).integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    Image.fromarray(lr).save(tmp_path / "in.png")
    assert main(["sr", str(tmp_path / "in.png"), str(tmp_path / "out.png"), "--checkpoint", str(ckpt),
                 "--consistent", "--flip"]) == 0
    assert "consistent with the input" in capsys.readouterr().out
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out.png")),
                                  dicmini.super_resolve(lr, model, flip=True, consistent=True))
    args = ["test", "--checkpoint", str(ckpt), "--data", "synthetic", "--n", "2", "--batch-size", "2",
            "--no-identity", "--no-lpips", "--quiet", "--consistent", "--json", str(tmp_path / "c.json")]
    assert main(args) == 0
    payload = json.loads((tmp_path / "c.json").read_text())
    assert payload["consistent"] is True and payload["flip"] is False
    expected = evaluate(model, SyntheticFaces(2, first_seed=0, held_out=True), consistent=True, batch_size=2)
    assert payload["psnr"] == pytest.approx(expected.psnr, abs=1e-9)


@torch.no_grad()
def test_run_model_guided_by_given_landmarks(model):
    from dicmini.data.landmarks import flip_landmarks
    from dicmini.models.test_time import guidance_maps

    x = normalize(np.random.default_rng(5).integers(0, 256, size=(2, 16, 16, 3), dtype=np.uint8))
    points = np.random.default_rng(6).uniform(30, 100, size=(2, 68, 2))
    maps = guidance_maps(points, x, 1.5)
    assert maps.shape == (2, 68, 32, 32)
    torch.testing.assert_close(run_model(model, x, guide_points=points, sigma=1.5).sr[-1],
                               model(x, guidance=maps).sr[-1], rtol=0, atol=0)
    assert not torch.allclose(run_model(model, x, guide_points=points, sigma=1.5).sr[-1], model(x).sr[-1])
    # the mirrored pass is guided by the mirrored points: the whole answer stays mirror-equivariant
    a = run_model(model, x, flip=True, consistent=True, guide_points=points, sigma=1.5).sr
    b = run_model(model, x.flip(-1), flip=True, consistent=True, guide_points=flip_landmarks(points, 128), sigma=1.5).sr
    for ta, tb in zip(a, b):
        torch.testing.assert_close(ta, tb.flip(-1), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="guide_points"):
        run_model(model, x, guide_points=points[:1])
