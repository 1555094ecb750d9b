"""Quality bar of the ``tiny`` DIC recipe: train within a wall-clock budget, evaluate, ship the checkpoint.

Bar (issue item "Quality bar"): trained <= 60 minutes on 2 CPU cores, the tiny DICNet must beat PIL bicubic
by >= 1.0 dB PSNR (mmagic protocol: RGB, float prediction ``denormalize(sr)`` vs uint8 GT, 8-px border
crop) on >= 200 held-out synthetic faces (seeds >= 900,000), its last step must beat its first step (PSNR)
and its last-step landmark NME (inter-ocular, soft-argmax of the predicted heatmaps) must be lower than its
first-step NME.

The training loop is :func:`benchmarks.tiny_recipe_search.train` (the recipe's flags are passed through;
see ``--help`` of that script); the learning curve is its probe-set evaluation (64 held-out faces).
Outputs:

* ``benchmarks/results/quality_bar.json``        metrics per step, SSIM, NME, minutes, iterations, command
* ``benchmarks/results/quality_bar_curve.jsonl`` the learning curve (one record per probe evaluation)
* ``benchmarks/results/quality_bar_curve.png``   the learning curve plot
* ``--checkpoint`` (default ``runs/quality_bar/dic_tiny.pt``) and, with ``--ship``, copies to
  ``dicmini/assets/dic_tiny.pt`` and ``dicmini/assets/dic_tiny.json``.

Example (the command that produced the shipped checkpoint is stored in it and in ``dic_tiny.json``)::

    OMP_NUM_THREADS=1 python benchmarks/quality_bar.py --minutes 55 --ship -- --init kaiming_sr ...
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from tiny_recipe_search import build_parser, train  # noqa: E402

from dicmini.data.degrade import bicubic_upsample, denormalize, downsample, normalize  # noqa: E402
from dicmini.data.landmarks import heatmaps_to_landmarks  # noqa: E402
from dicmini.data.synthetic import HELD_OUT_SEED_START, render_face  # noqa: E402
from dicmini.metrics import nme, psnr, ssim  # noqa: E402
from dicmini.models.convert import save_dicmini_checkpoint  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
ASSETS = ROOT / "dicmini" / "assets"


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
            return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
        except Exception:  # noqa: BLE001
            return ""
    return {"commit": run("git", "rev-parse", "HEAD"),
            "dirty_files": [ln[3:] for ln in run("git", "status", "--porcelain", "--untracked-files=no").splitlines()]}


def main(argv: list[str]) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=55.0, help="wall-clock budget of the training loop")
    ap.add_argument("--eval-n", type=int, default=200, help="held-out faces of the final evaluation")
    ap.add_argument("--checkpoint", default=str(ROOT / "runs" / "quality_bar" / "dic_tiny.pt"))
    ap.add_argument("--ship", action="store_true", help="copy the checkpoint and metrics to dicmini/assets/")
    ap.add_argument("--results", default=str(RESULTS))
    ap.add_argument("recipe", nargs=argparse.REMAINDER, help="after '--': flags of tiny_recipe_search.py")
    args = ap.parse_args(argv)
    recipe = [a for a in args.recipe if a != "--"]
    command = "OMP_NUM_THREADS=1 python benchmarks/quality_bar.py " + " ".join(shlex.quote(a) for a in argv)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)

    wall0 = time.time()
    targs = build_parser().parse_args(["--name", "quality_bar", "--minutes", str(args.minutes), "--cache", "",
                                       "--out", str(results / "quality_bar_run")] + recipe)
    model, records = train(targs)
    train_rec = records[-1]
    curve = [{k: r[k] for k in ("it", "s", "gain_db", "psnr", "nme")} for r in records
             if r["type"] in ("eval", "final")]
    for r in curve:
        r["probe"] = targs.probe
    t_eval = time.time()
    final = evaluate_held_out(model, args.eval_n)
    eval_s = time.time() - t_eval
    minutes = train_rec["s"] / 60
    bar = {
        "gain_last_ge_1db": final["gain_db"][-1] >= 1.0,
        "last_step_beats_first_psnr": final["psnr"][-1] > final["psnr"][0],
        "last_step_nme_below_first": final["nme"][-1] < final["nme"][0],
        "train_minutes_le_60": minutes <= 60.0,
    }
    bar["passed"] = all(bar.values())
    report = {
        "recipe": {k: v for k, v in vars(targs).items() if k not in ("name", "out", "cache", "save")},
        "model_params": records[0]["params"],
        "train_minutes": round(minutes, 2), "iterations": train_rec["it"], "s_per_it": train_rec["s_per_it"],
        "data_render_s": records[0]["data_s"], "final_eval_s": round(eval_s, 1),
        "total_wall_minutes": round((time.time() - wall0) / 60, 2),
        "held_out": final, "bar": bar,
        "command": command, "torch": str(torch.__version__), "threads": torch.get_num_threads(),
        "python": platform.python_version(), "machine": f"{platform.machine()}, {torch.get_num_threads()} thread(s)",
        "git": git_state(),
    }
    (results / "quality_bar.json").write_text(json.dumps(report, indent=2) + "\n")
    with (results / "quality_bar_curve.jsonl").open("w") as f:
        for r in curve:
            f.write(json.dumps(r) + "\n")
    plot_curve(curve, results / "quality_bar_curve.png", final)

    ckpt = Path(args.checkpoint)
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    summary = {"held_out": final, "bar": bar, "train_minutes": report["train_minutes"],
               "iterations": report["iterations"], "command": command, "torch": str(torch.__version__),
               "threads": report["threads"], "recipe": report["recipe"],
               "curve_summary": [{"it": r["it"], "minutes": round(r["s"] / 60, 2),
                                  "gain_db_last": round(r["gain_db"][-1], 3), "nme_last": round(r["nme"][-1], 4)}
                                 for r in curve]}
    save_dicmini_checkpoint(ckpt, model, curve=curve, command=command, metrics=final, bar=bar,
                            recipe=report["recipe"], torch_version=str(torch.__version__),
                            iterations=report["iterations"], train_minutes=report["train_minutes"])
    if args.ship:
        ASSETS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ckpt, ASSETS / "dic_tiny.pt")
        (ASSETS / "dic_tiny.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({"gain_db": final["gain_db"], "ssim": final["ssim"], "bicubic_ssim": final["bicubic_ssim"],
                      "nme": final["nme"], "minutes": report["train_minutes"], "iterations": report["iterations"],
                      "bar": bar, "checkpoint_bytes": ckpt.stat().st_size}, indent=2), flush=True)
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
