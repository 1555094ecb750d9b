"""DICGAN fine-tune of the shipped tiny DIC: evaluate a ``dicmini train --config tiny-dicgan`` run and ship its
generator (paper §3.4, §4.4: the perception–distortion trade-off).

This script trains nothing: the fine-tune is made by the one training path (:mod:`dicmini.train`). The named
config ``tiny-dicgan`` starts the generator from the shipped tiny DIC (``dicmini/assets/dic_tiny.pt``, as the
official DICGAN starts from a trained DIC; docs/reference_implementations.md#recipes), adds a LightCNN discriminator
(PyTorch default init), trains D alone for 80 iterations against the frozen generator (so that the first GAN
gradients come from a D that already separates SR from HR), then alternates one G step (D frozen) and one D step for
200 iterations. In the slot of DICGAN's LightCNN identity loss — no pretrained LightCNN exists offline — it puts a
perceptual loss on the last step, ``0.05 * L1(VGG16(SR_T), VGG16(HR))`` (ImageNet VGG16 up to ``relu3_3``,
``python -m dicmini.models.vgg_weights fetch``; Johnson et al., ECCV 2016). GAN weight 0.02, 4x the paper's.

Commands of the committed results (each about 10 minutes of training and 4 minutes of evaluation on one CPU
thread; both commands are stored in each JSON)::

    # notebooks/artifacts/dicgan_tiny.{json,pt}
    OMP_NUM_THREADS=1 dicmini train --config tiny-dicgan --out runs/tiny-dicgan --quiet
    OMP_NUM_THREADS=1 python benchmarks/dicgan_finetune.py --run runs/tiny-dicgan --ship
    # notebooks/artifacts/dicgan_tiny.gan0.005.json: the paper's GAN weight
    OMP_NUM_THREADS=1 dicmini train --config tiny-dicgan --set gan_weight=0.005 --out runs/tiny-dicgan-gan0.005 --quiet
    OMP_NUM_THREADS=1 python benchmarks/dicgan_finetune.py --run runs/tiny-dicgan-gan0.005 \
        --json notebooks/artifacts/dicgan_tiny.gan0.005.json
    # notebooks/artifacts/dicgan_tiny.gan_only.json: no perceptual loss
    OMP_NUM_THREADS=1 dicmini train --config tiny-dicgan --set feature_weight=0 --out runs/tiny-dicgan-gan-only --quiet
    OMP_NUM_THREADS=1 python benchmarks/dicgan_finetune.py --run runs/tiny-dicgan-gan-only \
        --json notebooks/artifacts/dicgan_tiny.gan_only.json

**Which checkpoint.** The run's ``last.pt`` (the generator after the last iteration) is evaluated and shipped, not
its ``best.pt``: ``best.pt`` is the iteration with the best validation PSNR, and a GAN fine-tune trades PSNR for
realism on purpose, so its best-PSNR snapshot is the one the GAN has changed least — not the point of a GAN.

Evaluation (before = the run's starting generator, its config's ``init_generator``; after = the fine-tuned generator;
and PIL bicubic) on the held-out faces ``900000 .. 900099`` (``HELD_OUT_SEED_START``, ``--eval-n`` 100, the faces of
the earlier results), per step and per face:

* PSNR / SSIM, mmagic protocol (RGB, float prediction ``denormalize(sr)``, uint8 GT, crop 8);
* LPIPS v0.1 (VGG; :func:`dicmini.metrics.lpips`, whole 128x128 image, lower = perceptually closer);
* **sharpness**, both relative to the HR face (1.0 = as much detail as the ground truth), computed on the
  gray (RGB mean) 112x112 centre crop (crop 8 as PSNR):
  ``hf_ratio``  = high-frequency energy ratio: sum of the radially averaged power spectrum
  (:func:`dicmini.viz.images.radial_power_spectrum`, mean removed, 2-D Hann window) over frequencies above the
  LR Nyquist frequency ``1/16`` cycles/pixel (detail the 16x16 input cannot carry), SR over HR;
  ``lap_ratio`` = Laplacian energy ratio: mean squared 5-point Laplacian over the crop interior, SR over HR.

The run's validation faces are the first ``val_size`` of these faces with the same PSNR protocol, so the script
checks that its last-step PSNR on them equals the last validation record of the run's log (1e-3 dB).

Outputs (atomic writes): ``--json`` (default ``notebooks/artifacts/dicgan_tiny.json``: commands, train config,
iterations, training minutes, the log's curve — training losses every ``log_every`` iterations and the validation
records, plus the starting generator's validation at iteration 0 —, the metrics above); with ``--ship`` also the
generator (default ``notebooks/artifacts/dicgan_tiny.pt``, dicmini format, ``load_pretrained(path)``) with the run's
``train_config`` and its ``dicmini train`` command, as ``benchmarks/quality_bar.py --ship`` stores the shipped tiny.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from quality_bar import git_state, training_minutes  # noqa: E402

from dicmini.data.datasets import SyntheticFaces  # noqa: E402
from dicmini.data.degrade import bicubic_upsample, denormalize, downsample, normalize  # noqa: E402
from dicmini.data.synthetic import HELD_OUT_SEED_START, render_faces  # noqa: E402
from dicmini.metrics import lpips, psnr, ssim  # noqa: E402
from dicmini.models import load_pretrained  # noqa: E402
from dicmini.models.convert import PRETRAINED_NAMES, read_checkpoint, save_dicmini_checkpoint  # noqa: E402
from dicmini.train.checkpoint import read_training_checkpoint  # noqa: E402
from dicmini.train.config import RUN_ONLY_KEYS, config_from_dict, config_to_dict, get_config  # noqa: E402
from dicmini.train.evaluate import evaluate as validation_metrics  # noqa: E402
from dicmini.utils import atomic_write  # noqa: E402
from dicmini.viz.images import radial_power_spectrum  # noqa: E402

ARTIFACTS = ROOT / "notebooks" / "artifacts"
#: frequencies above the 16x16 input's Nyquist frequency (0.5 cycles per LR pixel = 1/16 per HR pixel)
HF_CUTOFF = 1.0 / 16
CROP = 8
#: the GAN and feature weights of the paper (§4.1) and both references
PAPER_GAN_WEIGHT, PAPER_FEATURE_WEIGHT = 0.005, 0.1


# ------------------------------------------------------------------------------------------- sharpness
def _gray_crop(image: np.ndarray, crop: int = CROP) -> np.ndarray:
    g = np.asarray(image, dtype=np.float64).mean(axis=2)
    return g[crop:-crop, crop:-crop] if crop else g


def windowed_spectrum(image: np.ndarray, crop: int = CROP) -> tuple[np.ndarray, np.ndarray]:
    """Radial power spectrum of the gray centre crop, mean removed and multiplied by a 2-D Hann window (so that
    the crop's borders do not add spurious high frequencies)."""
    g = _gray_crop(image, crop)
    w = np.hanning(g.shape[0])
    return radial_power_spectrum((g - g.mean()) * np.outer(w, w))


def hf_energy(image: np.ndarray, crop: int = CROP, cutoff: float = HF_CUTOFF) -> float:
    """Sum of the windowed radial power spectrum over frequencies ``> cutoff`` (cycles per pixel)."""
    f, p = windowed_spectrum(image, crop)
    return float(p[f > cutoff].sum())


def laplacian_energy(image: np.ndarray, crop: int = CROP) -> float:
    """Mean squared 5-point Laplacian of the gray centre crop (interior pixels only)."""
    g = _gray_crop(image, crop)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float(np.mean(lap ** 2))


def image_scores(pred: np.ndarray, hr: np.ndarray) -> dict[str, float]:
    """PSNR/SSIM (mmagic, crop 8), LPIPS and the two sharpness ratios of one prediction against its HR face."""
    return {"psnr": psnr(pred, hr, CROP, "mmagic"), "ssim": ssim(pred, hr, CROP, "mmagic"), "lpips": lpips(pred, hr),
            "hf_ratio": hf_energy(pred) / hf_energy(hr), "lap_ratio": laplacian_energy(pred) / laplacian_energy(hr)}


# ------------------------------------------------------------------------------------------ evaluation
METRICS = ("psnr", "ssim", "lpips", "hf_ratio", "lap_ratio")


def held_out_faces(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(hr uint8 [n,128,128,3], lr uint8 [n,16,16,3])`` of the held-out seeds ``900000 .. 900000+n-1``."""
    hr, _ = render_faces(range(HELD_OUT_SEED_START, HELD_OUT_SEED_START + n))
    return hr, np.stack([downsample(h) for h in hr])


@torch.no_grad()
def evaluate(model: torch.nn.Module, hr_u8: np.ndarray, lr_u8: np.ndarray, batch: int = 16) -> dict:
    """Per-step, per-face metrics of ``model``: ``{"per_face": {metric: [steps][faces]}, "mean": {metric: [steps]},
    "spectrum_last": mean windowed spectrum of the last step}``."""
    was_training = model.training
    model.eval()
    steps, n = model.num_steps, len(hr_u8)
    vals = {m: np.zeros((steps, n)) for m in METRICS}
    spec = np.zeros(0)
    for a in range(0, n, batch):
        idx = range(a, min(a + batch, n))
        out = model(normalize(lr_u8[a:a + len(idx)]))
        for t in range(steps):
            sr = denormalize(out.sr[t])
            for j, i in enumerate(idx):
                for m, v in image_scores(sr[j], hr_u8[i]).items():
                    vals[m][t, i] = v
                if t == steps - 1:
                    p = windowed_spectrum(sr[j])[1]
                    spec = p if not spec.size else spec + p
    model.train(was_training)
    return {"per_face": {m: v.tolist() for m, v in vals.items()},
            "mean": {m: v.mean(1).tolist() for m, v in vals.items()},
            "spectrum_last": (spec / n).tolist()}


def reference_scores(hr_u8: np.ndarray, lr_u8: np.ndarray) -> dict:
    """Bicubic per-face metrics and the mean spectra of HR and bicubic."""
    vals: dict[str, list[float]] = {m: [] for m in METRICS}
    spec_hr, spec_bic = np.zeros(0), np.zeros(0)
    for hr, lr in zip(hr_u8, lr_u8):
        up = bicubic_upsample(lr).astype(np.float64)
        for m, v in image_scores(up, hr).items():
            vals[m].append(v)
        f, ph = windowed_spectrum(hr)
        pb = windowed_spectrum(up)[1]
        spec_hr = ph if not spec_hr.size else spec_hr + ph
        spec_bic = pb if not spec_bic.size else spec_bic + pb
    n = len(hr_u8)
    return {"per_face": vals, "mean": {m: float(np.mean(v)) for m, v in vals.items()},
            "frequency": f.tolist(), "spectrum_hr": (spec_hr / n).tolist(), "spectrum_bicubic": (spec_bic / n).tolist()}


def _paired(d: np.ndarray) -> dict:
    return {"mean": float(d.mean()), "std_err": float(d.std(ddof=1) / np.sqrt(len(d))),
            "frac_positive": float((d > 0).mean())}


# ------------------------------------------------------------------------------------------- the run
def overrides(train_config: dict) -> dict:
    """The settings in which a run's stored config differs from its named config (its ``--set`` options);
    settings added after the run was made read as their defaults, run-only settings are ignored."""
    stored = config_to_dict(config_from_dict(train_config))
    named = config_to_dict(get_config(train_config["name"]))
    return {k: v for k, v in stored.items() if k not in RUN_ONLY_KEYS and v != named.get(k)}


def _set_value(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(_set_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def train_command(train_config: dict) -> str:
    """The ``dicmini train`` command of a run: its named config and one ``--set`` per changed setting."""
    sets = [f"--set {shlex.quote(f'{k}={_set_value(v)}')}" for k, v in overrides(train_config).items()]
    return " ".join([f"dicmini train --config {train_config['name']}", *sets])


def log_curve(run: Path) -> dict:
    """The run's log as a curve: ``train`` (the logged losses, D's loss, learning rate and elapsed seconds every
    ``log_every`` iterations) and ``val`` (per-step PSNR/SSIM/NME on the validation faces every ``val_every``)."""
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    train = [{k: v for k, v in r.items() if k != "type"} for r in records if r.get("type") == "train"]
    val = [{k: r[k] for k in ("step", "psnr", "ssim", "nme", "num_images")} for r in records if r.get("type") == "val"]
    return {"train": train, "val": val}


def _seconds_per_iteration(train: list[dict], first: int, last: int) -> float | None:
    """Mean seconds per iteration between the logged iterations nearest ``first`` (at or below) and ``last``."""
    at = {r["step"]: r["elapsed_s"] for r in train if "elapsed_s" in r}
    lo = max((s for s in at if s <= first), default=None)
    hi = max((s for s in at if s <= last), default=None)
    return None if lo is None or hi is None or hi <= lo else round((at[hi] - at[lo]) / (hi - lo), 3)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, default=ROOT / "runs" / "tiny-dicgan",
                    help="a `dicmini train --config tiny-dicgan` folder")
    ap.add_argument("--checkpoint", default="last.pt", help="checkpoint of the run to evaluate (and ship)")
    ap.add_argument("--eval-n", type=int, default=100, help="held-out faces of the evaluation")
    ap.add_argument("--json", type=Path, default=ARTIFACTS / "dicgan_tiny.json")
    ap.add_argument("--ship", action="store_true", help="also write the generator to --ship-to")
    ap.add_argument("--ship-to", type=Path, default=ARTIFACTS / "dicgan_tiny.pt")
    return ap


def main(argv: list[str]) -> dict:
    args = build_parser().parse_args(argv)
    threads = os.environ.get("OMP_NUM_THREADS")
    command = (f"OMP_NUM_THREADS={threads} " if threads else "") + shlex.join(
        ["python", "benchmarks/dicgan_finetune.py", *argv])
    state = read_training_checkpoint(args.run / args.checkpoint)
    cfg = dict(state["train_config"])
    if cfg["task"] != "dicgan" or not cfg["init_generator"] or cfg["data"] != "synthetic":
        raise SystemExit(f"{args.run}: expected a DICGAN fine-tune on synthetic faces (task dicgan, init_generator "
                         f"set, data synthetic); got task {cfg['task']!r}, init_generator {cfg['init_generator']!r}, "
                         f"data {cfg['data']!r}")
    gen = load_pretrained(args.run / args.checkpoint)
    start = load_pretrained(cfg["init_generator"])
    start_path = PRETRAINED_NAMES.get(cfg["init_generator"], Path(cfg["init_generator"]))
    start_command = read_checkpoint(start_path).get("command", "")

    t0 = time.time()
    hr_u8, lr_u8 = held_out_faces(args.eval_n)
    ref, before, after = reference_scores(hr_u8, lr_u8), evaluate(start, hr_u8, lr_u8), evaluate(gen, hr_u8, lr_u8)
    eval_s = time.time() - t0

    curve = log_curve(args.run)
    val_set = SyntheticFaces(cfg["val_size"], held_out=True, sigma=cfg["heatmap_sigma"])
    v0 = validation_metrics(start, val_set, protocol=cfg["protocol"], crop_border=cfg["crop_border"],
                            batch_size=min(cfg["batch_size"], 8), bicubic=False)
    curve["val"].insert(0, {"step": 0, "psnr": v0.psnr, "ssim": v0.ssim, "nme": v0.nme, "num_images": v0.num_images,
                            "note": "the starting generator, measured by this script"})
    step = int(state["step"])
    logged = [r for r in curve["val"] if r["step"] == step]
    ours = float(np.mean(after["per_face"]["psnr"][-1][:cfg["val_size"]]))
    val_check = {"log_last_step_psnr": logged[-1]["psnr"][-1] if logged else None,
                 "recomputed_last_step_psnr": ours, "num_images": cfg["val_size"]}
    if logged and args.eval_n >= cfg["val_size"] and abs(ours - logged[-1]["psnr"][-1]) > 1e-3:
        raise SystemExit(f"{args.run / args.checkpoint}: last-step PSNR {ours:.4f} dB on the {cfg['val_size']} "
                         f"validation faces differs from the log's {logged[-1]['psnr'][-1]:.4f} dB at iteration {step}")

    made_by = train_command(cfg)
    last = {name: {m: np.asarray(ev["per_face"][m][-1]) for m in METRICS} for name, ev in (("dic", before),
                                                                                            ("dicgan", after))}
    feature = cfg["feature_net"] if cfg["feature_weight"] > 0 else "none"
    result = {
        "what": f"DICGAN fine-tune of {cfg['init_generator']!r} ({start_command or start_path}) on synthetic faces",
        "train_command": f"{made_by} --out {args.run}",
        "command": command,
        "run": str(args.run), "checkpoint": args.checkpoint,
        "init_generator": {"name": cfg["init_generator"], "command": start_command},
        "overrides": overrides(cfg), "train_config": cfg,
        "recipe": {"generator_loss": "pixel_weight*sum_t L1(SR_t,HR) + align_weight*sum_t MSE(H_t,Hgt) "
                                     "+ gan_weight*BCEWithLogits(D(SR_last),1) "
                                     "[+ feature_weight*L1(F(SR_last),F(HR))]",
                   "discriminator_loss": "BCEWithLogits(D(HR),1) + BCEWithLogits(D(SR_last.detach()),0)",
                   "discriminator": f"dicmini.models.LightCNN(3), init {cfg['d_init']}",
                   "feature_net": feature, "feature_weight": cfg["feature_weight"], "gan_weight": cfg["gan_weight"],
                   "paper_gan_weight": PAPER_GAN_WEIGHT, "paper_feature_weight": PAPER_FEATURE_WEIGHT,
                   "pixel_weight": cfg["pixel_weight"], "align_weight": cfg["align_weight"],
                   "align_kind": cfg["align_kind"], "heatmap_sigma": cfg["heatmap_sigma"], "g_lr": cfg["lr"],
                   "d_lr": cfg["d_lr"], "batch": cfg["batch_size"], "disc_repeat": cfg["disc_repeat"],
                   "d_warmup_iterations": cfg["d_warmup"]},
        "iterations": step, "gan_iterations": step - cfg["d_warmup"],
        "train_minutes": round(training_minutes(args.run), 2),
        "seconds_per_gan_iteration": _seconds_per_iteration(curve["train"], cfg["d_warmup"], step),
        "eval_seconds": round(eval_s, 1), "threads": torch.get_num_threads(), "torch": str(torch.__version__),
        "python": platform.python_version(), "machine": platform.machine(), "git": git_state(),
        "eval": {"num_images": args.eval_n, "seeds": [HELD_OUT_SEED_START, HELD_OUT_SEED_START + args.eval_n - 1],
                 "protocol": "mmagic (RGB, float pred = denormalize(sr), uint8 GT, crop 8)",
                 "lpips": "LPIPS v0.1 VGG (dicmini.metrics.lpips), whole 128x128 image, lower is better",
                 "sharpness": {"hf_ratio": f"sum of the Hann-windowed radial power spectrum of the gray 112x112 "
                                           f"centre crop over f > {HF_CUTOFF} cycles/pixel (LR Nyquist), SR / HR",
                               "lap_ratio": "mean squared 5-point Laplacian of the gray 112x112 centre crop, SR / HR"},
                 "dic_is": f"the starting generator (init_generator {cfg['init_generator']!r})",
                 "dicgan_is": f"{args.run / args.checkpoint} (the generator after iteration {step})",
                 "bicubic": ref["mean"], "dic": before["mean"], "dicgan": after["mean"],
                 "per_face": {"bicubic": ref["per_face"], "dic_last": {m: v.tolist() for m, v in last["dic"].items()},
                              "dicgan_last": {m: v.tolist() for m, v in last["dicgan"].items()}},
                 "paired_dicgan_minus_dic_last": {m: _paired(last["dicgan"][m] - last["dic"][m]) for m in METRICS},
                 "spectrum": {"frequency": ref["frequency"], "hr": ref["spectrum_hr"],
                              "bicubic": ref["spectrum_bicubic"], "dic": before["spectrum_last"],
                              "dicgan": after["spectrum_last"]},
                 "val_check": val_check},
        "curve": curve,
    }
    atomic_write(args.json, lambda p: p.write_text(json.dumps(result, indent=1) + "\n"))
    if args.ship:
        save_dicmini_checkpoint(args.ship_to, gen, train_config=cfg, command=made_by,
                                metrics={"held_out": {k: result["eval"][k] for k in ("num_images", "seeds", "protocol",
                                                                                     "bicubic", "dic", "dicgan")}},
                                iterations=step, train_minutes=result["train_minutes"],
                                torch_version=str(torch.__version__))
    print(f"{made_by}: {step} iterations ({step - cfg['d_warmup']} G/D), {result['train_minutes']:.1f} training "
          f"minutes; last step, mean over {args.eval_n} held-out faces:", flush=True)
    for name in ("bicubic", "dic", "dicgan"):
        vals = {k: (v[-1] if isinstance(v, list) else v) for k, v in result["eval"][name].items()}
        print(f"  {name:8s} " + "  ".join(f"{k} {v:.4f}" for k, v in vals.items()), flush=True)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
