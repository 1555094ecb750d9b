"""The committed real-face lever table (benchmarks/real_face_levers.py) follows from the committed evaluations."""

import json
from pathlib import Path

import numpy as np
import pytest

from benchscripts import load_benchmark

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "real_face_levers"


@pytest.fixture(scope="module")
def levers():
    return load_benchmark("real_face_levers")


def test_table_rederives_from_the_per_face_evaluations(levers):
    rfe = load_benchmark("real_faces_eval")
    summary = json.loads((RESULTS / "summary.json").read_text())
    rows = {r["run"]: r for r in summary["rows"]}
    assert {"start", "control", "camera", "shipped", "shipped_control"} <= set(rows)
    for name, r in rows.items():
        series, what, command = levers.find_run(name)
        assert r["series"] == series.start and r["what"] == what and r["command"] == command
        real = json.loads((RESULTS / f"{name}.json").read_text())
        again = rfe.summarise(real["faces"])       # the evaluation's own summary of the same per-face records
        assert r["real_gain_db"][0] == pytest.approx(again["psnr_gain_last_step"], abs=1e-5)
        assert r["real_identity_closer"] == again["faces_last_step_identity_below_bicubic"]
        none = [f["guided"]["none"][-1] - f["bicubic"]["psnr"] for f in real["faces"].values()]
        assert r["real_gain_no_prior_db"][0] == pytest.approx(np.mean(none), abs=1e-5)
        truth = again["psnr_gain_last_step_guided_truth"][0]
        assert r["real_gain_true_landmarks_db"][0] == pytest.approx(truth, abs=1e-5)
        assert r["real_faces_above_bicubic"] == again["faces_last_step_above_bicubic_psnr"] == r["real_faces"] - sum(
            f["steps"][-1]["psnr"] <= f["bicubic"]["psnr"] for f in real["faces"].values())
        synthetic = json.loads((RESULTS / f"{name}.synthetic.json").read_text())
        assert r["synthetic_gain_db"] == pytest.approx(synthetic["psnr"][-1] - synthetic["bicubic_psnr"])
        if name in series.controls:
            assert r["control"] == series.controls[name]
            control = json.loads((RESULTS / f"{r['control']}.json").read_text())
            d = [real["faces"][k]["steps"][-1]["psnr"] - real["faces"][k]["bicubic"]["psnr"]
                 - control["faces"][k]["steps"][-1]["psnr"] + control["faces"][k]["bicubic"]["psnr"]
                 for k in real["faces"]]
            assert r["vs_control_db"][0] == pytest.approx(np.mean(d), abs=1e-9)
            assert r["vs_control_better_faces"] == sum(x > 0 for x in d)
            assert r["command"].startswith(("dicmini train --config tiny ", "dicmini train --config tiny-real "))
            assert r["command"].endswith(series.runs[name][1])
        else:
            assert "vs_control_db" not in r
    assert (RESULTS / "SUMMARY.md").read_text() == levers.markdown(summary)


def test_the_tiny_real_series_starts_from_the_packaged_model_and_its_committed_evaluation():
    """The third series' control is the packaged tiny-real: its row scores the same file as
    benchmarks/results/tiny_real/real_faces.json, face by face."""
    lever = json.loads((RESULTS / "tiny_real.json").read_text())
    packaged = json.loads((ROOT / "benchmarks" / "results" / "tiny_real" / "real_faces.json").read_text())
    assert lever["checkpoint_sha256"] == packaged["checkpoint_sha256"]
    assert sorted(lever["faces"]) == sorted(packaged["faces"])
    for key, face in packaged["faces"].items():
        assert lever["faces"][key]["steps"][-1]["psnr"] == pytest.approx(face["steps"][-1]["psnr"], abs=1e-4)
        assert lever["faces"][key]["steps"][-1]["identity"] == pytest.approx(face["steps"][-1]["identity"], abs=1e-4)


def test_a_run_on_other_faces_is_refused(levers, tmp_path):
    for name in ("start", "control"):
        (tmp_path / f"{name}.synthetic.json").write_text((RESULTS / f"{name}.synthetic.json").read_text())
    (tmp_path / "start.json").write_text((RESULTS / "start.json").read_text())
    control = json.loads((RESULTS / "control.json").read_text())
    control["faces"].pop(sorted(control["faces"])[0])
    (tmp_path / "control.json").write_text(json.dumps(control))
    with pytest.raises(SystemExit, match="control.json scores other faces"):
        levers.summarise(tmp_path)


