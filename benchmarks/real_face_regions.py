"""Real faces: where in the face the SR error is, region by region, against bicubic.

For each checkpoint, every face of the real-face benchmark (the faces and crops of
``benchmarks/real_faces_eval.py``) is super-resolved from its 16-px input, and the squared error of the last step
and of bicubic is summed (RGB, 8-px border cropped, as the mmagic protocol) over six regions drawn from the face's
68 reference landmarks: the eyes, the brows, the nose, the lips (each the convex hull of its points, dilated by
2 px, in that order of precedence), the rest of the landmark hull ("skin") and everything else (hair,
background, clothes). The ratio SR / bicubic of a region says whether the model helps there (< 1) or paints
something worse than blur (> 1). Optionally (``--no-prior``) steps 2..T are also run with all-zero guidance.

Usage (needs ``pip install -e ".[faces]"`` and the fetched photos; about 40 s per checkpoint on one core)::

    OMP_NUM_THREADS=1 python benchmarks/real_face_regions.py --no-prior \\
        --checkpoint shipped=runs/levers2/shipped.pt --checkpoint shipped_soft=runs/levers2/shipped_soft/last.pt \\
        --checkpoint shipped_all5=runs/levers2/shipped_all5/last.pt \\
        --out benchmarks/results/real_face_levers/regions.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from dicmini.data.degrade import bicubic_upsample, denormalize, downsample, normalize
from dicmini.utils import atomic_write

#: the component regions, in order of precedence (a pixel belongs to the first region that covers it)
REGIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "eyes": (tuple(range(36, 42)), tuple(range(42, 48))),
    "brows": (tuple(range(17, 22)), tuple(range(22, 27))),
    "nose": (tuple(range(27, 36)),),
    "lips": (tuple(range(48, 60)),),
}
#: all the regions a pixel can fall in
ALL_REGIONS = (*REGIONS, "skin", "outside")
DILATE_PX = 2
CROP_BORDER = 8


def region_masks(points: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Boolean ``size x size`` masks of :data:`ALL_REGIONS` from 68 landmarks; they partition the image."""
    hull = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    taken = np.zeros((size, size), bool)
    kernel = np.ones((2 * DILATE_PX + 1, 2 * DILATE_PX + 1), np.uint8)
    masks: dict[str, np.ndarray] = {}
    for name, groups in REGIONS.items():
        mask = np.zeros((size, size), np.uint8)
        for group in groups:
            cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points[list(group)]).astype(np.int32)), 1)
        region = cv2.dilate(mask, kernel).astype(bool) & ~taken
        masks[name] = region
        taken |= region
    masks["skin"] = hull.astype(bool) & ~taken
    masks["outside"] = ~hull.astype(bool) & ~taken
    return masks


def region_errors(model: torch.nn.Module, faces: list[tuple[np.ndarray, np.ndarray]],
                  guidances: tuple[str, ...] = ("own",)) -> dict[str, dict[str, dict[str, float]]]:
    """Per guidance (``own``: the model's own landmarks; ``none``: steps 2..T guided by all-zero maps) and region:
    the summed squared error (grey levels^2, RGB) of bicubic and of the last step, and the pixels. Each face's
    input, bicubic image, masks and own run are made once for all guidances."""
    sums = {g: {name: {"bicubic_sse": 0.0, "sr_sse": 0.0, "pixels": 0} for name in ALL_REGIONS} for g in guidances}
    b = CROP_BORDER
    for hr, points in faces:
        lr = downsample(hr, 8)
        truth = hr.astype(np.float64)
        err_b = ((bicubic_upsample(lr, 8).astype(np.float64) - truth) ** 2).sum(axis=2)[b:-b, b:-b]
        x = normalize(lr)[None]
        with torch.no_grad():
            own = model(x)
            outs = {"own": own}
            if "none" in guidances:
                outs["none"] = model(x, guidance=torch.zeros_like(own.heatmaps[0]))
        masks = {name: mask[b:-b, b:-b] for name, mask in region_masks(points, hr.shape[0]).items()}
        for g in guidances:
            sr = np.clip(denormalize(outs[g].sr[-1].float())[0], 0.0, 255.0)
            err_s = ((sr - truth) ** 2).sum(axis=2)[b:-b, b:-b]
            for name, m in masks.items():
                sums[g][name]["bicubic_sse"] += float(err_b[m].sum())
                sums[g][name]["sr_sse"] += float(err_s[m].sum())
                sums[g][name]["pixels"] += int(m.sum())
    return sums


def summarise(sums: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Ratios and shares of bicubic's error per region, and the whole image's gain in dB."""
    total_b = sum(s["bicubic_sse"] for s in sums.values())
    total_s = sum(s["sr_sse"] for s in sums.values())
    pixels = sum(s["pixels"] for s in sums.values())
    return {
        "gain_db_pooled": 10 * math.log10(total_b / total_s),
        "regions": {name: {**s, "ratio": s["sr_sse"] / s["bicubic_sse"],
                           "share_of_bicubic": s["bicubic_sse"] / total_b, "area": s["pixels"] / pixels}
                    for name, s in sums.items()}}


def benchmark_faces() -> list[tuple[np.ndarray, np.ndarray]]:
    """The 128-px HR crops and reference landmarks of the real-face benchmark (the faces of real_faces_eval)."""
    from dicmini.faces.benchmark_photos import benchmark_faces as photo_faces

    return [(face.hr, face.reference) for photo in photo_faces() for face in photo.faces]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", action="append", required=True, metavar="NAME=PATH",
                        help="a checkpoint to score, named (repeatable)")
    parser.add_argument("--no-prior", action="store_true", help="also run steps 2..T with all-zero guidance")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    from dicmini.models.convert import load_pretrained

    named = []
    for spec in args.checkpoint:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"real_face_regions: --checkpoint {spec!r}: expected NAME=PATH")
        named.append((name, path))
    faces = benchmark_faces()
    results: dict[str, Any] = {}
    for name, path in named:
        model = load_pretrained(path).eval()
        sums = region_errors(model, faces, ("own", "none") if args.no_prior else ("own",))
        results[name] = {"checkpoint": path, **{g: summarise(v) for g, v in sums.items()}}
        print(f"{name}: pooled gain {results[name]['own']['gain_db_pooled']:+.3f} dB; ratio SR / bicubic "
              + ", ".join(f"{r} {v['ratio']:.3f}" for r, v in results[name]["own"]["regions"].items()), flush=True)
    payload = {"what": __doc__.split("\n\n")[0], "faces": len(faces), "crop_border": CROP_BORDER,
               "command": "python benchmarks/real_face_regions.py " + " ".join(sys.argv[1:] if argv is None else argv),
               "checkpoints": results}
    text = json.dumps(payload, indent=1) + "\n"
    atomic_write(args.out, lambda tmp: tmp.write_text(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
