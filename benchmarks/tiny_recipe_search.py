"""Lean experiment loop for finding the CPU ``tiny`` DIC recipe (issue item "Quality bar").

One run = one recipe trained for a number of iterations or minutes on 2 CPU threads; every
``--eval-every`` iterations the model is evaluated on a fixed probe set of held-out synthetic faces
(seeds >= 900,000): per-step PSNR (mmagic protocol: RGB, float prediction, crop 8), its gain over PIL
bicubic, and per-step landmark NME. Records go to ``benchmarks/results/tiny_search/<name>.jsonl``.

Training faces are rendered once into an in-memory pool (cached as ``.npz`` under ``--cache``) so that
rendering does not count against the training time; heatmaps are made per batch.

Examples::

    python benchmarks/tiny_recipe_search.py --name s3_up4 --steps 3 --up 4 --minutes 8
    python benchmarks/tiny_recipe_search.py --name warm --lr 2e-3 --sched cosine --warmup 100 --minutes 8
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from dicmini.data.degrade import bicubic_upsample, denormalize, downsample, normalize
from dicmini.data.landmarks import heatmaps_to_landmarks, landmarks_to_heatmaps
from dicmini.data.synthetic import HELD_OUT_SEED_START, render_face
from dicmini.losses import alignment_loss, pixel_loss
from dicmini.metrics import nme, psnr, ssim
from dicmini.models import DICNet

RESULTS = Path(__file__).resolve().parent / "results" / "tiny_search"


# ----------------------------------------------------------------------------------------------- data
def face_pool(n: int, first_seed: int, cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` rendered faces ``(hr uint8 [n,128,128,3], landmarks float32 [n,68,2])`` from ``first_seed``."""
    path = cache / f"faces_{first_seed}_{n}.npz" if cache else None
    if path is not None and path.exists():
        data = np.load(path)
        return data["hr"], data["landmarks"]
    hrs, pts = [], []
    for s in range(first_seed, first_seed + n):
        img, p = render_face(s, size=128)
        hrs.append(img)
        pts.append(p)
    hr, lm = np.stack(hrs), np.stack(pts).astype(np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, hr=hr, landmarks=lm)
        os.replace(tmp, path)
    return hr, lm


class Pool:
    """In-memory training/probe tensors built from rendered faces."""

    def __init__(self, hr_u8: np.ndarray, landmarks: np.ndarray) -> None:
        self.hr_u8 = hr_u8
        self.lr_u8 = np.stack([downsample(h) for h in hr_u8])
        self.hr = normalize(hr_u8)            # [N,3,128,128]
        self.lr = normalize(self.lr_u8)       # [N,3,16,16]
        self.landmarks = torch.from_numpy(landmarks)

    def __len__(self) -> int:
        return len(self.hr_u8)

    def batch(self, idx: np.ndarray, sigma: float = 1.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(idx)
        heat = landmarks_to_heatmaps(self.landmarks[idx], image_size=128, heatmap_size=32, sigma=sigma)
        return self.lr[idx], self.hr[idx], heat


# ---------------------------------------------------------------------------------------------- model
def _kaiming(module: torch.nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            torch.nn.init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)


def init_model(model: DICNet, scheme: str, tail_scale: float = 1.0, res_scale: float = 1.0) -> None:
    """Initialise ``model`` in place.

    * ``kaiming``: the official init (kaiming_normal fan_in, a=0, zero bias) on every conv/deconv;
    * ``default``: PyTorch's constructor init everywhere (MMagic);
    * ``kaiming_sr``: Kaiming on the SR branch, PyTorch default on the landmark branch (the official recipe
      never trains a Kaiming-initialised hourglass: it loads a pretrained one);
    * ``kaiming_sr_nofusion``: as ``kaiming_sr`` and PyTorch default in the attentive fusion too.

    ``tail_scale`` multiplies the last reconstruction conv (0 = start exactly at the bilinear skip);
    ``res_scale`` multiplies the last conv of every residual branch (hourglass ResBlocks and the fusion's
    GroupResBlocks; 0 = residual blocks start as identities).
    """
    if scheme == "kaiming":
        _kaiming(model)
    elif scheme in ("kaiming_sr", "kaiming_sr_nofusion"):
        saved = {k: v.clone() for k, v in model.state_dict().items()}
        _kaiming(model)
        keep = ["landmark_estimator."] + (["attention_block.fusion."] if scheme == "kaiming_sr_nofusion" else [])
        with torch.no_grad():
            for k, v in model.state_dict().items():
                if any(k.startswith(p) for p in keep):
                    v.copy_(saved[k])
    elif scheme != "default":
        raise ValueError(scheme)
    from dicmini.models.fusion import GroupResBlock
    from dicmini.models.hourglass import ResBlock
    with torch.no_grad():
        if tail_scale != 1.0:
            model.reconstruction[-1].weight.mul_(tail_scale)
        if res_scale != 1.0:
            for m in model.modules():
                if isinstance(m, GroupResBlock):
                    m.res[2].weight.mul_(res_scale)
                elif isinstance(m, ResBlock):
                    m.conv_block[3].weight.mul_(res_scale)


def lr_factor(it: int, args: argparse.Namespace, total: int, elapsed: float = 0.0) -> float:
    warm = min(1.0, (it + 1) / args.warmup) if args.warmup > 0 else 1.0
    p = min(1.0, elapsed / (60.0 * args.minutes)) if args.time_sched else min(1.0, it / max(1, total))
    if args.sched == "const":
        f = 1.0
    elif args.sched == "cosine":
        f = args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p))
    elif args.sched == "multistep":
        pos = 1000 * p if args.time_sched else it
        f = args.gamma ** sum(pos >= m for m in args.milestones)
    else:
        raise ValueError(args.sched)
    return warm * f