def test_the_levers_collaboration_figures_rederive_from_their_per_face_values():
    """benchmarks/results/real_face_levers/recipe_targets.jsonl (the docstring's recipe_targets.py command on the
    second series' fine-tunes): each run's own-vs-other contrast and NME figures follow from its per-face values,
    and the jittered guidance fails the own-vs-other goal that its control meets."""
    from dicmini import analysis as A

    lines = [json.loads(x) for x in (RESULTS / "recipe_targets.jsonl").read_text().splitlines() if x.strip()]
    by_run = {Path(x["checkpoint"]).parent.name: x for x in lines}
    assert {"shipped_control", "shipped_jitter", "shipped_soft", "shipped_all5"} <= set(by_run)
    for line in lines:
        per_face = {k: np.asarray(v) for k, v in line["per_face"].items() if k != "names"}
        own_other = A.paired(per_face["other_last_psnr"], per_face["own_last_psnr"])
        assert own_other.mean == pytest.approx(line["values"]["own_minus_other_db"], abs=1e-9)
        assert line["passed"]["own_minus_other_db"] == (own_other.mean >= 0.5)
        nme_steps = per_face["own_nme"]
        assert float(nme_steps[-1].mean()) == pytest.approx(line["values"]["nme_last"], abs=1e-12)
    assert by_run["shipped_control"]["passed"]["own_minus_other_db"]
    assert not by_run["shipped_jitter"]["passed"]["own_minus_other_db"]


def test_the_flip_rows_pair_each_checkpoint_with_its_own_single_pass(levers):
    """Each flip-ensemble row (benchmarks/results/real_face_levers/NAME.flip.json) re-derives face by face from the
    ensemble's and the single pass's evaluations of the same checkpoint; the ensemble's SSIM gain sits beside it."""
    summary = json.loads((RESULTS / "summary.json").read_text())
    assert len(summary["flip"]) >= 3
    for r in summary["flip"]:
        plain = json.loads((RESULTS / f"{r['run']}.json").read_text())
        flipped = json.loads((RESULTS / f"{r['run']}.flip.json").read_text())
        assert flipped["flip"] is True and flipped["checkpoint_sha256"] == plain["checkpoint_sha256"]
        d = [flipped["faces"][k]["steps"][-1]["psnr"] - plain["faces"][k]["steps"][-1]["psnr"] for k in plain["faces"]]
        assert r["flip_minus_single_db"][0] == pytest.approx(np.mean(d), abs=1e-9)
        assert r["flip_better_faces"] == sum(x > 0 for x in d)
        # the bicubic baseline does not depend on the flip: the gain moves exactly by the images' difference
        assert r["real_gain_flip_db"][0] - r["real_gain_db"][0] == pytest.approx(np.mean(d), abs=1e-9)
        assert r["real_identity_closer_flip"] == sum(f["steps"][-1]["identity"] < f["bicubic"]["identity"]
                                                     for f in flipped["faces"].values())
        synthetic = json.loads((RESULTS / f"{r['run']}.flip.synthetic.json").read_text())
        assert synthetic["flip"] is True
        assert r["synthetic_gain_flip_db"] == pytest.approx(synthetic["psnr"][-1] - synthetic["bicubic_psnr"])


def test_a_flip_file_of_another_checkpoint_is_refused(levers, tmp_path):
    for name in ("start", "control"):
        for suffix in (".json", ".synthetic.json"):
            (tmp_path / f"{name}{suffix}").write_text((RESULTS / f"{name}{suffix}").read_text())
    (tmp_path / "control.flip.json").write_text((RESULTS / "start.json").read_text())    # a single pass, another model
    (tmp_path / "control.flip.synthetic.json").write_text((RESULTS / "control.synthetic.json").read_text())
    with pytest.raises(SystemExit, match="control.flip.json is not the flip ensemble"):
        levers.summarise(tmp_path)


