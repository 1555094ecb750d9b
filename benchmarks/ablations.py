"""Ablation runs for notebook 11: number of steps, attentive fusion vs concatenation, detached attention.

Every variant is the shipped ``tiny`` recipe (``benchmarks/quality_bar.py``'s command: widths 16/2/32, internal
projection scale 2, 7 fusion blocks, Kaiming on the SR branch, reconstruction tail x0.1, sigma-2 heatmaps, Adam
2e-3 with a cosine schedule, batch 4) changed in **one** thing, trained for the same number of iterations from
the same seeds. As in the official recipe (docs/reference_implementations.md#recipes), the landmark branch
starts from a pretrained hourglass: ``notebooks/artifacts/tiny_hourglass.pt`` (trained on HR synthetic faces by
``benchmarks/train_tiny_hourglass.py``), so that the landmark-guided steps have usable landmarks from the start
of a short run instead of spending the first ~1,500 iterations on the "predict zero" plateau.

Variants (``--variants``):

* ``steps1`` / ``steps2`` / ``steps3`` / ``steps4``: T = 1...4 recurrent steps (``steps3`` is the baseline);
  with T = 1 the landmark branch never feeds back: the image comes from the coarse feedback block alone;
* ``concat``: T = 3 with the attentive fusion replaced by concatenating the 5 component maps to the feature;
* ``detached``: T = 3 with the attention maps detached (no gradient from step t+1's SR loss into step t's
  hourglass).

Each run evaluates on the 200 held-out faces (seeds 900,000-900,199, mmagic protocol: RGB, crop 8) and writes
``benchmarks/results/ablations/<variant>_s<seed>.jsonl`` (the full log of
``benchmarks/tiny_recipe_search.py``). ``summarize`` gathers the final records into
``notebooks/artifacts/ablations.json`` (per seed and mean +- std over seeds), which notebook 11 renders.

Usage (two shards on a 2-core machine, one thread each)::

    OMP_NUM_THREADS=1 python benchmarks/ablations.py run --seeds 0 --iters 1000 &
    OMP_NUM_THREADS=1 python benchmarks/ablations.py run --seeds 1 --iters 1000 &
    wait; python benchmarks/ablations.py summarize
    python benchmarks/ablations.py run --variants steps3 --seeds 0 --iters 20 --probe 8 --out /tmp/abl  # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import tiny_recipe_search  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "ablations"
SUMMARY = ROOT / "notebooks" / "artifacts" / "ablations.json"
HOURGLASS = ROOT / "notebooks" / "artifacts" / "tiny_hourglass.pt"

# The shipped tiny recipe (benchmarks/quality_bar.py command), minus its wall-clock schedule.
BASE = ["--init", "kaiming_sr_nofusion", "--tail-scale", "0.1", "--mid", "16", "--blocks", "2", "--hg", "32",
        "--up", "2", "--fusion-blocks", "7", "--batch", "4", "--lr", "2e-3", "--sched", "cosine",
        "--min-lr-frac", "0.05", "--align-weight", "1.0", "--sigma", "2", "--pool", "4000", "--minutes", "100000"]

VARIANTS: dict[str, tuple[str, list[str]]] = {
    "steps1": ("T = 1 (coarse block only)", ["--steps", "1"]),
    "steps2": ("T = 2", ["--steps", "2"]),
    "steps3": ("T = 3 (baseline)", ["--steps", "3"]),
    "steps4": ("T = 4", ["--steps", "4"]),
    "concat": ("T = 3, concatenation instead of attention", ["--steps", "3", "--fusion", "concat"]),
    "detached": ("T = 3, attention detached", ["--steps", "3", "--detach-attention"]),
}


def run_args(variant: str, seed: int, iters: int, probe: int, eval_every: int, threads: int, out: Path,
             hourglass: Path) -> list[str]:
    """The ``tiny_recipe_search`` command line of one run."""
    return BASE + VARIANTS[variant][1] + [
        "--name", f"{variant}_s{seed}", "--seed", str(seed), "--iters", str(iters), "--probe", str(probe),
        "--eval-every", str(eval_every), "--threads", str(threads), "--out", str(out), "--hg-init", str(hourglass)]


def run(args: argparse.Namespace) -> None:
    for seed in args.seeds:
        for variant in args.variants:
            log = Path(args.out) / f"{variant}_s{seed}.jsonl"
            if log.exists() and any(json.loads(line).get("type") == "final" for line in log.open()):
                print(f"[{variant}_s{seed}] already done: {log}", flush=True)
                continue
            cmd = run_args(variant, seed, args.iters, args.probe, args.eval_every, args.threads, Path(args.out),
                           Path(args.hourglass))
            tiny_recipe_search.main(cmd)


def _final(path: Path) -> dict | None:
    records = [json.loads(line) for line in path.open()]
    finals = [r for r in records if r.get("type") == "final"]
    if not finals:
        return None
    curve = [{"it": r["it"], "gain_db": r["gain_db"][-1], "nme": r["nme"][-1]} for r in records
             if r.get("type") == "eval"]
    return {**finals[-1], "curve": curve}


def _mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def summarize(args: argparse.Namespace) -> dict:
    out: dict = {"description": __doc__.split("\n\n")[0], "base_recipe": BASE,
                 "hourglass_init": str(HOURGLASS.relative_to(ROOT)), "variants": {}}
    for variant, (label, extra) in VARIANTS.items():
        runs = {}
        for path in sorted(Path(args.out).glob(f"{variant}_s*.jsonl")):
            final = _final(path)
            if final is not None:
                runs[path.stem.split("_s")[-1]] = final
        if not runs:
            continue
        first = next(iter(runs.values()))
        entry = {"label": label, "args": extra, "iterations": first["it"], "bicubic_psnr": first["bicubic_psnr"],
                 "runs": {}}
        for seed, final in runs.items():
            entry["runs"][seed] = {k: final[k] for k in ("psnr", "gain_db", "ssim", "nme", "s_per_it", "curve")}
        last = lambda key: [r[key][-1] for r in entry["runs"].values()]  # noqa: E731
        entry["last_step"] = {key: _mean_std(last(key)) for key in ("psnr", "gain_db", "ssim", "nme")}
        out["variants"][variant] = entry
    config = json.loads(next(Path(args.out).glob("*.jsonl")).open().readline())
    out["probe_faces"] = config["probe"]
    out["iterations"] = config["iters"]
    out["threads"] = config["threads"]
    tmp = Path(args.summary).with_suffix(".tmp")
    tmp.write_text(json.dumps(out, indent=1) + "\n")
    os.replace(tmp, args.summary)
    for variant, entry in out["variants"].items():
        ls = entry["last_step"]
        print(f"{variant:9s} n={ls['psnr']['n']} last-step PSNR {ls['psnr']['mean']:.2f} ± {ls['psnr']['std']:.2f} dB "
              f"(gain {ls['gain_db']['mean']:+.2f}), SSIM {ls['ssim']['mean']:.3f}, NME {ls['nme']['mean']:.3f}")
    print(f"wrote {args.summary}")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train and evaluate variants x seeds (skips finished runs)")
    r.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    r.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    r.add_argument("--iters", type=int, default=1000)
    r.add_argument("--probe", type=int, default=200, help="held-out faces evaluated")
    r.add_argument("--eval-every", type=int, default=250)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--hourglass", default=str(HOURGLASS))
    r.add_argument("--out", default=str(RESULTS))
    s = sub.add_parser("summarize", help="gather finished runs into the notebook artifact")
    s.add_argument("--out", default=str(RESULTS))
    s.add_argument("--summary", default=str(SUMMARY))
    args = ap.parse_args(argv)
    t0 = time.time()
    run(args) if args.command == "run" else summarize(args)
    print(f"done in {(time.time() - t0) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
