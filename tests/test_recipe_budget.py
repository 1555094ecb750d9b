"""The tiny recipe's time budget (benchmarks/recipe_budget.py): the projection and the committed figures."""

import json
from pathlib import Path

import pytest

from benchscripts import load_benchmark
from dicmini.train import get_config

RESULT = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "recipe_budget.json"


@pytest.fixture(scope="module")
def budget():
    return load_benchmark("recipe_budget")


def test_phase_times_and_projection_from_a_made_up_log(budget):
    # 0.5 s/it, then a 20 s validation + checkpoint at step 200, then 0.8 s/it
    elapsed = {s: 0.5 * s for s in range(50, 201, 50)}
    elapsed.update({s: 100 + 20 + 0.8 * (s - 200) for s in range(250, 401, 50)})
    times = budget.phase_times(elapsed, 400)
    assert times["s_per_it_first_half"] == pytest.approx(0.5)
    assert times["s_per_it_second_half"] == pytest.approx(0.8)
    assert times["validation_and_checkpoint_s"] == pytest.approx(20.0)
    cfg = get_config("tiny")
    expected = (cfg.release_hourglass_step * 0.5 + (cfg.iterations - cfg.release_hourglass_step) * 0.8
                + cfg.iterations // cfg.val_every * 20.0) / 60
    assert budget.project("tiny", times) == pytest.approx(expected)
    cmd = budget.short_run_command("tiny", Path("x"), 400)
    assert "release_hourglass_step=200" in cmd and "hourglass_stage=" in cmd and "iterations=400" in cmd
    assert "hourglass_stage=" not in budget.short_run_command("tiny-hourglass", Path("x"), 400)
    assert "init_hourglass=h.pt" in budget.short_run_command("tiny", Path("x"), 400, Path("h.pt"))


def test_committed_budget_rederives_from_its_logs(budget):
    result = json.loads(RESULT.read_text())
    assert set(result["stages"]) == {"tiny-hourglass", "tiny"}
    for name, stage in result["stages"].items():
        elapsed = {int(k): v for k, v in stage["elapsed_s"].items()}
        times = budget.phase_times(elapsed, stage["short_run_iterations"])
        for key, value in times.items():
            assert stage[key] == pytest.approx(value)
        assert stage["projected_min"] == pytest.approx(budget.project(name, times))
        assert stage["iterations"] == get_config(name).iterations
        assert stage["within_budget"] == (stage["projected_min"] <= stage["budget_min"])
