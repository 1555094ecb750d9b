"""``dicmini train | test | sr | demo`` (registered by :mod:`dicmini.cli`).

* ``dicmini train --config NAME [--set key=value ...] [--resume PATH] [--out DIR] [--overwrite]`` — also under
  ``torchrun --nproc_per_node N -m dicmini train ...`` (data-parallel, :mod:`dicmini.train.ddp`). One run per
  folder (:mod:`dicmini.train.runfolder`); ``--set`` on ``--resume`` is applied or refused
  (:mod:`dicmini.train.resume`); Ctrl-C writes ``last.pt``, prints the resume command and exits with 130.
* ``dicmini test --checkpoint PATH --data DIR|synthetic [--n N] --protocol mmagic|official|y``
* ``dicmini sr IN OUT --checkpoint PATH [--any-size]`` — one 16x16 image or a folder of them; never over IN.
* ``dicmini demo [--train MINUTES]`` — figure and metrics of the tiny model on held-out synthetic faces.

Errors a user can fix are raised as ``ValueError``/``OSError`` and printed by :func:`dicmini.cli.main` as one
line (exit status 2); a diverged training run prints one line and exits with status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shlex
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from ..metrics import PROTOCOLS
from .config import CONFIGS

if TYPE_CHECKING:
    from .trainer import Trainer

EXIT_DIVERGED = 1
EXIT_INTERRUPTED = 130


def _print_err(message: str) -> None:
    print(f"dicmini: {message}", file=sys.stderr)


def _show_progress(args: argparse.Namespace) -> bool:
    """Progress lines and bars go to stderr, on a terminal only, unless ``--quiet``."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def _progress(args: argparse.Namespace, message: str) -> None:
    if _show_progress(args):
        print(f"dicmini: {message}", file=sys.stderr, flush=True)


def _resume_command(checkpoint: Path) -> str:
    return f"dicmini train --resume {shlex.quote(str(checkpoint))}"


def run_train(args: argparse.Namespace) -> int:
    from . import ddp
    from .checkpoint import read_training_checkpoint
    from .config import apply_overrides, config_from_dict, config_to_dict, get_config
    from .runfolder import check_fresh_run, existing_run, lock_run_folder
    from .stages import run_hourglass_stage
    from .trainer import Trainer, TrainingDiverged

    overrides = list(args.overrides) + (["progress=false"] if args.quiet else [])
    checkpoint = None
    if args.resume:
        checkpoint = read_training_checkpoint(args.resume)
        config = config_from_dict(checkpoint["train_config"])
        if args.config and args.config != config.name:
            raise ValueError(f"--config {args.config}: the checkpoint {args.resume} belongs to a "
                             f"{config.name!r} run (leave --config out when resuming)")
        out = Path(args.out) if args.out else Path(args.resume).parent
    else:
        config = get_config(args.config or "tiny")
        out = Path(args.out) if args.out else Path("runs") / config.name
    config = apply_overrides(config, overrides)
    if args.print_config:
        print(json.dumps(config_to_dict(config), indent=2))
        return 0
    main_process = int(os.environ.get("RANK", "0")) == 0
    with lock_run_folder(out) if main_process else contextlib.nullcontext():
        if main_process:
            same_folder = args.resume and out.resolve() == Path(args.resume).resolve().parent
            if not same_folder:
                found = existing_run(out)
                check_fresh_run(out, args.overwrite, _resume_command(out / (found[0] if found else "last.pt")))
        try:
            if config.hourglass_stage and not args.resume:
                stage = run_hourglass_stage(config, out)
                if stage is not None and stage["stopped"] != "completed":
                    _print_err(f"the landmark-branch stage stopped at iteration {stage['step']} "
                               f"({stage['stopped']}); run the same command again to continue it")
                    return EXIT_INTERRUPTED
            trainer = Trainer(config, out, resume=args.resume, _checkpoint=checkpoint)
            if trainer.dist.is_main:
                _announce(trainer, args.resume)
            summary = trainer.fit()
        except TrainingDiverged as err:
            _print_err(f"error: {err}")
            return EXIT_DIVERGED
        finally:
            ddp.cleanup()
    if not trainer.dist.is_main:
        return EXIT_INTERRUPTED if summary["stopped"] == "interrupted" else 0
    best = summary["best"]
    best_text = (f"; best {best['metric']} {best['value']:.4f} at iteration {best['step']} ({out / 'best.pt'})"
                 if best else "")
    print(f"{config.name}: iteration {summary['step']}/{config.iterations} ({summary['stopped']}); "
          f"last checkpoint {summary['last_checkpoint']}{best_text}; log {out / 'log.jsonl'}")
    if summary["stopped"] == "interrupted":
        _print_err(f"interrupted at iteration {summary['step']}; {summary['last_checkpoint']} is written; "
                   f"continue with: {_resume_command(Path(summary['last_checkpoint']))}")
        return EXIT_INTERRUPTED
    return 0