# ----------------------------------------------------------------------------------------------- eval
@torch.no_grad()
def evaluate(model: DICNet, probe: Pool, bicubic_psnr: list[float], batch: int = 16,
             with_ssim: bool = False) -> dict:
    model.eval()
    steps = model.num_steps
    ps = np.zeros((steps, len(probe)))
    ss = np.zeros((steps, len(probe)))
    nm = np.zeros((steps, len(probe)))
    for a in range(0, len(probe), batch):
        idx = np.arange(a, min(a + batch, len(probe)))
        out = model(probe.lr[idx])
        for t in range(steps):
            sr = denormalize(out.sr[t])
            for j, i in enumerate(idx):
                ps[t, i] = psnr(sr[j], probe.hr_u8[i], 8, "mmagic")
                if with_ssim:
                    ss[t, i] = ssim(sr[j], probe.hr_u8[i], 8, "mmagic")
            pred = heatmaps_to_landmarks(out.heatmaps[t], image_size=128)
            nm[t, idx] = nme(pred, probe.landmarks[idx])
    model.train()
    bic = float(np.mean(bicubic_psnr))
    res = {"psnr": ps.mean(1).tolist(), "bicubic_psnr": bic, "gain_db": (ps.mean(1) - bic).tolist(),
           "nme": nm.mean(1).tolist()}
    if with_ssim:
        res["ssim"] = ss.mean(1).tolist()
    return res


def bicubic_scores(probe: Pool) -> tuple[list[float], list[float]]:
    p, s = [], []
    for i in range(len(probe)):
        up = bicubic_upsample(probe.lr_u8[i])
        p.append(psnr(up, probe.hr_u8[i], 8, "mmagic"))
        s.append(ssim(up, probe.hr_u8[i], 8, "mmagic"))
    return p, s


