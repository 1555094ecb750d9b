"""Ship the independent landmark probe: a ``dicmini train --config tiny-probe`` run -> ``notebooks/artifacts``.

The probe is a feedback hourglass trained alone on sharp HR synthetic faces (stage 1's recipe of the tiny DIC
without the blurred copies, from another seed; ``dicmini/train/config.py``). It is never part of a DIC model, so
it can score how readable an image's landmarks are -- bicubic, every SR step, HR -- independently of the model
that made the image (:func:`dicmini.analysis.landmark_probe`; notebooks 03-05, ``benchmarks/collaboration.py``).

This script trains nothing. The committed files were made by (about 20 minutes on one CPU thread, then seconds)::

    OMP_NUM_THREADS=1 dicmini train --config tiny-probe --out runs/tiny-probe
    python benchmarks/ship_probe.py --run runs/tiny-probe

It writes

* ``notebooks/artifacts/tiny_hourglass.pt``: ``{"format": "dicmini-hourglass", "config": {"mid_channels",
  "num_keypoints"}, "model": state_dict, "train_config", "command", "iterations"}`` (``FeedbackHourglass(**config)``
  rebuilds it; ``train_config`` is the run's, so a test can check that it equals the named config);
* ``notebooks/artifacts/tiny_hourglass_curve.json``: the recipe, the learning curve from the run's log (mean
  alignment loss, summed over the passes, since the previous validation; validation NME on HR faces per pass) and
  the final NME per pass on ``--faces`` held-out faces, HR and bicubic x8.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from dicmini.data.datasets import SyntheticFaces
from dicmini.models import FeedbackHourglass
from dicmini.train.checkpoint import read_training_checkpoint
from dicmini.train.evaluate import evaluate_hourglass
from dicmini.utils import atomic_write

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "notebooks" / "artifacts"
FORMAT = "dicmini-hourglass"


def load_probe(path: str | Path) -> FeedbackHourglass:
    """The shipped probe (``tiny_hourglass.pt``) as an eval-mode :class:`FeedbackHourglass`."""
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise SystemExit(f"{path}: expected a '{FORMAT}' file written by benchmarks/ship_probe.py")
    hourglass = FeedbackHourglass(**ckpt["config"])
    hourglass.load_state_dict(ckpt["model"])
    return hourglass.eval()


def curve(records: list[dict]) -> list[dict]:
    """Validation points of a run log, each with the mean training loss since the previous point."""
    points, losses = [], []
    for r in records:
        if r.get("type") == "train":
            losses.append(r["align"])
        elif r.get("type") == "val":
            points.append({"iteration": r["step"], "loss": float(np.mean(losses)) if losses else None,
                           "nme_hr": r["nme"][0], "nme_hr_per_pass": r["nme"]})
            losses = []
    return points


def nme_per_pass(hourglass: FeedbackHourglass, faces: int, passes: int) -> dict[str, list[float]]:
    """NME of every pass on ``faces`` held-out HR faces and on their bicubic x8 upsamplings."""
    dataset = SyntheticFaces(faces, held_out=True)
    return {images: evaluate_hourglass(hourglass, dataset, passes, batch_size=faces, images=images).nme
            for images in ("hr", "bicubic")}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="a finished `dicmini train --config tiny-probe` run")
    ap.add_argument("--faces", type=int, default=64, help="held-out faces of the final NME (default 64)")
    ap.add_argument("--out-dir", type=Path, default=ARTIFACTS)
    args = ap.parse_args(argv)
    ckpt = read_training_checkpoint(args.run / "last.pt")
    config = ckpt["train_config"]
    if config.get("task") != "hourglass":
        raise SystemExit(f"{args.run / 'last.pt'}: expected a hourglass run (dicmini train --config tiny-probe), "
                         f"got task {config.get('task')!r}")
    arch = {"mid_channels": config["hg_mid_channels"], "num_keypoints": config["hg_num_keypoints"]}
    hourglass = FeedbackHourglass(**arch)
    hourglass.load_state_dict(ckpt["model"])
    hourglass.eval()
    final = nme_per_pass(hourglass, args.faces, config["num_steps"])
    command = f"dicmini train --config {config['name']}"
    records = [json.loads(line) for line in (args.run / "log.jsonl").open()]
    artifact = {"format": FORMAT, "config": arch, "model": hourglass.state_dict(), "train_config": config,
                "command": command, "iterations": ckpt["step"]}
    report = {
        "command": "python benchmarks/ship_probe.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "train_command": command,
        "recipe": {"iterations": ckpt["step"], "batch_size": config["batch_size"], "lr": config["lr"],
                   "lr_schedule": config["lr_schedule"], "passes": config["num_steps"],
                   "sigma": config["heatmap_sigma"], "train_faces": config["train_size"],
                   "eval_faces": config["val_size"], "seed": config["seed"]},
        "curve": curve(records),
        "final": {"faces": args.faces, "nme_hr_per_pass": final["hr"], "nme_bicubic_per_pass": final["bicubic"]},
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(args.out_dir / "tiny_hourglass.pt", lambda tmp: torch.save(artifact, tmp))
    atomic_write(args.out_dir / "tiny_hourglass_curve.json", lambda tmp: tmp.write_text(json.dumps(report, indent=1)
                                                                                        + "\n"))
    print(f"{command}: {ckpt['step']} iterations; NME per pass on {args.faces} held-out faces: HR "
          + " / ".join(f"{100 * v:.1f}" for v in final["hr"]) + " %, bicubic x8 "
          + " / ".join(f"{100 * v:.1f}" for v in final["bicubic"]) + " %")
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
