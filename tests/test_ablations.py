"""benchmarks/ablations.py: its runs are ``dicmini train`` runs of the named config ``tiny`` changed in one setting,
and the committed lab (benchmarks/results/ablations/*.json -> notebooks/artifacts/ablations.json, notebook 11) is
re-derived from the per-run results."""

from __future__ import annotations

import json
import shlex
import statistics
import sys
from pathlib import Path

import pytest

from benchscripts import load_benchmark
from dicmini.train.config import apply_overrides, config_to_dict, get_config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = sorted((ROOT / "benchmarks" / "results" / "ablations").glob("*.json"))
SUMMARY = ROOT / "notebooks" / "artifacts" / "ablations.json"


@pytest.fixture(scope="module")
def lab():
    return load_benchmark("ablations")


def _config(command: str):
    words = shlex.split(command)
    assert words[:4] == ["dicmini", "train", "--config", "tiny"]
    return apply_overrides(get_config("tiny"), [words[i + 1] for i, w in enumerate(words) if w == "--set"])


def test_every_variant_changes_one_setting_of_the_baseline(lab, tmp_path):
    hourglass = tmp_path / "stage.pt"
    base = config_to_dict(_config(" ".join(lab.train_command("steps3", 0, 800, hourglass, tmp_path / "run"))))
    assert base["init_hourglass"] == str(hourglass) and base["hourglass_stage"] == ""
    assert base["iterations"] == 800 and base["release_hourglass_step"] == 200
    assert base["num_steps"] == get_config("tiny").num_steps == 3  # the baseline is the shipped architecture
    for variant in lab.VARIANTS:
        changed = config_to_dict(_config(" ".join(lab.train_command(variant, 0, 800, hourglass, tmp_path / "run"))))
        diff = {k for k in base if base[k] != changed[k]}
        assert len(diff) == (0 if variant == "steps3" else 1), (variant, diff)
    other_seed = config_to_dict(_config(" ".join(lab.train_command("steps3", 2, 800, hourglass, tmp_path / "r"))))
    assert {k for k in base if base[k] != other_seed[k]} == {"seed"}


def _payload(variant: str, seed: int, psnr: list[float], nme: list[float]) -> dict:
    return {"variant": variant, "seed": seed, "iterations": 8, "hourglass_sha256": "ab", "train_minutes": 1.5,
            "s_per_it": 0.5, "curve": [{"step": 8, "psnr": psnr, "nme": nme}],
            "test": {"psnr": psnr, "ssim": [0.7] * len(psnr), "nme": nme, "bicubic_psnr": 22.0}}


def test_summarize_gathers_means_and_flags_collapsed_runs(lab, tmp_path, monkeypatch):
    out = tmp_path / "results"
    out.mkdir()
    for seed, last in ((0, 24.0), (1, 25.0)):
        (out / f"steps2_s{seed}.json").write_text(json.dumps(_payload("steps2", seed, [23.0, last], [0.06, 0.05])))
    (out / "steps4_s0.json").write_text(json.dumps(_payload("steps4", 0, [23.0] * 4, [0.06, 0.2, 1.8, 1.8])))
    summary = lab.summarize(type("Args", (), {"out": str(out), "summary": str(tmp_path / "s.json")})())
    entry = summary["variants"]["steps2"]
    assert entry["last_step"]["psnr"]["mean"] == pytest.approx(24.5)
    assert entry["last_step"]["gain_db"]["mean"] == pytest.approx(2.5)
    assert entry["last_step"]["psnr"]["std"] == pytest.approx(statistics.stdev([24.0, 25.0]))
    assert entry["collapsed_runs"] == [] and summary["variants"]["steps4"]["collapsed_runs"] == ["0"]
    assert summary["cpu_hours"] == pytest.approx(3 * 1.5 / 60, abs=0.01)
    assert json.loads((tmp_path / "s.json").read_text()) == summary
    # runs from different landmark branches are not one lab
    (out / "steps3_s0.json").write_text(json.dumps({**_payload("steps3", 0, [23.0] * 3, [0.05] * 3),
                                                    "hourglass_sha256": "cd"}))
    with pytest.raises(SystemExit, match="different hourglasses"):
        lab.summarize(type("Args", (), {"out": str(out), "summary": str(tmp_path / "s.json")})())


@pytest.mark.skipif(not RESULTS, reason="no committed ablation results")
def test_committed_lab_is_rederived_from_its_runs(lab):
    summary = json.loads(SUMMARY.read_text())
    payloads = [json.loads(p.read_text()) for p in RESULTS]
    assert {p["hourglass_sha256"] for p in payloads} == {summary["hourglass_sha256"]}
    for p in payloads:
        config = _config(p["commands"][0])
        assert config.seed == p["seed"] and config.iterations == p["iterations"] == summary["iterations"]
        for override in lab.VARIANTS[p["variant"]][1]:
            key, value = override.split("=")
            assert config_to_dict(config)[key] == config_to_dict(apply_overrides(get_config("tiny"), [override]))[key]
    for variant, entry in summary["variants"].items():
        runs = [p for p in payloads if p["variant"] == variant]
        assert sorted(entry["runs"]) == sorted(str(p["seed"]) for p in runs)
        last = [p["test"]["psnr"][-1] for p in runs]
        assert entry["last_step"]["psnr"]["mean"] == pytest.approx(statistics.fmean(last))
        gains = [p["test"]["psnr"][-1] - p["test"]["bicubic_psnr"] for p in runs]
        assert entry["last_step"]["gain_db"]["mean"] == pytest.approx(statistics.fmean(gains))
        collapsed = sorted(str(p["seed"]) for p in runs if max(p["test"]["nme"]) >= 0.10)
        assert entry["collapsed_runs"] == collapsed
    assert summary["cpu_hours"] == pytest.approx(sum(p["train_minutes"] for p in payloads) / 60, abs=0.01)
    shipped = json.loads((ROOT / "dicmini" / "assets" / "dic_tiny.json").read_text())
    assert summary["shipped"]["gain_db"] == shipped["held_out"]["gain_db"]


def test_shards_share_runs_through_lock_files(lab, tmp_path):
    import subprocess

    lock = tmp_path / "steps3_s0.lock"
    assert lab.claim(lock) and lock.read_text() == str(__import__("os").getpid())
    assert not lab.claim(lock)  # held by a live process (this one)
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.write_text(done.stdout.strip())  # the process id of a shard that has exited
    assert lab.claim(lock)


def test_training_time_adds_the_sessions_of_a_resumed_run(lab):
    records = [{"type": "start", "step": 0}, {"type": "train", "step": 50, "elapsed_s": 30.0},
               {"type": "train", "step": 100, "elapsed_s": 60.0},
               {"type": "start", "step": 80}, {"type": "train", "step": 150, "elapsed_s": 35.0}]
    minutes, s_per_it = lab.training_time(records)
    assert minutes == pytest.approx(95.0 / 60)
    assert s_per_it == pytest.approx(95.0 / (100 + 70))
