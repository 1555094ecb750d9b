"""The tiny recipe's time budget: how long each stage of ``dicmini train --config tiny`` takes on this machine.

The recipe has two stages (``tiny-hourglass``: the landmark branch alone; ``tiny``: the joint DIC stage, its
landmark branch frozen for the first ``release_hourglass_step`` iterations). A full run takes about 1.5 hours, so
this script times a short run of each stage through ``dicmini train`` with the stage's own settings (threads,
batch, model, face pool) and projects the full stage from it::

    OMP_NUM_THREADS=1 python benchmarks/recipe_budget.py      # ~6 min; run it on an otherwise idle machine

Each short run is ``SHORT`` iterations with a validation and a checkpoint every ``SHORT // 2``. The joint stage's
branch starts from the first stage's short run, as the recipe starts it from the first stage, and is released
half-way. From its ``log.jsonl`` (``elapsed_s`` counts everything since the start of the loop, validations and
checkpoints included) come: seconds per iteration in each phase (between log points with no validation between
them), and the cost of one validation + checkpoint (the interval that holds one, less its iterations). The
projection of a stage is ``iterations x s/it`` (per phase) ``+ (iterations / val_every) x that cost``. Writes
``benchmarks/results/recipe_budget.json``; the budget of the recipe issue is 30 min for the first
stage and 60 min for the joint stage on the 2-core reference machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from dicmini.train import get_config
from dicmini.train.log import JsonlLog
from dicmini.utils import atomic_write

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "recipe_budget.json"
#: iterations of each short run (a multiple of 4 * LOG_EVERY, at least 8 * LOG_EVERY)
SHORT = 400
LOG_EVERY = 50
#: the budget of each stage, minutes
BUDGET_MIN = {"tiny-hourglass": 30.0, "tiny": 60.0}


def short_run_command(name: str, out_dir: Path, short: int = SHORT, hourglass: Path | None = None) -> list[str]:
    """``dicmini train`` of stage ``name`` cut to ``short`` iterations, validating half-way and at the end; the
    joint stage starts its landmark branch from ``hourglass`` (the first stage's short run), as the recipe does
    from the first stage (a random, frozen branch is slower: its tiny outputs make denormal numbers)."""
    cmd = [sys.executable, "-m", "dicmini", "train", "--config", name, "--out", str(out_dir), "--quiet",
           "--set", f"iterations={short}", "--set", f"val_every={short // 2}", "--set", f"ckpt_every={short // 2}",
           "--set", f"log_every={LOG_EVERY}"]
    if get_config(name).task == "dic":
        cmd += ["--set", "hourglass_stage=", "--set", f"release_hourglass_step={short // 2}"]
        if hourglass is not None:
            cmd += ["--set", f"init_hourglass={hourglass}"]
    return cmd


def phase_times(elapsed: dict[int, float], short: int = SHORT) -> dict[str, float]:
    """From ``step -> elapsed_s`` of a short run: s/it before and after the half-way point (each measured between
    log points that hold no validation) and the cost of the one validation + checkpoint at the half-way point."""
    half = short // 2
    first = (elapsed[half - LOG_EVERY] - elapsed[LOG_EVERY]) / (half - 2 * LOG_EVERY)
    second = (elapsed[short] - elapsed[half + LOG_EVERY]) / (half - LOG_EVERY)
    overhead = (elapsed[half + LOG_EVERY] - elapsed[half]) - LOG_EVERY * second
    return {"s_per_it_first_half": first, "s_per_it_second_half": second, "validation_and_checkpoint_s": overhead}


def project(name: str, times: dict[str, float]) -> float:
    """Projected minutes of the full stage ``name`` from :func:`phase_times` of its short run."""
    cfg = get_config(name)
    if cfg.task == "dic":      # the branch frozen for release_hourglass_step iterations (the short run's 1st half)
        frozen = cfg.release_hourglass_step
        seconds = frozen * times["s_per_it_first_half"] + (cfg.iterations - frozen) * times["s_per_it_second_half"]
    else:
        seconds = cfg.iterations * (times["s_per_it_first_half"] + times["s_per_it_second_half"]) / 2
    seconds += (cfg.iterations // cfg.val_every) * times["validation_and_checkpoint_s"]
    return seconds / 60.0


def read_elapsed(log: Path) -> dict[int, float]:
    """``step -> elapsed_s`` of the ``train`` records of a run's log."""
    return {r["step"]: r["elapsed_s"] for r in JsonlLog(log).read() if r["type"] == "train"}


def run(short: int = SHORT) -> dict[str, Any]:
    stages: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in BUDGET_MIN:      # the first stage first: the joint stage starts from its branch
            out = Path(tmp) / name
            first = Path(tmp) / "tiny-hourglass" / "last.pt"
            subprocess.run(short_run_command(name, out, short, first if first.is_file() else None), check=True)
            elapsed = read_elapsed(out / "log.jsonl")
            times = phase_times(elapsed, short)
            minutes = project(name, times)
            stages[name] = {"iterations": get_config(name).iterations, "short_run_iterations": short,
                            "elapsed_s": {str(k): v for k, v in sorted(elapsed.items())}, **times,
                            "projected_min": minutes, "budget_min": BUDGET_MIN[name],
                            "within_budget": minutes <= BUDGET_MIN[name]}
            print(f"{name}: {times['s_per_it_first_half']:.3f} / {times['s_per_it_second_half']:.3f} s/it, "
                  f"validation + checkpoint {times['validation_and_checkpoint_s']:.1f} s -> {minutes:.1f} min "
                  f"(budget {BUDGET_MIN[name]:.0f})")
    return {"what": __doc__.split("\n\n")[0], "command": "OMP_NUM_THREADS=1 python benchmarks/recipe_budget.py",
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, python {platform.python_version()}",
            "stages": stages}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", type=int, default=SHORT,
                        help=f"iterations of each short run (a multiple of {4 * LOG_EVERY}, >= {8 * LOG_EVERY})")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.short < 8 * LOG_EVERY or args.short % (4 * LOG_EVERY):
        parser.error(f"--short: expected a multiple of {4 * LOG_EVERY} and >= {8 * LOG_EVERY}, got {args.short}")
    result = run(args.short)
    text = json.dumps(result, indent=1) + "\n"
    atomic_write(args.out, lambda tmp: tmp.write_text(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
