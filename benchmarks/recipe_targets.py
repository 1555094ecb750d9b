"""Score DIC checkpoints against the collaboration goals of the tiny recipe (:data:`dicmini.analysis.TARGETS`).

For each checkpoint: the guidance experiment (:func:`dicmini.analysis.guidance_experiment`, modes own / other /
truth / none) on held-out synthetic faces, its per-step NME, and the goals passed or failed. Ground-truth maps use
the checkpoint's training ``heatmap_sigma`` (its stored train config; 1 when it has none). One JSON line per
checkpoint is appended to ``--out``; a table is printed.

    python benchmarks/recipe_targets.py --checkpoint runs/tiny/last.pt tiny \
        --out benchmarks/results/recipe_targets.jsonl

About a minute per checkpoint on one thread for 200 faces.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import torch

from dicmini import analysis
from dicmini.data.datasets import SyntheticFaces
from dicmini.models import load_pretrained
from dicmini.models.convert import PRETRAINED_NAMES


def score(checkpoint: str, faces: analysis.FaceSet, label: str = "") -> dict:
    start = time.perf_counter()
    model = load_pretrained(checkpoint)
    sigma = analysis.training_sigma(checkpoint)
    result = analysis.guidance_experiment(model, faces, modes=("own", "other", "truth", "none"), sigma=sigma)
    targets = analysis.collaboration_targets(result)
    path = PRETRAINED_NAMES.get(checkpoint, Path(checkpoint))
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return {"checkpoint": checkpoint, "checkpoint_sha256": digest, "label": label, "sigma": sigma, **targets,
            "psnr_steps": result.psnr["own"].mean(axis=1).tolist(),
            "own_minus_none_db": result.versus("own", "none").mean,
            "per_face": {"names": list(faces.names), "bicubic_psnr": result.bicubic_psnr.tolist(),
                         **{f"{m}_last_psnr": result.psnr[m][-1].tolist() for m in result.psnr},
                         "own_nme": result.nme["own"].tolist()},
            "seconds": round(time.perf_counter() - start, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", nargs="+", required=True, help="DIC checkpoints (files, or 'tiny')")
    p.add_argument("--label", default="", help="a note stored with every line (the recipe variant)")
    p.add_argument("--faces", type=int, default=200, help="held-out synthetic faces (seeds from 900,000)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, help="append one JSON line per checkpoint here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    faces = analysis.collect_faces(SyntheticFaces(args.faces, held_out=True))
    print("| checkpoint | gain dB | NME per step | drop | improved | own-other dB | truth-own dB | own-none dB |")
    print("|---|---|---|---|---|---|---|---|")
    for checkpoint in args.checkpoint:
        row = score(checkpoint, faces, args.label)
        v, ok, se = row["values"], row["passed"], row["std_err"]
        mark = {k: "" if ok[k] else " ✗" for k in ok}
        print(f"| {checkpoint} | {v['gain_db']:+.2f}{mark['gain_db']} | "
              f"{' → '.join(f'{100 * x:.1f}' for x in v['nme_steps'])} %{mark['nme_last']}{mark['no_collapse']} | "
              f"{100 * v['nme_relative_drop']:.0f} %{mark['nme_relative_drop']} | "
              f"{100 * v['frac_nme_improved']:.0f} %{mark['frac_nme_improved']} | "
              f"{v['own_minus_other_db']:+.3f} ± {se['own_minus_other_db']:.3f}{mark['own_minus_other_db']} | "
              f"{v['truth_minus_own_db']:+.3f} ± {se['truth_minus_own_db']:.3f}{mark['truth_minus_own_db']} | "
              f"{row['own_minus_none_db']:+.3f} |", flush=True)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with open(args.out, "a") as handle:
                handle.write(json.dumps({"command": " ".join(["python benchmarks/recipe_targets.py",
                                                              *(argv if argv is not None else sys.argv[1:])]),
                                         **row}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