def _announce(trainer: Trainer, resume: str | None) -> None:
    """Say where the run writes, and what a resume changed."""
    cfg = trainer.config
    start = f"resuming {resume} at iteration {trainer.step}" if resume else "training"
    print(f"{start}: {cfg.name} for {cfg.iterations} iterations on {trainer.device}; writing "
          f"{trainer.out_dir}/ (last.pt every {cfg.ckpt_every}, best.pt, log.jsonl)", flush=True)
    if trainer.resume_changes:
        print(f"resume: new {', '.join(f'{k}={getattr(cfg, k)}' for k in trainer.resume_changes)} applied to the "
              "optimiser and schedule (re-laid from iteration 0 as if the run had used them)", flush=True)


def _dataset(data: str, n: int | None):
    from ..data.datasets import FaceFolder, SyntheticFaces

    if data == "synthetic":
        return SyntheticFaces(n or 100, first_seed=0, held_out=True)
    return FaceFolder(data)


def run_test(args: argparse.Namespace) -> int:
    from ..utils import atomic_write, pick_device, refuse_overwriting
    from .evaluate import evaluate
    from .inference import load_model
    from .log import json_safe

    if args.n is not None and args.n < 1:
        raise ValueError(f"--n: expected a positive number of images, got {args.n}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size: expected a positive number, got {args.batch_size}")
    if not 0 <= args.crop_border < 64:
        raise ValueError(f"--crop-border: expected 0..63 pixels (of a 128-pixel face), got {args.crop_border}")
    if args.json:
        refuse_overwriting([args.json], [p for p in (args.checkpoint, args.data) if Path(p).is_file()], "--json")
    device = pick_device(args.device)
    _progress(args, f"loading {args.checkpoint} ...")
    model = load_model(args.checkpoint, device)
    dataset = _dataset(args.data, args.n)
    from ..identity import identity_available

    with_identity = not args.no_identity and identity_available()
    _progress(args, f"evaluating {min(len(dataset), args.n or len(dataset))} images on {device}"
              + (" (with the dlib identity distance)" if with_identity else ""))
    result = evaluate(model, dataset, protocol=args.protocol, crop_border=args.crop_border,
                      batch_size=args.batch_size, limit=args.n, identity=with_identity,
                      with_lpips=False if args.no_lpips else None, progress=_show_progress(args), flip=args.flip,
                      consistent=args.consistent)
    if not all(math.isfinite(v) for v in result.psnr):
        raise ValueError(f"{args.checkpoint}: the model's output is not finite (PSNR {result.psnr}); the weights "
                         "are unusable")
    print(f"checkpoint: {args.checkpoint}; data: {args.data}")
    print(result.markdown())
    if args.json:
        payload = {"checkpoint": str(args.checkpoint), "data": args.data, **result.to_dict()}
        atomic_write(args.json, lambda tmp: tmp.write_text(json.dumps(json_safe(payload), indent=2) + "\n"))
        print(f"wrote {args.json}")
    return 0