# ------------------------------------------------------------------------------------------------ run
def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--mid", type=int, default=16)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--hg", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--up", type=int, default=4, help="projection units' internal upscale factor")
    ap.add_argument("--fusion-blocks", type=int, default=7)
    ap.add_argument("--fusion", default="attention")
    ap.add_argument("--detach-attention", action="store_true")
    ap.add_argument("--prelu", type=float, default=0.2)
    ap.add_argument("--init", default="kaiming", choices=["kaiming", "default", "kaiming_sr", "kaiming_sr_nofusion"])
    ap.add_argument("--res-scale", type=float, default=1.0)
    ap.add_argument("--tail-scale", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--sched", default="const", choices=["const", "cosine", "multistep"])
    ap.add_argument("--warmup", type=int, default=0)
    ap.add_argument("--min-lr-frac", type=float, default=0.05)
    ap.add_argument("--milestones", type=int, nargs="*", default=[])
    ap.add_argument("--gamma", type=float, default=0.5)
    ap.add_argument("--grad-clip", type=float, default=0.0)
    ap.add_argument("--align-weight", type=float, default=0.1)
    ap.add_argument("--align-kind", default="mse")
    ap.add_argument("--hg-warmup", type=int, default=0, help="iterations training the hourglass alone on GT HR")
    ap.add_argument("--hg-init", default="",
                    help="initialise the landmark branch from this dicmini-hourglass checkpoint (the official recipe "
                         "starts DIC from a pretrained hourglass, docs/reference_implementations.md#recipes)")
    ap.add_argument("--hg-only", action="store_true",
                    help="train the landmark branch alone on GT HR images (one step) and log its probe NME")
    ap.add_argument("--hg-lr-mult", type=float, default=1.0, help="learning-rate multiplier of the landmark branch")
    ap.add_argument("--sigma", type=float, default=1.0, help="Gaussian sigma of the training heatmaps")
    ap.add_argument("--iters", type=int, default=100000)
    ap.add_argument("--minutes", type=float, default=10.0, help="wall-clock limit of the training loop")
    ap.add_argument("--sched-iters", type=int, default=0,
                    help="iterations the cosine schedule spans (default: --iters)")
    ap.add_argument("--time-sched", action="store_true",
                    help="cosine/multistep progress = elapsed / --minutes instead of iterations (milestones then "
                         "are fractions x1000 of the budget)")
    ap.add_argument("--pool", type=int, default=4000)
    ap.add_argument("--probe", type=int, default=64)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default="/tmp/dicmini_tiny_cache")
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--save", default="", help="write the final model here (dicmini checkpoint)")
    return ap


