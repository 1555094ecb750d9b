"""Quality bar of the ``tiny`` recipe: evaluate a ``dicmini train --config tiny`` run and ship its checkpoint.

This script trains nothing: the shipped model is made by the one training path (:mod:`dicmini.train`)::

    dicmini train --config tiny                  # stage 1 (landmark branch, runs/tiny/hourglass-stage), then DIC
    python benchmarks/quality_bar.py --run runs/tiny --ship

The packaged model for real photos, a fine-tune of the packaged ``tiny`` (docs/real_faces.md), is shipped the same
way, into ``dicmini/assets/dic_tiny_real.pt`` and its results into ``benchmarks/results/tiny_real/``::

    dicmini train --config tiny-real --out runs/tiny-real
    python benchmarks/quality_bar.py --run runs/tiny-real --ship

Bar: the tiny DICNet must beat PIL bicubic by >= 1.0 dB PSNR (mmagic protocol: RGB, float prediction
``denormalize(sr)`` vs uint8 GT, 8-px border crop) on >= 200 held-out synthetic faces (seeds >= 900,000), its last
step must beat its first (PSNR) and its last-step landmark NME (inter-ocular, soft-argmax of the predicted
heatmaps) must be below its first-step NME; both training stages together within 90 minutes on 2 CPU cores.

Outputs:

* ``benchmarks/results/quality_bar.json``        metrics per step, SSIM, NME, minutes, iterations, train config
* ``benchmarks/results/quality_bar_curve.jsonl`` the learning curve (the run's validation records, with gains)
* ``benchmarks/results/quality_bar_curve.png``   the learning curve plot
* with ``--ship``: ``dicmini/assets/dic_tiny.pt`` (generator weights, the run's ``train_config`` and command) and
  ``dicmini/assets/dic_tiny.json`` (for ``tiny-real``: ``dic_tiny_real.pt`` / ``.json``; the packaged name of a
  config is its own name, :data:`dicmini.models.convert.PRETRAINED_NAMES`).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent

from dicmini.data.degrade import bicubic_upsample, denormalize, downsample, normalize  # noqa: E402
from dicmini.data.landmarks import heatmaps_to_landmarks  # noqa: E402
from dicmini.data.synthetic import HELD_OUT_SEED_START, render_face  # noqa: E402
from dicmini.metrics import nme, psnr, ssim  # noqa: E402
from dicmini.models import load_pretrained  # noqa: E402
from dicmini.models.convert import PRETRAINED_NAMES, read_checkpoint, save_dicmini_checkpoint  # noqa: E402
from dicmini.train.checkpoint import read_training_checkpoint  # noqa: E402
from dicmini.utils import atomic_write  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


@torch.no_grad()
def evaluate_held_out(model: torch.nn.Module, n: int, batch: int = 16) -> dict:
    """Per-step PSNR/SSIM (mmagic, crop 8) and NME on held-out faces ``900000 .. 900000+n-1``, and bicubic."""
    model.eval()
    steps = model.num_steps
    ps, ss, nm = np.zeros((steps, n)), np.zeros((steps, n)), np.zeros((steps, n))
    bp, bs = np.zeros(n), np.zeros(n)
    for a in range(0, n, batch):
        idx = list(range(a, min(a + batch, n)))
        faces = [render_face(HELD_OUT_SEED_START + i, size=128) for i in idx]
        hr_u8 = np.stack([f[0] for f in faces])
        lms = np.stack([f[1] for f in faces])
        lr_u8 = np.stack([downsample(h) for h in hr_u8])
        out = model(normalize(lr_u8))
        for j, i in enumerate(idx):
            up = bicubic_upsample(lr_u8[j])
            bp[i] = psnr(up, hr_u8[j], 8, "mmagic")
            bs[i] = ssim(up, hr_u8[j], 8, "mmagic")
        for t in range(steps):
            sr = denormalize(out.sr[t])
            for j, i in enumerate(idx):
                ps[t, i] = psnr(sr[j], hr_u8[j], 8, "mmagic")
                ss[t, i] = ssim(sr[j], hr_u8[j], 8, "mmagic")
            pred = heatmaps_to_landmarks(out.heatmaps[t], image_size=128)
            nm[t, idx] = nme(pred, lms)
    gain = ps - bp[None]
    return {
        "num_images": n, "seeds": [HELD_OUT_SEED_START, HELD_OUT_SEED_START + n - 1],
        "protocol": "mmagic (RGB, float pred = denormalize(sr), uint8 GT, crop 8)",
        "bicubic_psnr": float(bp.mean()), "bicubic_ssim": float(bs.mean()),
        "psnr": ps.mean(1).tolist(), "ssim": ss.mean(1).tolist(),
        "gain_db": gain.mean(1).tolist(),
        "gain_db_std_err": (gain.std(1, ddof=1) / np.sqrt(n)).tolist(),
        "frac_images_above_bicubic_last": float((gain[-1] > 0).mean()),
        "nme": nm.mean(1).tolist(),
        # paired per-image differences (mean, standard error, fraction of images where the last step is better)
        "psnr_last_minus_first": _paired(ps[-1] - ps[0]),
        "nme_first_minus_last": _paired(nm[0] - nm[-1]),
    }


def _paired(d: np.ndarray) -> dict:
    return {"mean": float(d.mean()), "std_err": float(d.std(ddof=1) / np.sqrt(len(d))),
            "frac_last_better": float((d > 0).mean())}


def plot_curve(curve: list[dict], path: Path, final: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    minutes = [r["s"] / 60 for r in curve]
    steps = len(curve[0]["gain_db"])
    for t in range(steps):
        a1.plot(minutes, [r["gain_db"][t] for r in curve], marker=".", label=f"step {t + 1}")
        a2.plot(minutes, [r["nme"][t] for r in curve], marker=".", label=f"step {t + 1}")
    a1.axhline(0, color="gray", lw=0.8)
    a1.axhline(1.0, color="red", lw=0.8, ls="--", label="bar +1.0 dB")
    a1.set_xlabel("training minutes (1 thread, shared 2-core CPU)")
    a1.set_ylabel("PSNR gain over PIL bicubic (dB)")
    a1.set_title(f"probe: {curve[0].get('probe', 64)} held-out faces; final {final['num_images']} faces: "
                 f"{final['gain_db'][-1]:+.2f} dB", fontsize=9)
    a1.legend(fontsize=8)
    a2.set_xlabel("training minutes (1 thread, shared 2-core CPU)")
    a2.set_ylabel("landmark NME (inter-ocular)")
    a2.set_yscale("log")
    a2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def git_state() -> dict:
    def run(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.rstrip()
        except Exception:  # noqa: BLE001
            return ""
    return {"commit": run("git", "rev-parse", "HEAD"),
            "dirty_files": [ln[3:] for ln in run("git", "status", "--porcelain", "--untracked-files=no").splitlines()]}


def run_curve(run: Path, bicubic_by_face: np.ndarray) -> list[dict]:
    """The run's validation records as a learning curve: iteration, training seconds, per-step PSNR, gain over
    bicubic on the same validation faces, NME."""
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    elapsed = {r["step"]: r["elapsed_s"] for r in records if r.get("type") == "train"}
    curve = []
    for r in records:
        if r.get("type") != "val":
            continue
        seconds = elapsed.get(r["step"], max([v for k, v in elapsed.items() if k <= r["step"]], default=0.0))
        base = float(bicubic_by_face[:r["num_images"]].mean())
        curve.append({"it": r["step"], "s": seconds, "psnr": r["psnr"], "nme": r["nme"], "probe": r["num_images"],
                      "gain_db": [p - base for p in r["psnr"]]})
    return curve


def training_minutes(folder: Path) -> float:
    """Training minutes of a run folder (the last ``elapsed_s`` of its log; resumed segments add up)."""
    total, last = 0.0, 0.0
    for line in (folder / "log.jsonl").read_text().splitlines():
        record = json.loads(line) if line.strip() else {}
        if record.get("type") == "start":
            total, last = total + last, 0.0
        last = record.get("elapsed_s", last)
    return (total + last) / 60


def main(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=ROOT / "runs" / "tiny", help="a `dicmini train --config tiny` folder")
    ap.add_argument("--checkpoint", default="last.pt", help="checkpoint of the run to evaluate and ship")
    ap.add_argument("--eval-n", type=int, default=200, help="held-out faces of the final evaluation")
    ap.add_argument("--ship", action="store_true",
                    help="write the packaged model of the run's config (dicmini/assets/dic_tiny.pt and dic_tiny.json "
                         "for tiny)")
    ap.add_argument("--results", type=Path, help="results folder (default benchmarks/results, for tiny-real "
                                                  "benchmarks/results/tiny_real)")
    args = ap.parse_args(argv)
    command = "python benchmarks/quality_bar.py " + " ".join(shlex.quote(a) for a in argv)
    source = args.run / args.checkpoint
    state = read_training_checkpoint(source)
    train_config = state["train_config"]
    name = train_config["name"]
    if args.ship and name not in PRETRAINED_NAMES:
        raise SystemExit(f"quality_bar: --ship: the run's config {name!r} has no packaged name (expected one of "
                         f"{', '.join(sorted(PRETRAINED_NAMES))})")
    if args.results is None:
        args.results = RESULTS if name == "tiny" else RESULTS / name.replace("-", "_")
    model = load_pretrained(source)
    t_eval = time.time()
    final = evaluate_held_out(model, args.eval_n)
    eval_s = time.time() - t_eval
    stage = args.run / "hourglass-stage"
    minutes = {"dic": round(training_minutes(args.run), 2),
               "hourglass_stage": round(training_minutes(stage), 2) if (stage / "log.jsonl").is_file() else 0.0}
    base = train_config.get("init_generator", "")
    if base in PRETRAINED_NAMES:    # a fine-tune of a packaged model: its training time counts too
        minutes["init_generator"] = round(sum(read_checkpoint(PRETRAINED_NAMES[base]).get("train_minutes", {})
                                              .values()), 2)
    bicubic_val = np.array([psnr(bicubic_upsample(downsample(f[0])), f[0], 8, "mmagic")
                            for f in (render_face(HELD_OUT_SEED_START + i) for i in range(train_config["val_size"]))])
    curve = run_curve(args.run, bicubic_val)
    bar = {
        "gain_last_ge_1db": final["gain_db"][-1] >= 1.0,
        "last_step_beats_first_psnr": final["psnr"][-1] > final["psnr"][0],
        "last_step_nme_below_first": final["nme"][-1] < final["nme"][0],
        "train_minutes_le_90": sum(minutes.values()) <= 90.0,
    }
    bar["passed"] = all(bar.values())
    train_command = f"dicmini train --config {train_config['name']}"
    report = {
        "train_command": train_command, "train_config": train_config, "iterations": int(state["step"]),
        "train_minutes": minutes, "final_eval_s": round(eval_s, 1), "held_out": final, "bar": bar,
        "command": command, "torch": str(torch.__version__), "python": platform.python_version(),
        "machine": platform.machine(), "git": git_state(),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    atomic_write(args.results / "quality_bar.json", lambda tmp: tmp.write_text(json.dumps(report, indent=2) + "\n"))
    atomic_write(args.results / "quality_bar_curve.jsonl",
                 lambda tmp: tmp.write_text("".join(json.dumps(r) + "\n" for r in curve)))
    plot_curve(curve, args.results / "quality_bar_curve.png", final)
    if args.ship:
        summary = {"held_out": final, "bar": bar, "train_command": train_command, "train_minutes": minutes,
                   "iterations": report["iterations"], "command": command, "torch": str(torch.__version__),
                   "curve_summary": [{"it": r["it"], "minutes": round(r["s"] / 60, 2),
                                      "gain_db_last": round(r["gain_db"][-1], 3), "nme_last": round(r["nme"][-1], 4)}
                                     for r in curve]}
        stage_config = (read_training_checkpoint(stage / "last.pt")["train_config"]
                        if (stage / "last.pt").is_file() else {})
        asset = PRETRAINED_NAMES[name]
        save_dicmini_checkpoint(asset, model, train_config=train_config, stage_config=stage_config,
                                command=train_command,
                                metrics=final, iterations=report["iterations"], train_minutes=minutes,
                                torch_version=str(torch.__version__))
        atomic_write(asset.with_suffix(".json"), lambda tmp: tmp.write_text(json.dumps(summary, indent=2) + "\n"))
    print(json.dumps({"gain_db": final["gain_db"], "ssim": final["ssim"], "bicubic_ssim": final["bicubic_ssim"],
                      "nme": final["nme"], "minutes": minutes, "iterations": report["iterations"], "bar": bar},
                     indent=2), flush=True)
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
