"""Causal experiments (dicmini.analysis) and DICNet's guidance hook, on tiny random models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dicmini import analysis as A
from dicmini.data.datasets import SyntheticFaces
from dicmini.data.landmarks import landmarks_to_heatmaps
from dicmini.models import DICNet, FeedbackHourglass

TINY = dict(mid_channels=4, num_blocks=1, hg_mid_channels=8, num_fusion_blocks=1, upscale_factor=2)
ARTIFACT = Path(__file__).resolve().parents[1] / "notebooks" / "artifacts" / "collaboration.json"


def tiny_model(num_steps: int = 3) -> DICNet:
    torch.manual_seed(0)
    return DICNet(num_steps=num_steps, **TINY).eval()


@pytest.fixture(scope="module")
def faces() -> A.FaceSet:
    return A.collect_faces(SyntheticFaces(4, held_out=True))


# -- the guidance hook of DICNet -------------------------------------------------------------------------------

def test_guidance_with_own_heatmaps_reproduces_forward():
    model = tiny_model(num_steps=2)
    lr = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        plain = model(lr)
        guided = model(lr, guidance=plain.heatmaps[0])
    for a, b in zip(plain.sr, guided.sr):
        torch.testing.assert_close(a, b, atol=0, rtol=0)


def test_guidance_changes_steps_after_the_first_only():
    model = tiny_model(num_steps=3)
    lr = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        plain = model(lr)
        guided = model(lr, guidance=torch.rand(2, 68, 32, 32))
    torch.testing.assert_close(plain.sr[0], guided.sr[0], atol=0, rtol=0)
    assert not torch.equal(plain.sr[2], guided.sr[2])


def test_zero_guidance_gives_zero_attention_maps():
    model = tiny_model()
    with torch.no_grad():
        trace = model.trace(torch.randn(1, 3, 16, 16), guidance=torch.zeros(1, 68, 32, 32))
    assert trace.attention[0] is None
    assert all(torch.count_nonzero(a) == 0 for a in trace.attention[1:])


@pytest.mark.parametrize("bad", [torch.zeros(1, 68, 32, 32), torch.zeros(2, 10, 32, 32), torch.zeros(2, 68, 16, 16),
                                 torch.zeros(2, 68, 32)])
def test_guidance_of_wrong_shape_is_refused(bad):
    with pytest.raises(ValueError, match="guidance: expected heatmaps"):
        tiny_model()(torch.randn(2, 3, 16, 16), guidance=bad)


# -- paired statistics --------------------------------------------------------------------------------------

def test_paired_statistics():
    d = A.paired([1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 5.0, 3.0])  # b - a = 1, 0, 2, -1
    assert d.mean == pytest.approx(0.5)
    assert d.std_err == pytest.approx(np.std([1, 0, 2, -1], ddof=1) / 2)
    assert d.frac_b_greater == pytest.approx(0.5) and d.n == 4
    assert np.isnan(A.paired([1.0], [2.0]).std_err)
    with pytest.raises(ValueError, match="same positive length"):
        A.paired([1.0, 2.0], [1.0])


# -- the experiments ------------------------------------------------------------------------------------------

def test_guidance_heatmaps_of_each_mode(faces):
    index = torch.tensor([2, 3])
    own_last = torch.rand(len(faces), 68, 32, 32)
    assert A.guidance_heatmaps("own", index, faces, 32) is None
    torch.testing.assert_close(A.guidance_heatmaps("other", index, faces, 32, own_last), own_last[[3, 0]])
    truth = landmarks_to_heatmaps(faces.landmarks[index], image_size=128, heatmap_size=32)
    torch.testing.assert_close(A.guidance_heatmaps("truth", index, faces, 32), truth)
    other_truth = landmarks_to_heatmaps(faces.landmarks[[3, 0]], image_size=128, heatmap_size=32)
    torch.testing.assert_close(A.guidance_heatmaps("other_truth", index, faces, 32), other_truth)
    mean = A.guidance_heatmaps("mean", index, faces, 32)
    torch.testing.assert_close(mean[0], mean[1])
    assert torch.count_nonzero(A.guidance_heatmaps("none", index, faces, 32)) == 0
    with pytest.raises(ValueError, match="needs own_last"):
        A.guidance_heatmaps("other", index, faces, 32)
    with pytest.raises(ValueError, match="guidance mode"):
        A.guidance_heatmaps("random", index, faces, 32)


def test_guidance_experiment_scores_every_step_and_face(faces):
    model = tiny_model(num_steps=2)
    result = A.guidance_experiment(model, faces, batch_size=3)
    assert result.modes == list(A.GUIDANCES)
    for mode in A.GUIDANCES:
        assert result.psnr[mode].shape == (2, len(faces)) and result.nme[mode].shape == (2, len(faces))
    # step 1 is never guided: identical under every mode
    for mode in A.GUIDANCES:
        np.testing.assert_allclose(result.psnr[mode][0], result.psnr["own"][0])
    # "other" for face 0 = the own last-step heatmaps of face 1, recomputed directly
    with torch.no_grad():
        bank = model(faces.lr[1:2]).heatmaps[-1]
        direct = model(faces.lr[0:1], guidance=bank)
    from dicmini.data.degrade import denormalize
    from dicmini.metrics import psnr
    assert result.psnr["other"][-1][0] == pytest.approx(psnr(denormalize(direct.sr[-1][0]), faces.hr[0]), abs=1e-9)
    summary = result.summary()
    assert set(summary["contrasts"]) == {"own_minus_other", "truth_minus_other_truth", "truth_minus_own",
                                         "own_minus_none"}
    d = result.versus("other")
    assert d.mean == pytest.approx(float(np.mean(result.psnr["other"][-1] - result.psnr["own"][-1])))
    assert "| other_truth |" in result.markdown()
    assert not model.training


def test_guidance_experiment_subset_and_bad_modes(faces):
    result = A.guidance_experiment(tiny_model(num_steps=2), faces, modes=("none",), batch_size=8)
    assert result.modes == ["own", "none"]  # own is always run (the baseline)
    with pytest.raises(ValueError, match="modes"):
        A.guidance_experiment(tiny_model(), faces, modes=("sideways",))
    with pytest.raises(ValueError, match="protocol"):
        A.guidance_experiment(tiny_model(), faces, protocol="nope")


def test_landmark_probe_with_an_oracle_and_a_hourglass(faces):
    model = tiny_model(num_steps=2)

    def oracle(images: torch.Tensor) -> torch.Tensor:  # one batch = the whole set, in order
        return faces.landmarks[: images.shape[0]]

    probe = A.landmark_probe(oracle, model, faces, batch_size=len(faces))
    assert probe.stages == ["bicubic", "step 1", "step 2", "HR"]
    np.testing.assert_allclose(probe.nme, 0.0, atol=1e-12)

    torch.manual_seed(1)
    hourglass = FeedbackHourglass(mid_channels=8)
    probe = A.landmark_probe(A.hourglass_estimator(hourglass, passes=2), model, faces, batch_size=2)
    assert probe.nme.shape == (4, len(faces)) and np.all(probe.nme > 0)
    d = probe.versus("HR")
    assert d.mean == pytest.approx(float(np.mean(probe.nme[3] - probe.nme[0])))
    assert set(probe.summary()["stages"]) == set(probe.stages)
    with pytest.raises(ValueError, match="passes"):
        A.hourglass_estimator(hourglass, passes=0)


def test_collect_faces_needs_two_faces():
    with pytest.raises(ValueError, match="at least 2 faces"):
        A.collect_faces(SyntheticFaces(1, held_out=True))


# -- the committed report of the shipped model -----------------------------------------------------------------

def test_committed_collaboration_report_rederives_its_contrasts():
    report = json.loads(ARTIFACT.read_text())
    per_face = {m: np.asarray(v) for m, v in report["guidance"]["last_step_psnr_per_face"].items()}
    for name, stored in report["guidance"]["summary"]["contrasts"].items():
        b, a = name.split("_minus_")
        d = A.paired(per_face[a], per_face[b])
        assert d.mean == pytest.approx(stored["mean"], abs=1e-9)
        assert d.std_err == pytest.approx(stored["std_err"], abs=1e-9)
    probe = {s: np.asarray(v) for s, v in report["probe"]["nme_per_face"].items()}
    for stage, entry in report["probe"]["summary"]["stages"].items():
        assert float(probe[stage].mean()) == pytest.approx(entry["nme"], abs=1e-12)
    assert report["guidance"]["summary"]["num_faces"] == len(per_face["own"]) >= 200


def test_collaboration_targets_from_a_guidance_result():
    n = 50
    rng = np.random.default_rng(0)
    bicubic = rng.normal(22, 1, n)
    own = np.stack([bicubic + 3, bicubic + 4, bicubic + 4.5])
    nme_own = np.stack([np.full(n, 0.08), np.full(n, 0.07), np.full(n, 0.04)])
    nme_own[2, :5] = 0.09  # 5 faces get worse at the last step
    result = A.GuidanceResult(protocol="mmagic", psnr={"own": own, "other": own - 0.6, "truth": own + 0.1},
                              nme={"own": nme_own, "other": nme_own, "truth": nme_own}, bicubic_psnr=bicubic)
    targets = A.collaboration_targets(result)
    v, ok = targets["values"], targets["passed"]
    assert v["gain_db"] == pytest.approx(4.5) and ok["gain_db"]
    assert v["nme_last"] == pytest.approx(0.1 * 0.09 + 0.9 * 0.04) and ok["nme_last"]
    assert v["frac_nme_improved"] == pytest.approx(0.9) and ok["frac_nme_improved"]
    assert v["own_minus_other_db"] == pytest.approx(0.6) and ok["own_minus_other_db"]
    assert v["truth_minus_own_db"] == pytest.approx(0.1) and ok["truth_minus_own_db"]
    assert v["no_collapse"] == pytest.approx(0.08) and ok["no_collapse"]
    assert set(targets["passed"]) == set(A.TARGETS)
    with pytest.raises(ValueError, match="needs mode 'truth'"):
        A.collaboration_targets(A.GuidanceResult("mmagic", {"own": own, "other": own}, {"own": nme_own,
                                                                                         "other": nme_own}, bicubic))


def test_recipe_targets_of_the_shipped_model_are_reproduced():
    """The committed line of benchmarks/results/recipe_targets.jsonl for the shipped tiny checkpoint: its goals
    re-derived from its per-face values, and the first faces' values re-measured on the checkpoint."""
    import hashlib

    from dicmini.models import load_pretrained
    from dicmini.models.convert import PRETRAINED_NAMES

    results = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "recipe_targets.jsonl"
    digest = hashlib.sha256(PRETRAINED_NAMES["tiny"].read_bytes()).hexdigest()
    lines = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    line = next((x for x in lines if x.get("checkpoint_sha256") == digest), None)
    assert line is not None, "no recipe_targets line for the shipped tiny: run benchmarks/recipe_targets.py"
    per_face = {k: np.asarray(v) for k, v in line["per_face"].items() if k != "names"}
    own_other = A.paired(per_face["other_last_psnr"], per_face["own_last_psnr"])
    assert own_other.mean == pytest.approx(line["values"]["own_minus_other_db"], abs=1e-9)
    nme_steps = per_face["own_nme"]
    assert float(nme_steps[-1].mean()) == pytest.approx(line["values"]["nme_last"], abs=1e-12)
    assert float((nme_steps[-1] < nme_steps[0]).mean()) == pytest.approx(line["values"]["frac_nme_improved"])
    model = load_pretrained("tiny")
    faces = A.collect_faces(SyntheticFaces(8, held_out=True))
    again = A.guidance_experiment(model, faces, modes=("own", "truth"), sigma=line["sigma"])
    np.testing.assert_allclose(again.psnr["own"][-1], per_face["own_last_psnr"][:8], atol=2e-3)
    np.testing.assert_allclose(again.psnr["truth"][-1], per_face["truth_last_psnr"][:8], atol=2e-3)
