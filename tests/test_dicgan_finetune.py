"""Tests of benchmarks/dicgan_finetune.py (sharpness measures; the evaluator on a two-iteration ``dicmini train``
DICGAN run) and of its committed artifacts (notebooks/artifacts/dicgan_tiny*.json, dicgan_tiny.pt) that notebook 08
and the README read."""

from __future__ import annotations

import json
import shlex
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from benchscripts import load_benchmark
from dicmini.cli import main as cli
from dicmini.data.degrade import bicubic_upsample, denormalize, downsample, normalize
from dicmini.data.synthetic import HELD_OUT_SEED_START, render_face
from dicmini.metrics import lpips, psnr
from dicmini.models import DICNet, load_pretrained, save_dicmini_checkpoint
from dicmini.models.convert import read_checkpoint
from dicmini.train.config import RUN_ONLY_KEYS, apply_overrides, config_from_dict, config_to_dict, get_config

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "notebooks" / "artifacts"
ARTIFACT_JSON = ARTIFACTS / "dicgan_tiny.json"
ARTIFACT_PT = ARTIFACTS / "dicgan_tiny.pt"
COMMITTED = sorted(ARTIFACTS.glob("dicgan_tiny*.json"))

ARCH = dict(mid_channels=4, num_blocks=1, hg_mid_channels=8, upscale_factor=2, num_fusion_blocks=1, num_steps=2)


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("dicgan_finetune")


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return render_face(HELD_OUT_SEED_START + 5)[0]


def _sets(command: str) -> tuple[str, list[str]]:
    """The named config and the ``--set`` values of a ``dicmini train`` command."""
    words = shlex.split(command)
    return words[words.index("--config") + 1], [words[i + 1] for i, w in enumerate(words) if w == "--set"]


def _trained(config: dict) -> dict:
    return {k: v for k, v in config_to_dict(config_from_dict(config)).items() if k not in RUN_ONLY_KEYS}


# --------------------------------------------------------------------------------------------- metrics
def test_sharpness_of_hr_is_one_and_blur_is_lower(bench, face):
    hr = face.astype(np.float64)
    scores = bench.image_scores(hr, face)
    assert scores["hf_ratio"] == pytest.approx(1.0)
    assert scores["lap_ratio"] == pytest.approx(1.0)
    blurry = bench.image_scores(bicubic_upsample(downsample(face)).astype(np.float64), face)
    assert blurry["hf_ratio"] < 0.2 and blurry["lap_ratio"] < 0.05
    assert blurry["psnr"] < 40


def test_sharpness_measures_ignore_constant_offsets_and_scale_quadratically(bench, face):
    hr = face.astype(np.float64)
    assert bench.hf_energy(hr + 10.0) == pytest.approx(bench.hf_energy(hr))
    assert bench.laplacian_energy(hr + 10.0) == pytest.approx(bench.laplacian_energy(hr))
    assert bench.hf_energy(2 * hr) == pytest.approx(4 * bench.hf_energy(hr))
    assert bench.laplacian_energy(2 * hr) == pytest.approx(4 * bench.laplacian_energy(hr))
    flat = np.full((128, 128, 3), 77.0)
    assert bench.hf_energy(flat) == pytest.approx(0.0, abs=1e-12)
    assert bench.laplacian_energy(flat) == 0.0


def test_windowed_spectrum_bins(bench, face):
    f, p = bench.windowed_spectrum(face)
    crop = 128 - 2 * bench.CROP
    assert len(f) == len(p) == crop // 2 + 1
    assert f[-1] == pytest.approx(0.5)
    assert (p >= 0).all()


def test_train_command_lists_the_changed_settings(bench):
    stored = config_to_dict(apply_overrides(get_config("tiny-dicgan"), {"gan_weight": 0.005, "milestones": (5, 9)}))
    command = bench.train_command(stored)
    assert command == "dicmini train --config tiny-dicgan --set gan_weight=0.005 --set milestones=5,9"
    assert bench.train_command(config_to_dict(get_config("tiny-dicgan"))) == "dicmini train --config tiny-dicgan"