def run_sr(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from ..data.datasets import IMAGE_SUFFIXES
    from ..utils import atomic_write, pick_device, refuse_overwriting
    from .inference import LR_SIDE, load_model, read_lr_image, super_resolve

    src, dst = Path(args.input), Path(args.output)
    if src.is_dir():
        files = sorted(p for p in src.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"{src}: no images found (expected {', '.join(IMAGE_SUFFIXES)} files)")
        if dst.exists() and not dst.is_dir():
            raise ValueError(f"OUT {dst}: is a file; for a folder IN, OUT must be a folder")
        if dst.resolve() == src.resolve():
            raise ValueError(f"OUT {dst}: is the input folder; write the results to another folder")
        targets = [dst / f"{p.stem}.png" for p in files]
    elif src.is_file():
        files = [src]
        targets = [dst / f"{src.stem}.png" if dst.is_dir() else dst]
    else:
        raise FileNotFoundError(f"{src}: no such image or folder")
    refuse_overwriting(targets, files, "OUT")
    images = []
    jpegs = []
    for path in files:
        image, is_jpeg = read_lr_image(path)
        if image.shape[:2] != (LR_SIDE, LR_SIDE) and not args.any_size:
            h, w = image.shape[:2]
            raise ValueError(f"{path}: image is {w}x{h}; DIC super-resolves {LR_SIDE}x{LR_SIDE} faces x8 (this "
                             f"would give {w * 8}x{h * 8}); downscale it to {LR_SIDE}x{LR_SIDE} first, or pass "
                             "--any-size")
        images.append(image)
        if is_jpeg:
            jpegs.append(path.name)
    if jpegs:
        _print_err(f"warning: {len(jpegs)} JPEG input(s) (e.g. {jpegs[0]}): JPEG artefacts degrade DIC, which was "
                   "trained on lossless bicubic LR images; use PNG")
    model = load_model(args.checkpoint, pick_device(args.device))
    for image, target in zip(images, targets):
        try:
            sr = super_resolve(image, model, flip=args.flip, consistent=args.consistent)
        except ValueError as err:
            raise ValueError(f"{args.checkpoint}: {err}") from None
        atomic_write(target, lambda tmp, a=sr: Image.fromarray(np.asarray(a)).save(tmp, format="PNG"))
    where = targets[0] if len(targets) == 1 else dst
    how = "mean of the face's and its mirror image's last steps" if args.flip else "last recurrent step"
    if args.consistent:
        how += ", made consistent with the input"
    print(f"wrote {len(targets)} image(s) of {images[0].shape[1] * 8}x{images[0].shape[0] * 8} to {where} "
          f"({how}, checkpoint {args.checkpoint})")
    return 0


def run_demo_command(args: argparse.Namespace) -> int:
    from .demo import run_demo

    if _show_progress(args):
        _progress(args, f"the tiny DIC on held-out synthetic faces -> {args.out}/ (10-30 s on an idle 2-core CPU, "
                        "longer when busy)")
    result = run_demo(args.out, train_minutes=args.train, n_faces=args.faces, n_eval=args.n, protocol=args.protocol,
                      device=args.device, progress=_show_progress(args),
                      report=lambda message: _progress(args, message))
    print(result["result"].markdown())
    print(f"checkpoint: {result['checkpoint']}")
    print(f"figure:  {result['figure']}\ntable:   {result['table']}\nmetrics: {result['json']}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train``, ``test``, ``sr`` and ``demo`` to the ``dicmini`` command."""
    from .inference import CONSISTENT_HELP, FLIP_HELP

    protocols = sorted(PROTOCOLS)

    train = sub.add_parser("train", help="train DIC / DICGAN / the landmark branch from a named config",
                           description="Train from a named recipe (docs/reference_implementations.md#recipes). "
                                       "Configs: " + ", ".join(CONFIGS))
    train.add_argument("--config", help=f"named recipe ({', '.join(CONFIGS)}); default tiny, or the checkpoint's "
                                        "with --resume")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config field (repeatable), e.g. --set iterations=500 --set lr=2e-4")
    train.add_argument("--resume", metavar="PATH", help="continue a run exactly from its last.pt / best.pt")
    train.add_argument("--out", metavar="DIR", help="output folder (default runs/CONFIG, or the checkpoint's); "
                                                    "one run per folder: a folder holding a run is refused")
    train.add_argument("--overwrite", action="store_true",
                       help="replace the run already in the output folder (its last.pt, best.pt, log.jsonl)")
    train.add_argument("--quiet", action="store_true", help="no progress bar or validation lines")
    train.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")
    train.set_defaults(run=run_train)

    test = sub.add_parser("test", help="per-step PSNR/SSIM/LPIPS/NME of a checkpoint, with the bicubic baseline")
    test.add_argument("--checkpoint", required=True,
                      help="dicmini / MMagic / official DICNet checkpoint, or a packaged name: 'tiny' or 'tiny-real'")
    test.add_argument("--data", default="synthetic", help="a prepared face folder, or 'synthetic' (held-out faces)")
    test.add_argument("--n", type=int, help="number of images (synthetic default 100; folder default all)")
    test.add_argument("--protocol", choices=protocols, default="mmagic",
                      help="PSNR/SSIM protocol: " + "; ".join(f"{k}: {v}" for k, v in PROTOCOLS.items()))
    test.add_argument("--crop-border", type=int, default=8, help="pixels removed on each side (default 8)")
    test.add_argument("--batch-size", type=int, default=8)
    test.add_argument("--device", help="e.g. cpu, cuda, cuda:1 (default: CUDA if available, else CPU)")
    test.add_argument("--json", metavar="PATH", help="also write the metrics as JSON")
    test.add_argument("--quiet", action="store_true", help="no progress lines")
    test.add_argument("--no-identity", action="store_true",
                      help="skip the identity distance (reported by default when dicmini[faces] is installed)")
    test.add_argument("--no-lpips", action="store_true",
                      help="skip LPIPS (reported by default when `python -m dicmini.models.vgg_weights fetch` has run)")
    test.add_argument("--flip", action="store_true", help=FLIP_HELP)
    test.add_argument("--consistent", action="store_true", help=CONSISTENT_HELP)
    test.set_defaults(run=run_test)

    sr = sub.add_parser("sr", help="super-resolve a 16x16 face (or a folder of them) x8 with DIC")
    sr.add_argument("input", metavar="IN", help="a 16x16 face image (PNG) or a folder of them")
    sr.add_argument("output", metavar="OUT", help="output PNG, or a folder (for a folder IN; never IN itself)")
    sr.add_argument("--any-size", action="store_true",
                    help="accept inputs other than 16x16 (sides multiples of 8; the output is 8x larger)")
    sr.add_argument("--checkpoint", default="tiny",
                    help="DICNet checkpoint or packaged name: tiny (default) or tiny-real (fine-tuned for real photos)")
    sr.add_argument("--device", help="e.g. cpu, cuda (default: CUDA if available, else CPU)")
    sr.add_argument("--flip", action="store_true", help=FLIP_HELP)
    sr.add_argument("--consistent", action="store_true", help=CONSISTENT_HELP)
    sr.set_defaults(run=run_sr)

    demo = sub.add_parser("demo", help="the tiny DIC on held-out synthetic faces: figure + metrics table")
    demo.add_argument("--train", type=float, metavar="MINUTES",
                      help="first train the tiny config on CPU for this many minutes (else load the packaged one)")
    demo.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    demo.add_argument("--faces", type=int, default=8, help="faces in the figure (default 8)")
    demo.add_argument("--n", type=int, default=32, help="held-out faces for the metrics (default 32)")
    demo.add_argument("--protocol", choices=protocols, default="mmagic")
    demo.add_argument("--device")
    demo.add_argument("--quiet", action="store_true", help="no progress lines or bars")
    demo.set_defaults(run=run_demo_command)