def train(args: argparse.Namespace) -> tuple[DICNet, list[dict]]:
    """Train one recipe; returns the model and every log record (config, train, eval, final)."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    cache = Path(args.cache) if args.cache else None
    t0 = time.time()
    train = Pool(*face_pool(args.pool, 0, cache))
    probe = Pool(*face_pool(args.probe, HELD_OUT_SEED_START, cache))
    bic_p, _ = bicubic_scores(probe)
    data_s = time.time() - t0

    model = DICNet(mid_channels=args.mid, num_blocks=args.blocks, hg_mid_channels=args.hg, num_steps=args.steps,
                   upscale_factor=args.up, prelu_init=args.prelu, num_fusion_blocks=args.fusion_blocks,
                   fusion=args.fusion, detach_attention=args.detach_attention)
    init_model(model, args.init, args.tail_scale, args.res_scale)
    if args.hg_init:
        hg_state = torch.load(args.hg_init, map_location="cpu", weights_only=True)["model"]
        model.landmark_estimator.load_state_dict(hg_state)
    nparams = sum(p.numel() for p in model.parameters())
    hg_ids = {id(p) for p in model.landmark_estimator.parameters()}
    groups = [{"params": [p for p in model.parameters() if id(p) not in hg_ids], "mult": 1.0},
              {"params": list(model.landmark_estimator.parameters()), "mult": args.hg_lr_mult}]
    opt = torch.optim.Adam(groups, lr=args.lr)
    total = args.sched_iters or args.iters

    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = out_dir / f"{args.name}.jsonl"
    log = log_path.open("w")
    records: list[dict] = []

    def write(rec: dict) -> None:
        records.append(rec)
        log.write(json.dumps(rec) + "\n")
        log.flush()

    write({"type": "config", **vars(args), "params": nparams, "data_s": round(data_s, 1),
           "torch": torch.__version__, "threads": torch.get_num_threads()})
    print(f"[{args.name}] params {nparams:,}, data {data_s:.1f}s, bicubic probe {np.mean(bic_p):.3f} dB", flush=True)

    # optional hourglass-only warm-up on GT HR images
    if args.hg_warmup:
        hg = model.landmark_estimator
        hopt = torch.optim.Adam(hg.parameters(), lr=args.lr)
        for it in range(args.hg_warmup):
            idx = rng.integers(0, len(train), args.batch)
            _, hr, heat = train.batch(idx)
            heats, hidden = [], None
            for _ in range(args.steps):
                h, hidden = hg(hr, hidden)
                heats.append(h)
            loss = alignment_loss(heats, heat, args.align_kind, 1.0)
            hopt.zero_grad()
            loss.backward()
            hopt.step()
        write({"type": "hg_warmup", "iters": args.hg_warmup, "loss": float(loss.detach()),
               "s": round(time.time() - t0, 1)})

    ev = evaluate(model, probe, bic_p)
    write({"type": "eval", "it": 0, "s": 0.0, **ev})
    start = time.time()
    it = 0
    run_loss = 0.0
    run_n = 0
    perm = rng.permutation(len(train))
    pos = 0
    while it < args.iters and time.time() - start < 60 * args.minutes:
        if pos + args.batch > len(perm):
            perm, pos = rng.permutation(len(train)), 0
        idx = perm[pos:pos + args.batch]
        pos += args.batch
        lr_t, hr_t, heat_t = train.batch(idx, args.sigma)
        f = lr_factor(it, args, total, time.time() - start)
        for g in opt.param_groups:
            g["lr"] = args.lr * f * g["mult"]
        if args.hg_only:
            heats = [model.landmark_estimator(hr_t)[0]]
            loss = ali = alignment_loss(heats, heat_t, args.align_kind, args.align_weight)
            pix = torch.zeros(())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            it += 1
            run_loss += float(loss.detach())
            run_n += 1
            if it % 50 == 0:
                write({"type": "train", "it": it, "s": round(time.time() - start, 1), "loss": run_loss / run_n})
                run_loss, run_n = 0.0, 0
            if it % args.eval_every == 0:
                with torch.no_grad():
                    model.eval()
                    h = model.landmark_estimator(probe.hr)[0]
                    model.train()
                n_hr = float(np.mean(nme(heatmaps_to_landmarks(h, image_size=128), probe.landmarks)))
                write({"type": "hg_eval", "it": it, "s": round(time.time() - start, 1), "nme_hr": n_hr})
                print(f"[{args.name}] it {it} nme_hr {n_hr:.3f}", flush=True)
            continue
        out = model(lr_t)
        pix = pixel_loss(out.sr, hr_t)
        ali = alignment_loss(out.heatmaps, heat_t, args.align_kind, args.align_weight)
        loss = pix + ali
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        it += 1
        run_loss += float(loss.detach())
        run_n += 1
        if it % 50 == 0:
            write({"type": "train", "it": it, "s": round(time.time() - start, 1), "loss": run_loss / run_n,
                   "pix": float(pix.detach()), "align": float(ali.detach()), "lr": args.lr * f})
            run_loss, run_n = 0.0, 0
        if it % args.eval_every == 0:
            el = time.time() - start
            ev = evaluate(model, probe, bic_p)
            write({"type": "eval", "it": it, "s": round(el, 1), **ev})
            print(f"[{args.name}] it {it} {el / 60:.1f} min gain {['%.3f' % g for g in ev['gain_db']]} "
                  f"nme {['%.3f' % n for n in ev['nme']]}", flush=True)
    el = time.time() - start
    ev = evaluate(model, probe, bic_p, with_ssim=True)
    final = {"type": "final", "it": it, "s": round(el, 1), "s_per_it": round(el / max(it, 1), 3), **ev}
    write(final)
    print(f"[{args.name}] FINAL it {it} {el / 60:.1f} min ({el / max(it, 1):.3f} s/it) gain "
          f"{['%.3f' % g for g in ev['gain_db']]} nme {['%.3f' % n for n in ev['nme']]}", flush=True)
    log.close()
    if args.save:
        from dicmini.models.convert import save_dicmini_checkpoint
        save_dicmini_checkpoint(args.save, model, recipe=vars(args), metrics=final)
    return model, records


def main(argv: list[str] | None = None) -> dict:
    _, records = train(build_parser().parse_args(argv))
    return records[-1]


if __name__ == "__main__":
    main(sys.argv[1:])
