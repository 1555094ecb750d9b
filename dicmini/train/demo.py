"""``dicmini demo``: the tiny DIC on held-out synthetic faces — a figure and a metrics table.

The figure shows, for each face, the 16x16 input, the PIL-bicubic x8 baseline, the SR image of every
recurrent step and the 128x128 ground truth; the table gives per-step PSNR/SSIM (named protocol) and
landmark NME next to the bicubic baseline (:func:`dicmini.train.evaluate.evaluate`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from ..data.datasets import SyntheticFaces
from ..data.degrade import bicubic_upsample, denormalize, to_uint8
from ..models.convert import PRETRAINED_NAMES, load_pretrained
from ..utils import atomic_write, pick_device
from .evaluate import EvalResult, evaluate
from .log import json_safe


class TinyCheckpointMissing(FileNotFoundError):
    """The packaged tiny checkpoint is not installed."""


def load_tiny() -> nn.Module:
    """The packaged tiny DICNet (``load_pretrained("tiny")``), or a one-line :class:`TinyCheckpointMissing`."""
    path = PRETRAINED_NAMES["tiny"]
    if not path.is_file():
        raise TinyCheckpointMissing(f"the tiny checkpoint {path} is absent; train one on CPU with "
                                    "`dicmini demo --train 10` (minutes of training)")
    return load_pretrained("tiny")


#: seconds per ``tiny`` training iteration measured on 2 CPU cores (benchmarks/results/quality_bar.json)
TINY_SECONDS_PER_ITERATION = 0.5


def train_tiny(out_dir: Path, minutes: float, progress: bool = True) -> Path:
    """Train the ``tiny`` config on synthetic faces for at most ``minutes``; returns its ``last.pt``.

    The cosine schedule is laid over the iterations that fit in ``minutes`` at the measured CPU speed
    (:data:`TINY_SECONDS_PER_ITERATION`), so a short run still decays its learning rate; the time limit
    stops a slower machine early. The landmark-branch pre-training stage of the full recipe is skipped (it alone
    takes about half an hour): the branch learns jointly from the start, at the full learning rate."""
    from .config import apply_overrides, get_config
    from .trainer import Trainer

    iterations = max(50, int(minutes * 60 / TINY_SECONDS_PER_ITERATION))
    config = apply_overrides(get_config("tiny"), {"time_limit_minutes": float(minutes), "progress": progress,
                                                   "iterations": min(iterations, get_config("tiny").iterations),
                                                   "hourglass_stage": "", "hourglass_lr_scale": 1.0})
    Trainer(config, out_dir).fit()
    return out_dir / "last.pt"


@torch.no_grad()
def render_figure(model: nn.Module, dataset: SyntheticFaces, n_faces: int, path: Path) -> Path:
    """Write a PNG grid, one row per face: LR | bicubic | step 1 ... step T | HR (matplotlib Agg)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    device = next(model.parameters()).device
    samples = [dataset[i] for i in range(min(n_faces, len(dataset)))]
    lr = torch.stack([s["lr"] for s in samples])
    was_training = model.training
    model.eval()
    try:
        steps = [to_uint8(denormalize(sr.float())) for sr in model(lr.to(device)).sr]
    finally:
        model.train(was_training)
    lr_u8 = to_uint8(denormalize(lr))
    hr_u8 = to_uint8(denormalize(torch.stack([s["hr"] for s in samples])))
    titles = ["LR 16x16", "bicubic x8"] + [f"step {t + 1}" for t in range(len(steps))] + ["HR"]
    rows, cols = len(samples), len(titles)
    fig = Figure(figsize=(1.4 * cols, 1.4 * rows + 0.3), dpi=100)
    FigureCanvasAgg(fig)
    for r in range(rows):
        scale = hr_u8.shape[1] // lr_u8.shape[1]
        images = [lr_u8[r], bicubic_upsample(lr_u8[r], scale)] + [s[r] for s in steps] + [hr_u8[r]]
        for c, image in enumerate(images):
            ax = fig.add_subplot(rows, cols, r * cols + c + 1)
            ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c], fontsize=8)
    fig.tight_layout()
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))


def run_demo(out_dir: str | os.PathLike = "runs/demo", *, train_minutes: float | None = None, n_faces: int = 8,
             n_eval: int = 32, protocol: str = "mmagic", device: str | None = None,
             progress: bool = True, report: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Load (or, with ``train_minutes``, first train) the tiny DIC, evaluate it on ``n_eval`` held-out synthetic
    faces and write ``figure.png``, ``metrics.md`` and ``metrics.json`` to ``out_dir``. Returns their paths,
    the checkpoint used and the :class:`EvalResult`. ``progress``: progress bars (training, evaluation) on
    stderr; ``report``: called with a line before each stage."""
    say = report or (lambda message: None)
    out = Path(out_dir)
    if n_faces < 1 or n_eval < 1:
        raise ValueError(f"--faces / --n: expected positive numbers, got {n_faces} / {n_eval}")
    if train_minutes is not None:
        if not 0 < train_minutes < 24 * 60:
            raise ValueError(f"--train: expected a positive number of minutes (at most a day), got {train_minutes}")
        say(f"training the tiny DIC for {train_minutes:g} min into {out / 'train'}")
        checkpoint = str(train_tiny(out / "train", train_minutes, progress))
        model = load_pretrained(checkpoint)
    else:
        checkpoint = str(PRETRAINED_NAMES["tiny"])
        model = load_tiny()
    model = model.to(pick_device(device))
    faces = SyntheticFaces(max(n_eval, n_faces), first_seed=0, held_out=True)
    say(f"evaluating {n_eval} held-out synthetic faces (protocol {protocol})")
    result: EvalResult = evaluate(model, faces, protocol=protocol, limit=n_eval, progress=progress)
    say(f"drawing {min(n_faces, len(faces))} faces into {out / 'figure.png'}")
    figure = render_figure(model, faces, n_faces, out / "figure.png")
    header = (f"# dicmini demo: tiny DIC on {result.num_images} held-out synthetic faces\n\n"
              f"checkpoint: `{checkpoint}`\n\n")
    table = atomic_write(out / "metrics.md", lambda tmp: tmp.write_text(header + result.markdown() + "\n"))
    payload = {"checkpoint": checkpoint, **result.to_dict()}
    text = json.dumps(json_safe(payload), indent=2) + "\n"
    data = atomic_write(out / "metrics.json", lambda tmp: tmp.write_text(text))
    return {"figure": figure, "table": table, "json": data, "checkpoint": checkpoint, "result": result}


__all__ = ["TinyCheckpointMissing", "load_tiny", "render_figure", "run_demo", "train_tiny"]
