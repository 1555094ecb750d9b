"""The packaged model for real photos, ``tiny-real`` (``dicmini train --config tiny-real``, shipped by
``benchmarks/quality_bar.py --run runs/tiny-real --ship``), and its committed results:

* the config is the packaged ``tiny`` fine-tuned with the real-face levers, without the jittered guidance;
* ``benchmarks/results/tiny_real/real_faces.json`` (``benchmarks/real_faces_eval.py --checkpoint tiny-real``) was
  made with the shipped file; re-running the model on the committed public-domain crops reproduces its per-face
  figures, and its summary re-derives from them;
* its collaboration goals on synthetic faces (``benchmarks/results/tiny_real/recipe_targets.jsonl``) re-derive from
  the stored per-step figures, and it beats the course model ``tiny`` on the same real faces.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchscripts import load_benchmark
from dicmini.models.convert import PRETRAINED_NAMES, load_pretrained
from dicmini.train import get_config

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "tiny_real"
CROPS = ROOT / "notebooks" / "artifacts"

rfe = load_benchmark("real_faces_eval")


@pytest.fixture(scope="module")
def tiny_real():
    torch.set_num_threads(1)
    return load_pretrained("tiny-real")


def _real() -> dict:
    return json.loads((RESULTS / "real_faces.json").read_text())


def test_the_config_fine_tunes_the_course_model_with_the_real_face_levers():
    real, tiny = get_config("tiny-real"), get_config("tiny")
    assert real.init_generator == "tiny" and real.hourglass_stage == ""
    assert real.guidance_jitter == 0.0
    assert min(real.hr_crop_rule, real.hr_camera, real.hr_soft_features) > 0
    assert real.synthetic_yaw != tiny.synthetic_yaw
    assert real.model_kwargs() == tiny.model_kwargs()          # the same architecture: a drop-in for tiny


def test_committed_real_faces_reproduce(tiny_real):
    data = _real()
    assert data["checkpoint"] == "tiny-real"
    assert data["checkpoint_sha256"] == rfe.file_sha256(PRETRAINED_NAMES["tiny-real"]), \
        "tiny_real/real_faces.json was made with another checkpoint: re-run benchmarks/real_faces_eval.py"
    course = json.loads((CROPS / "real_faces.json").read_text())
    checked = 0
    for key, rec in course["faces"].items():
        if "crop" not in rec:
            continue
        hr = np.asarray(Image.open(CROPS / rec["crop"]).convert("RGB"))
        mine = data["faces"][key]
        again = rfe.evaluate_face(tiny_real, hr, np.asarray(mine["landmarks"]))
        assert again["bicubic"]["psnr"] == pytest.approx(mine["bicubic"]["psnr"], abs=1e-5)
        for new, old in zip(again["steps"], mine["steps"], strict=True):
            assert new["psnr"] == pytest.approx(old["psnr"], abs=1e-3)
            assert new["nme"] == pytest.approx(old["nme"], abs=1e-3)
        checked += 1
    assert checked >= 5


def test_committed_summary_rederives_and_beats_the_course_model():
    data, course = _real(), json.loads((CROPS / "real_faces.json").read_text())
    assert set(data["faces"]) == set(course["faces"])               # the same 62 faces
    gains = {k: r["steps"][-1]["psnr"] - r["bicubic"]["psnr"] for k, r in data["faces"].items()}
    s = data["summary"]
    assert s["psnr_gain_last_step"] == pytest.approx(np.mean(list(gains.values())), abs=1e-5)
    again = rfe._rounded(rfe.summarise(data["faces"]))
    for key, value in again.items():
        assert s[key] == pytest.approx(value, abs=2e-5), key
    paired = np.array([gains[k] - (r["steps"][-1]["psnr"] - r["bicubic"]["psnr"]) for k, r in course["faces"].items()])
    assert paired.mean() > 0.2 and (paired > 0).mean() > 0.8     # better than tiny on real faces, face by face


def test_committed_collaboration_goals_rederive():
    lines = [json.loads(x) for x in (RESULTS / "recipe_targets.jsonl").read_text().splitlines() if x.strip()]
    line = next(x for x in lines if x["checkpoint"] == "tiny-real")
    assert line["checkpoint_sha256"] == rfe.file_sha256(PRETRAINED_NAMES["tiny-real"])
    v = line["values"]
    assert v["nme_relative_drop"] == pytest.approx(1 - v["nme_steps"][-1] / v["nme_steps"][0], abs=1e-6)
    assert v["no_collapse"] == pytest.approx(max(v["nme_steps"]), abs=1e-9)
    assert line["passed"]["nme_relative_drop"] == (v["nme_relative_drop"] >= 0.15)
    assert line["passed"]["own_minus_other_db"] == (v["own_minus_other_db"] >= 0.5)
    assert line["passed"]["gain_db"] == (v["gain_db"] >= 4.2)


def test_committed_quality_bar_rederives():
    report = json.loads((RESULTS / "quality_bar.json").read_text())
    held = report["held_out"]
    gains = [p - held["bicubic_psnr"] for p in held["psnr"]]
    assert held["gain_db"] == pytest.approx(gains, abs=1e-4)
    assert gains[-1] >= 4.2                                        # the recipe's synthetic goal still holds
    assert report["train_command"] == "dicmini train --config tiny-real"
    minutes = report["train_minutes"]
    assert set(minutes) == {"dic", "hourglass_stage", "init_generator"}  # the packaged tiny's time counts too
    assert report["bar"]["train_minutes_le_90"] == (sum(minutes.values()) <= 90)
    packaged = json.loads(PRETRAINED_NAMES["tiny-real"].with_suffix(".json").read_text())
    assert packaged["held_out"]["gain_db"] == pytest.approx(held["gain_db"], abs=1e-9)
