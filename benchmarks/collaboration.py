"""Does the iterative collaboration work in a trained DIC? Both causal experiments of :mod:`dicmini.analysis`.

* **landmarks -> image** (:func:`dicmini.analysis.guidance_experiment`): the recurrent steps re-run with the
  attention of steps 2..T from the model's own heatmaps, another face's, this face's ground truth, another
  face's ground truth, a mean template, or none; last-step PSNR per face and the paired contrasts.
* **image -> landmarks** (:func:`dicmini.analysis.landmark_probe`): an independent landmark estimator trained
  on HR faces only (``notebooks/artifacts/tiny_hourglass.pt``: ``dicmini train --config tiny-probe``, shipped by
  ``benchmarks/ship_probe.py``) reads bicubic, every step's SR and HR; per-face NME.

Writes ``notebooks/artifacts/collaboration.json`` (summaries and the per-face values they come from).
The committed file was made by (about 2 minutes on one CPU thread)::

    python benchmarks/collaboration.py

and a checkpoint of your own is measured with ``--checkpoint runs/tiny/best.pt --out /tmp/collab.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from dicmini import analysis
from dicmini.data.datasets import SyntheticFaces
from dicmini.models import load_pretrained
from dicmini.utils import atomic_write

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ship_probe import load_probe  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ESTIMATOR = ROOT / "notebooks" / "artifacts" / "tiny_hourglass.pt"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="tiny", help="a DIC checkpoint, or 'tiny' for the shipped one")
    p.add_argument("--faces", type=int, default=200, help="held-out synthetic faces (seeds from 900,000)")
    p.add_argument("--estimator", type=Path, default=ESTIMATOR)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=ROOT / "notebooks" / "artifacts" / "collaboration.json")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    model = load_pretrained(args.checkpoint)
    faces = analysis.collect_faces(SyntheticFaces(args.faces, held_out=True))
    sigma = analysis.training_sigma(args.checkpoint)
    guidance = analysis.guidance_experiment(model, faces, sigma=sigma)
    probe = analysis.landmark_probe(analysis.hourglass_estimator(load_probe(args.estimator)), model, faces)
    report = {
        "command": " ".join(["python benchmarks/collaboration.py", *(argv if argv is not None else sys.argv[1:])]),
        "checkpoint": args.checkpoint, "estimator": str(args.estimator.relative_to(ROOT)
                                                          if args.estimator.is_relative_to(ROOT) else args.estimator),
        "faces": {"count": len(faces), "first_seed": faces.names[0], "last_seed": faces.names[-1]},
        "truth_sigma": sigma,
        "guidance": {"summary": guidance.summary(),
                     "last_step_psnr_per_face": {m: v[-1].tolist() for m, v in guidance.psnr.items()}},
        "probe": {"summary": probe.summary(),
                  "nme_per_face": {s: row.tolist() for s, row in zip(probe.stages, probe.nme)}},
        "seconds": round(time.perf_counter() - start, 1),
    }
    text = json.dumps(report, indent=1) + "\n"
    atomic_write(args.out, lambda tmp: tmp.write_text(text))
    print(guidance.markdown(), "", probe.markdown(), sep="\n")
    print(f"wrote {args.out} ({report['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