# ------------------------------------------------------------------------------- the evaluator on a run
def test_evaluates_and_ships_a_two_iteration_dicmini_train_run(bench, tmp_path, lpips_weights):
    torch.manual_seed(0)
    start = save_dicmini_checkpoint(tmp_path / "start.pt", DICNet(**ARCH))
    run = tmp_path / "run"
    sets = [f"{k}={v}" for k, v in ARCH.items()] + [
        f"init_generator={start}", "iterations=2", "d_warmup=1", "batch_size=2", "train_size=4", "val_size=2",
        "log_every=1",
        # the small CLI runs of the tests switch off the tiny recipe's face pool (the other levers are off in
        # tiny-dicgan already)
        "face_pool=false"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli(["train", "--config", "tiny-dicgan", *[w for s in sets for w in ("--set", s)],
                    "--out", str(run), "--quiet"]) == 0
        out_json, out_pt = tmp_path / "d.json", tmp_path / "d.pt"
        result = bench.main(["--run", str(run), "--eval-n", "3", "--json", str(out_json), "--ship",
                             "--ship-to", str(out_pt)])
    stored = json.loads(out_json.read_text())
    assert stored["iterations"] == 2 and stored["gan_iterations"] == 1 and stored["train_minutes"] > 0
    assert stored["eval"]["num_images"] == 3
    for name in ("dic", "dicgan"):
        for m in bench.METRICS:
            assert len(stored["eval"][name][m]) == 2 and np.isfinite(stored["eval"][name][m]).all()
    # the training command restores the run's config
    name, values = _sets(stored["train_command"])
    assert stored["train_command"].endswith(f"--out {run}")
    assert _trained(config_to_dict(apply_overrides(get_config(name), values))) == _trained(stored["train_config"])
    assert "python benchmarks/dicgan_finetune.py --run" in stored["command"]
    # the log's curve: both iterations' losses (the generator frozen in the D warm-up), validation at 0 and 2
    first, second = stored["curve"]["train"]
    assert (first["step"], second["step"]) == (1, 2) and first["grad_norm"] == 0 < second["grad_norm"]
    assert first["gan"] > 0 and second["gan"] > 0
    assert all(np.isfinite(r["d_loss"]) for r in stored["curve"]["train"])
    assert [r["step"] for r in stored["curve"]["val"]] == [0, 2]
    check = stored["eval"]["val_check"]
    assert check["recomputed_last_step_psnr"] == pytest.approx(check["log_last_step_psnr"], abs=1e-3)
    # "before" is the starting generator, "after" the run's last.pt
    hr = render_face(HELD_OUT_SEED_START)[0]
    with torch.no_grad():
        for key, model in (("dic_last", load_pretrained(start)), ("dicgan_last", load_pretrained(run / "last.pt"))):
            sr = denormalize(model(normalize(downsample(hr))[None]).sr[-1])[0]
            assert psnr(sr, hr, 8, "mmagic") == pytest.approx(stored["eval"]["per_face"][key]["psnr"][0], abs=1e-6)
    # the shipped generator: the run's last weights, its train config and command
    shipped = read_checkpoint(out_pt)
    assert shipped["command"] == stored["train_command"].rsplit(" --out ", 1)[0]
    assert shipped["train_config"] == stored["train_config"] and shipped["iterations"] == 2
    last = load_pretrained(run / "last.pt").state_dict()
    assert all(torch.equal(v, last[k]) for k, v in load_pretrained(out_pt).state_dict().items())
    assert result["eval"]["dicgan"]["psnr"] == stored["eval"]["dicgan"]["psnr"]


def test_refuses_a_run_that_is_not_a_dicgan_fine_tune(bench, tmp_path):
    run = tmp_path / "dic"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli(["train", "--config", "tiny", *[w for k, v in ARCH.items() for w in ("--set", f"{k}={v}")],
                    "--set", "iterations=1", "--set", "train_size=2", "--set", "val_size=1", "--set",
                    "batch_size=2", "--set", "hourglass_stage=", "--set", "face_pool=false", "--set",
                    "release_hourglass_step=0", "--out", str(run), "--quiet"]) == 0
    with pytest.raises(SystemExit, match="expected a DICGAN fine-tune"):
        bench.main(["--run", str(run), "--json", str(tmp_path / "x.json")])


# ------------------------------------------------------------------------------- the committed results
@pytest.mark.parametrize("path", COMMITTED, ids=lambda p: p.name)
def test_committed_figures_rederive_from_their_per_face_values(path):
    result = json.loads(path.read_text())
    ev = result["eval"]
    n = ev["num_images"]
    assert ev["seeds"] == [HELD_OUT_SEED_START, HELD_OUT_SEED_START + n - 1]
    for name, key in (("dic", "dic_last"), ("dicgan", "dicgan_last")):
        for m, values in ev["per_face"][key].items():
            assert len(values) == n
            assert np.mean(values) == pytest.approx(ev[name][m][-1], rel=1e-9)
    for m, values in ev["per_face"]["bicubic"].items():
        assert np.mean(values) == pytest.approx(ev["bicubic"][m], rel=1e-9)
    for m, paired in ev["paired_dicgan_minus_dic_last"].items():
        d = np.subtract(ev["per_face"]["dicgan_last"][m], ev["per_face"]["dic_last"][m])
        assert paired["mean"] == pytest.approx(d.mean(), rel=1e-9, abs=1e-12)
        assert paired["frac_positive"] == (d > 0).mean()
    # the log's validation at iteration 0 (the starting generator, 16 faces) and the evaluation's first 16 faces
    # of the same generator agree; so do the last validation and the fine-tuned generator
    val = result["curve"]["val"]
    k = val[0]["num_images"]
    assert val[0]["step"] == 0 and val[-1]["step"] == result["iterations"]
    assert val[0]["psnr"][-1] == pytest.approx(np.mean(ev["per_face"]["dic_last"]["psnr"][:k]), abs=1e-3)
    assert val[-1]["psnr"][-1] == pytest.approx(np.mean(ev["per_face"]["dicgan_last"]["psnr"][:k]), abs=1e-3)
    # made by `dicmini train`: the stored command restores the stored config
    name, values = _sets(result["train_command"])
    assert result["train_command"].startswith(f"dicmini train --config {name}")
    assert _trained(config_to_dict(apply_overrides(get_config(name), values))) == _trained(result["train_config"])
    assert result["command"].startswith("OMP_NUM_THREADS=1 python benchmarks/dicgan_finetune.py --run ")
    assert result["iterations"] > 0 and result["train_minutes"] > 0


def test_committed_variants_differ_from_the_shipped_run_in_one_setting():
    runs = {p.name: json.loads(p.read_text()) for p in COMMITTED}
    assert runs["dicgan_tiny.json"]["overrides"] == {}
    assert runs["dicgan_tiny.gan0.005.json"]["overrides"] == {"gan_weight": 0.005}
    assert runs["dicgan_tiny.gan_only.json"]["overrides"] == {"feature_weight": 0.0}
    dic = runs["dicgan_tiny.json"]["eval"]["per_face"]["dic_last"]["psnr"]
    assert all(r["eval"]["per_face"]["dic_last"]["psnr"] == pytest.approx(dic, abs=1e-6) for r in runs.values())


def test_committed_checkpoint_reproduces_its_per_face_values(lpips_weights):
    """PSNR and LPIPS of the committed DICGAN generator and of bicubic on the first held-out face, recomputed here,
    equal the stored per-face values."""
    ev = json.loads(ARTIFACT_JSON.read_text())["eval"]
    model = load_pretrained(ARTIFACT_PT)
    assert model.num_steps == len(ev["dicgan"]["psnr"])
    hr = render_face(HELD_OUT_SEED_START)[0]
    lr = downsample(hr)
    with torch.no_grad():
        sr = denormalize(model(normalize(lr)[None]).sr[-1])[0]
    assert psnr(sr, hr, 8, "mmagic") == pytest.approx(ev["per_face"]["dicgan_last"]["psnr"][0], abs=1e-3)
    assert lpips(sr, hr) == pytest.approx(ev["per_face"]["dicgan_last"]["lpips"][0], abs=1e-4)
    assert lpips(bicubic_upsample(lr), hr) == pytest.approx(ev["per_face"]["bicubic"]["lpips"][0], abs=1e-4)
