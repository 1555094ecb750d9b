"""benchmarks/ship_probe.py on a two-iteration ``dicmini train --config tiny-probe`` run, and the committed probe
(notebooks/artifacts/tiny_hourglass.pt and its curve) that notebooks 03-05 and benchmarks/collaboration.py read."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import torch

from benchscripts import load_benchmark
from dicmini.cli import main as cli
from dicmini.train.config import RUN_ONLY_KEYS, config_from_dict, config_to_dict, get_config

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "notebooks" / "artifacts"


@pytest.fixture(scope="module")
def ship():
    return load_benchmark("ship_probe")


def _trained(stored: dict) -> dict:
    full = config_to_dict(config_from_dict(stored))
    return {k: v for k, v in full.items() if k not in RUN_ONLY_KEYS}


def test_ships_a_two_iteration_probe_run(ship, tmp_path):
    run = tmp_path / "run"
    sets = ["hg_mid_channels=8", "iterations=2", "train_size=4", "val_size=2", "val_every=1", "log_every=1",
            "face_pool=false", "batch_size=2"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli(["train", "--config", "tiny-probe", *[w for s in sets for w in ("--set", s)], "--out", str(run),
                    "--quiet"]) == 0
    report = ship.main(["--run", str(run), "--faces", "3", "--out-dir", str(tmp_path / "out")])
    assert report["train_command"] == "dicmini train --config tiny-probe"
    assert report["recipe"]["passes"] == get_config("tiny-probe").num_steps == 3
    assert [p["iteration"] for p in report["curve"]] == [1, 2]
    assert all(p["loss"] > 0 and len(p["nme_hr_per_pass"]) == 3 for p in report["curve"])
    probe = ship.load_probe(tmp_path / "out" / "tiny_hourglass.pt")
    # the final figures are re-derived from the shipped weights
    again = ship.nme_per_pass(probe, 3, 3)
    assert again["hr"] == pytest.approx(report["final"]["nme_hr_per_pass"], rel=1e-6)
    assert again["bicubic"] == pytest.approx(report["final"]["nme_bicubic_per_pass"], rel=1e-6)
    stored = json.loads((tmp_path / "out" / "tiny_hourglass_curve.json").read_text())
    assert stored["final"] == report["final"]
    with pytest.raises(SystemExit, match="expected a 'dicmini-hourglass' file"):
        torch.save({"model": {}}, tmp_path / "bad.pt")
        ship.load_probe(tmp_path / "bad.pt")


def test_committed_probe_is_the_named_config_and_its_final_nme_is_reproduced(ship):
    artifact = torch.load(ARTIFACTS / "tiny_hourglass.pt", map_location="cpu", weights_only=True)
    assert artifact["command"] == "dicmini train --config tiny-probe"
    assert _trained(artifact["train_config"]) == _trained(config_to_dict(get_config("tiny-probe")))
    report = json.loads((ARTIFACTS / "tiny_hourglass_curve.json").read_text())
    assert report["recipe"]["iterations"] == artifact["iterations"] == get_config("tiny-probe").iterations
    torch.set_num_threads(1)
    probe = ship.load_probe(ARTIFACTS / "tiny_hourglass.pt")
    again = ship.nme_per_pass(probe, report["final"]["faces"], report["recipe"]["passes"])
    assert again["hr"] == pytest.approx(report["final"]["nme_hr_per_pass"], rel=1e-5)
    assert again["bicubic"] == pytest.approx(report["final"]["nme_bicubic_per_pass"], rel=1e-5)
    # an HR-trained probe reads sharp faces far better than bicubic x8 ones: what it is there to measure
    assert max(report["final"]["nme_hr_per_pass"]) < 0.12 < min(report["final"]["nme_bicubic_per_pass"])


def test_evaluate_hourglass_reads_hr_or_bicubic_images_only():
    from dicmini.data.datasets import SyntheticFaces
    from dicmini.models import FeedbackHourglass
    from dicmini.train.evaluate import evaluate_hourglass

    with pytest.raises(ValueError, match="images: expected 'hr' or 'bicubic'"):
        evaluate_hourglass(FeedbackHourglass(8, 68), SyntheticFaces(2, held_out=True), 1, images="sr")
