"""The ablation lab of notebook 11, through the one training path: ``dicmini train`` runs, ``dicmini test`` scores.

Every variant is the shipped ``tiny`` recipe (``dicmini train --config tiny``, see ``dicmini/train/config.py``)
changed in **one** thing, trained for the same, shorter, number of iterations from 3 seeds. All of them start their
landmark branch from **the same pre-trained hourglass**: stage 1 of the shipped model, the output of
``dicmini train --config tiny-hourglass`` (``--hourglass``; its SHA-256 is stored in every result), as the official
recipe starts from a pretrained ``FB_HG_68_CelebA.pth`` (docs/reference_implementations.md#recipes). The run length
is scaled down from the shipped 6,500 iterations to ``--iterations`` (default 800), and the landmark branch's freeze
with it (the shipped run froze it for the first quarter of its first schedule): ``release_hourglass_step =
iterations // 4``. Everything else (teacher forcing 0.5, the branch at 0.2x the rate, sigma-2 heatmaps, Adam 2e-3
cosine, batch 4) is the named config.

Variants (``--variants``; ``steps3`` is the baseline, the shipped recipe at the lab's length):

* ``steps1`` ... ``steps4``: T = 1...4 recurrent steps; with T = 1 the landmark branch never feeds back;
* ``noprior``: T = 3, no landmark prior (``fusion=none``: the same attentive fusion fed all-zero component maps,
  i.e. uniform attention; the landmark branch is trained but never guides the recovery);
* ``concat``: T = 3, the 5 component maps concatenated to the feature instead of the attentive fusion;
* ``detached``: T = 3, attention maps detached (no SR-loss gradient into the landmark branch).

Each run trains into ``runs/ablations/<variant>_s<seed>/`` and is scored by ``dicmini test`` on the 200 held-out
synthetic faces (seeds 900,000-900,199, mmagic protocol: RGB, crop 8); ``benchmarks/results/ablations/
<variant>_s<seed>.json`` keeps both commands, the run's validation curve, its training time and the test metrics.
``summarize`` gathers them into ``notebooks/artifacts/ablations.json`` (per seed, and mean +- std over seeds), with
the shipped model's figures beside them so that the effect of run length is visible; notebook 11 renders it.

Shards take the next run nobody is training (a ``<run>.lock`` file holds the shard's process id). Usage (two
shards on a 2-core machine, one thread each; about 2.5 CPU-hours at 800 iterations)::

    dicmini train --config tiny-hourglass --out runs/tiny-hourglass          # stage 1, if not made yet
    OMP_NUM_THREADS=1 python benchmarks/ablations.py run --hourglass runs/tiny-hourglass/last.pt &
    OMP_NUM_THREADS=1 python benchmarks/ablations.py run --hourglass runs/tiny-hourglass/last.pt &
    wait; python benchmarks/ablations.py summarize
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from dicmini.utils import atomic_write

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "ablations"
RUNS = ROOT / "runs" / "ablations"
SUMMARY = ROOT / "notebooks" / "artifacts" / "ablations.json"
SHIPPED = ROOT / "dicmini" / "assets" / "dic_tiny.json"
HELD_OUT = 200

#: variant -> (label, ``--set`` overrides of the named config ``tiny``)
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "steps1": ("T = 1 (coarse block only)", ["num_steps=1"]),
    "steps2": ("T = 2", ["num_steps=2"]),
    "steps3": ("T = 3 (baseline)", ["num_steps=3"]),
    "steps4": ("T = 4", ["num_steps=4"]),
    "noprior": ("T = 3, no landmark prior (uniform attention)", ["fusion=none"]),
    "concat": ("T = 3, concatenation instead of attention", ["fusion=concat"]),
    "detached": ("T = 3, attention detached", ["detach_attention=true"]),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train_command(variant: str, seed: int, iterations: int, hourglass: Path, out: Path) -> list[str]:
    """The ``dicmini train`` command of one run."""
    every = max(1, iterations // 4)
    sets = ["hourglass_stage=", f"init_hourglass={hourglass}", f"iterations={iterations}",
            f"release_hourglass_step={every}", f"val_every={every}", f"ckpt_every={every}", f"seed={seed}",
            *VARIANTS[variant][1]]
    return ["dicmini", "train", "--config", "tiny", "--out", str(out), "--quiet",
            *[arg for s in sets for arg in ("--set", s)]]


def test_command(run: Path, json_path: Path) -> list[str]:
    return ["dicmini", "test", "--checkpoint", str(run / "last.pt"), "--data", "synthetic", "--n", str(HELD_OUT),
            "--no-identity", "--no-lpips", "--quiet", "--json", str(json_path)]


def _records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.open()]


def training_time(records: list[dict]) -> tuple[float, float]:
    """(minutes, seconds per iteration) of a run log, summed over its sessions: a resumed run logs a new ``start``
    and its ``elapsed_s`` counts from there."""
    seconds, iterations, first = 0.0, 0, 0
    last: dict | None = None
    for r in records + [{"type": "start"}]:
        if r.get("type") == "start":
            if last is not None:
                seconds += last["elapsed_s"]
                iterations += last["step"] - first
            last, first = None, r.get("step", 0)
        elif r.get("type") == "train":
            last = r
    return seconds / 60, seconds / max(iterations, 1)


def claim(lock: Path) -> bool:
    """Take the run of ``lock`` for this process unless a live process holds it (shards started at different times
    then share the remaining runs; the lock of a killed shard is taken over)."""
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            os.kill(int(lock.read_text() or "0"), 0)
            return False  # held by a live process
        except (ProcessLookupError, ValueError):
            lock.write_text(str(os.getpid()))  # a stale lock
            return True
        except PermissionError:
            return False
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    return True


def run(args: argparse.Namespace) -> None:
    hourglass = Path(args.hourglass)
    if not hourglass.is_file():
        raise SystemExit(f"--hourglass {hourglass}: no such file (make it with `dicmini train --config "
                         "tiny-hourglass --out runs/tiny-hourglass`, then pass runs/tiny-hourglass/last.pt)")
    out, runs = Path(args.out), Path(args.runs)
    out.mkdir(parents=True, exist_ok=True)
    hourglass_sha256 = sha256(hourglass)
    for seed in args.seeds:
        for variant in args.variants:
            result = out / f"{variant}_s{seed}.json"
            if result.exists():
                print(f"[{variant}_s{seed}] already done: {result}", flush=True)
                continue
            if not claim(out / f"{variant}_s{seed}.lock"):
                print(f"[{variant}_s{seed}] being trained by another shard", flush=True)
                continue
            run_dir = runs / f"{variant}_s{seed}"
            train = train_command(variant, seed, args.iterations, hourglass, run_dir)
            done = (run_dir / "log.jsonl").is_file() and any(
                r.get("type") == "end" and r.get("stopped") == "completed" for r in _records(run_dir / "log.jsonl"))
            if not done:
                if (run_dir / "last.pt").is_file():  # an interrupted run: continue it exactly
                    subprocess.run(["dicmini", "train", "--resume", str(run_dir / "last.pt"), "--quiet"], check=True)
                else:  # not started, or stopped before its first checkpoint
                    subprocess.run(train + (["--overwrite"] if run_dir.exists() else []), check=True)
            tmp = result.with_suffix(".test.tmp")
            test = test_command(run_dir, tmp)
            subprocess.run(test, check=True, stdout=subprocess.DEVNULL)
            metrics = json.loads(tmp.read_text())
            tmp.unlink()
            records = _records(run_dir / "log.jsonl")
            minutes, s_per_it = training_time(records)
            payload = {
                "variant": variant, "seed": seed, "label": VARIANTS[variant][0],
                "commands": [" ".join(train), " ".join(test[:-1] + ["<this file>"])],
                "hourglass_sha256": hourglass_sha256, "iterations": args.iterations,
                "train_minutes": round(minutes, 2), "s_per_it": s_per_it,
                "curve": [{k: r[k] for k in ("step", "psnr", "nme")} for r in records if r.get("type") == "val"],
                "test": {k: metrics[k] for k in ("num_images", "protocol", "psnr", "ssim", "nme", "bicubic_psnr",
                                                 "bicubic_ssim")},
            }
            atomic_write(result, lambda tmp: tmp.write_text(json.dumps(payload, indent=1) + "\n"))
            (out / f"{variant}_s{seed}.lock").unlink()
            print(f"[{variant}_s{seed}] last-step PSNR {metrics['psnr'][-1]:.2f} dB, NME {metrics['nme'][-1]:.4f}, "
                  f"{payload['train_minutes']:.1f} min", flush=True)


def _mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def run_entry(payload: dict) -> dict:
    """One run's record in the notebook artifact: the test's per-step metrics and gains, and the curve."""
    test = payload["test"]
    return {"psnr": test["psnr"], "gain_db": [p - test["bicubic_psnr"] for p in test["psnr"]], "ssim": test["ssim"],
            "nme": test["nme"], "s_per_it": payload["s_per_it"], "train_minutes": payload["train_minutes"],
            "curve": [{"it": c["step"], "psnr": c["psnr"][-1], "nme": c["nme"][-1]} for c in payload["curve"]]}


def summarize(args: argparse.Namespace) -> dict:
    variants: dict = {}
    payloads = []
    for variant, (label, overrides) in VARIANTS.items():
        mine = [json.loads(path.read_text()) for path in sorted(Path(args.out).glob(f"{variant}_s*.json"))]
        if not mine:
            continue
        payloads += mine
        runs = {str(p["seed"]): run_entry(p) for p in mine}
        first = mine[0]
        last = lambda key: [r[key][-1] for r in runs.values()]  # noqa: E731
        variants[variant] = {
            "label": label, "overrides": overrides, "iterations": first["iterations"],
            "bicubic_psnr": first["test"]["bicubic_psnr"], "runs": runs,
            "last_step": {key: _mean_std(last(key)) for key in ("psnr", "gain_db", "ssim", "nme")},
            "collapsed_runs": sorted(s for s, r in runs.items() if max(r["nme"]) >= 0.10)}
    if not payloads:
        raise SystemExit(f"{args.out}: no finished runs")
    hourglasses = {p["hourglass_sha256"] for p in payloads}
    if len(hourglasses) != 1:
        raise SystemExit(f"{args.out}: the runs start from different hourglasses {sorted(hourglasses)}")
    shipped = json.loads(SHIPPED.read_text())
    out = {
        "description": __doc__.split("\n\n")[0],
        "command": "python benchmarks/ablations.py summarize",
        "base_config": "tiny", "iterations": payloads[0]["iterations"], "held_out_faces": HELD_OUT,
        "hourglass_sha256": hourglasses.pop(), "threads": 1,
        "cpu_hours": round(sum(p["train_minutes"] for p in payloads) / 60, 2),
        "variants": variants,
        "shipped": {"iterations": shipped["iterations"], "train_command": shipped["train_command"],
                    "gain_db": shipped["held_out"]["gain_db"], "nme": shipped["held_out"]["nme"],
                    "psnr": shipped["held_out"]["psnr"], "ssim": shipped["held_out"]["ssim"],
                    "faces": shipped["held_out"]["num_images"],
                    "nme_first_minus_last": shipped["held_out"]["nme_first_minus_last"]},
    }
    atomic_write(args.summary, lambda tmp: tmp.write_text(json.dumps(out, indent=1) + "\n"))
    for variant, entry in variants.items():
        ls = entry["last_step"]
        print(f"{variant:9s} n={ls['psnr']['n']} last-step PSNR {ls['psnr']['mean']:.2f} ± {ls['psnr']['std']:.2f} dB "
              f"(gain {ls['gain_db']['mean']:+.2f}), SSIM {ls['ssim']['mean']:.3f}, NME {ls['nme']['mean']:.3f}"
              + (f", collapsed: seeds {entry['collapsed_runs']}" if entry["collapsed_runs"] else ""))
    print(f"wrote {args.summary} ({out['cpu_hours']} CPU-hours of training)")
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train and score variants x seeds (skips finished runs, resumes interrupted ones)")
    r.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    r.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    r.add_argument("--iterations", type=int, default=800)
    r.add_argument("--hourglass", required=True, help="stage-1 checkpoint (dicmini train --config tiny-hourglass)")
    r.add_argument("--runs", default=str(RUNS), help="run folders (default runs/ablations)")
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