def test_the_consistency_rows_rederive_face_by_face(levers):
    """Each consistency row (NAME.consistent.json, NAME.flip_consistent.json) re-derives from the per-face records;
    making bicubic consistent is recomputed from the committed numbers of every face and is the same for every row."""
    summary = json.loads((RESULTS / "summary.json").read_text())
    assert len(summary["consistent"]) >= 3
    bicubic_gains = set()
    for r in summary["consistent"]:
        plain = json.loads((RESULTS / f"{r['run']}.json").read_text())
        fixed = json.loads((RESULTS / f"{r['run']}.consistent.json").read_text())
        both = json.loads((RESULTS / f"{r['run']}.flip_consistent.json").read_text())
        assert fixed["consistent"] and not fixed["flip"] and both["consistent"] and both["flip"]
        d = [fixed["faces"][k]["steps"][-1]["psnr"] - plain["faces"][k]["steps"][-1]["psnr"] for k in plain["faces"]]
        assert r["consistent_minus_single_db"][0] == pytest.approx(np.mean(d), abs=1e-5)
        assert r["consistent_better_faces"] == sum(x > 0 for x in d)
        gain = [f["steps"][-1]["psnr"] - f["bicubic"]["psnr"] for f in both["faces"].values()]
        assert r["real_gain_flip_consistent_db"][0] == pytest.approx(np.mean(gain), abs=1e-5)
        assert r["real_identity_closer_consistent"] == sum(f["steps"][-1]["identity"] < f["bicubic"]["identity"]
                                                           for f in fixed["faces"].values())
        bic = np.mean([f["bicubic_consistent"]["psnr"] - f["bicubic"]["psnr"] for f in fixed["faces"].values()])
        assert r["bicubic_consistent_gain_db"][0] == pytest.approx(bic, abs=1e-5)
        bicubic_gains.add(round(bic, 4))
    assert len(bicubic_gains) == 1       # no model in it


def test_a_consistent_file_without_the_option_is_refused(levers, tmp_path):
    for name in ("start", "control"):
        for suffix in (".json", ".synthetic.json"):
            (tmp_path / f"{name}{suffix}").write_text((RESULTS / f"{name}{suffix}").read_text())
    (tmp_path / "control.consistent.json").write_text((RESULTS / "control.json").read_text())  # no --consistent
    (tmp_path / "control.flip_consistent.json").write_text((RESULTS / "control.json").read_text())
    (tmp_path / "control.flip_consistent.synthetic.json").write_text((RESULTS / "control.synthetic.json").read_text())
    with pytest.raises(SystemExit, match="control.consistent.json is not control.json's checkpoint scored with"):
        levers.summarise(tmp_path)


def test_the_dlib_guidance_rows_rederive_face_by_face(levers):
    """Each dlib-guidance row (NAME.dlib.json, NAME.flip_consistent_dlib.json) re-derives from the per-face records,
    the guide's NME included."""
    summary = json.loads((RESULTS / "summary.json").read_text())
    assert len(summary["dlib_guidance"]) >= 3
    for r in summary["dlib_guidance"]:
        plain = json.loads((RESULTS / f"{r['run']}.json").read_text())
        guided = json.loads((RESULTS / f"{r['run']}.dlib.json").read_text())
        three = json.loads((RESULTS / f"{r['run']}.flip_consistent_dlib.json").read_text())
        assert guided["guidance"] == three["guidance"] == "dlib" and three["flip"] and three["consistent"]
        d = [guided["faces"][k]["steps"][-1]["psnr"] - plain["faces"][k]["steps"][-1]["psnr"] for k in plain["faces"]]
        assert r["dlib_minus_single_db"][0] == pytest.approx(np.mean(d), abs=1e-5)
        assert r["dlib_better_faces"] == sum(x > 0 for x in d)
        guide_nme = np.mean([f["dlib_guide_nme"] for f in guided["faces"].values()])
        assert r["real_nme_dlib_guide"] == pytest.approx(guide_nme, abs=1e-6)
        gain = [f["steps"][-1]["psnr"] - f["bicubic"]["psnr"] for f in three["faces"].values()]
        assert r["real_gain_flip_consistent_dlib_db"][0] == pytest.approx(np.mean(gain), abs=1e-5)
        assert r["real_identity_closer_flip_consistent_dlib"] == sum(
            f["steps"][-1]["identity"] < f["bicubic"]["identity"] for f in three["faces"].values())
