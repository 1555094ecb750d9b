"""``dicmini sr-photo``: what a x8 face model can honestly do with a photograph.

The model super-resolves **16 x 16 faces** to 128 x 128. A photo's faces are used in one of two ways:

* **small faces** (dlib's box at most ``max_face`` px, :data:`SMALL_FACE_MAX` by default) are what the model is
  for: :func:`sr_photo` crops each with the crop rule, brings the crop to 16 x 16 (PIL bicubic; a crop of
  ``s`` px loses a factor ``s / 16`` of detail, so the threshold keeps that small), super-resolves it and pastes
  the result back. Larger faces are left untouched and reported: shrinking a 300 px face to 16 px and pasting
  the SR back would make the photo *worse*.
* **simulation** (``--simulate``): :func:`simulate` takes the larger faces, makes the 128 px HR crop (the crop
  rule), shrinks it to 16 px as DIC's LR inputs are made, and returns a side-by-side figure per face
  (LR | bicubic | SR | original) -- a demonstration of x8 recovery, never a degraded photo.

The detector runs once at ``upsample`` (1: faces from ~40 px, 2: ~20 px, 3: ~10 px), so small faces are not
hidden by large ones. Detections scoring below ``min_score`` (:data:`dicmini.faces.detect.MIN_SCORE`) are
skipped: badges and patterns score low. Every skipped detection is returned with its reason.

Pasting: the 128 px face is resized (PIL bicubic) to the crop's size in the output photo and blended in with a
feathered square mask (linear ramps over ``feather`` x the side on each edge). ``zoom`` (an integer) scales the
whole output photo with PIL bicubic first: a face crop of ``s`` px is pasted at ``s x zoom`` px, so ``zoom =
128 / s`` shows the SR face at full resolution.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.crop import CROP_SCALE, CropBox, extract, face_box, resize

LR_SIZE = 16
SR_SIZE = 128
#: faces whose detector box is at most this many pixels are "small": super-resolved and pasted back (their
#: crop, ~1.6x the box, is then at most ~38 px, brought to 16 px); larger ones only with ``--simulate``
SMALL_FACE_MAX = 24


class NoFaceFound(Exception):
    """The detector found no face in the photo."""


@dataclass
class PhotoFace:
    """One super-resolved face: the detector's box and score, the crop box in the input photo, the 16 x 16
    input, the 128 x 128 output of DIC and, when simulated, the 128 x 128 original crop."""

    detector_box: tuple[int, int, int, int]
    score: float
    box: CropBox
    lr: np.ndarray
    sr: np.ndarray
    hr: np.ndarray | None = None


@dataclass
class Skipped:
    """A detection that was not super-resolved, and why."""

    detector_box: tuple[int, int, int, int]
    score: float
    reason: str


def face_size(box: tuple[int, int, int, int]) -> int:
    """Side of a dlib box ``(left, top, right, bottom)`` (inclusive) in pixels: the larger of width and height."""
    left, top, right, bottom = box
    return max(right - left + 1, bottom - top + 1)


def feather_mask(side: int, feather: float = 0.15) -> np.ndarray:
    """``side x side`` float mask in [0, 1]: 1 inside, linear ramps over ``feather x side`` px at each edge
    (the product of two 1-D ramps, so corners fade smoothly)."""
    if not 0 <= feather <= 0.5:
        raise ValueError(f"feather: expected a fraction in [0, 0.5], got {feather}")
    ramp_px = feather * side
    d = np.minimum(np.arange(side) + 0.5, side - 0.5 - np.arange(side))  # distance to the nearest edge
    ramp = np.ones(side) if ramp_px <= 0 else np.clip(d / ramp_px, 0.0, 1.0)
    return np.outer(ramp, ramp)


def paste(canvas: np.ndarray, patch: np.ndarray, left: int, top: int, mask: np.ndarray) -> None:
    """Blend a square ``patch`` into ``canvas`` (in place) at ``(left, top)`` with weights ``mask``;
    the parts outside the canvas are dropped."""
    h, w = canvas.shape[:2]
    n = patch.shape[0]
    x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + n, w), min(top + n, h)
    if x0 >= x1 or y0 >= y1:
        return
    sub = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
    m = mask[sub][:, :, None]
    region = canvas[y0:y1, x0:x1].astype(np.float64)
    canvas[y0:y1, x0:x1] = np.clip(np.rint(m * patch[sub] + (1.0 - m) * region), 0, 255).astype(np.uint8)


def _select(faces: list, min_score: float, max_face: int, small: bool) -> tuple[list, list[Skipped]]:
    """The detections to use (small faces, or with ``small=False`` the larger ones) and the others' reasons."""
    kept, skipped = [], []
    for f in faces:
        size = face_size(f.box)
        if f.score < min_score:
            reason = f"detector score {f.score:.2f} < --min-score {min_score:g} (badges and patterns score low)"
        elif small and size > max_face:
            reason = (f"{size} px face > --max-face {max_face}: the model super-resolves 16-px faces; --simulate "
                      "shows what it does with this one shrunk to 16 px")
        elif not small and size <= max_face:
            reason = f"{size} px face <= --max-face {max_face}: already small, super-resolve it without --simulate"
        else:
            kept.append(f)
            continue
        skipped.append(Skipped(f.box, f.score, reason))
    return kept, skipped


def _detect(img: np.ndarray, upsample: int, best_only: bool, min_score: float, max_face: int,
            small: bool) -> tuple[list, list[Skipped]]:
    from .detect import detect_faces

    faces = detect_faces(img, upsample, stop_early=False)  # every face of the level, small ones too
    if not faces:
        raise NoFaceFound(f"no face found (HOG detector, upsample <= {upsample}; faces smaller than ~40 px need "
                          f"--upsample 2 (~20 px) or 3 (~10 px))")
    kept, skipped = _select(faces, min_score, max_face, small)
    if best_only and len(kept) > 1:
        skipped += [Skipped(f.box, f.score, "--best-only") for f in kept[1:]]
        kept = kept[:1]
    return kept, skipped


def sr_photo(image: np.ndarray, model, *, upsample: int = 1, best_only: bool = False, zoom: int = 1,
             scale: float = CROP_SCALE, feather: float = 0.15, min_score: float | None = None,
             max_face: int = SMALL_FACE_MAX, device=None, flip: bool = False, consistent: bool = False,
             dlib_guidance: bool = False, sigma: float = 1.0) -> tuple[np.ndarray, list[PhotoFace], list[Skipped]]:
    """Super-resolve the **small** faces of a uint8 RGB photo and paste them back (module docstring).
    ``model``: a DICNet or anything :func:`dicmini.train.inference.load_model` accepts. Returns ``(output photo,
    faces, skipped)``; the output is ``zoom`` times the input's size and equals the (zoomed) input where no face
    was used. Raises :class:`NoFaceFound` when the detector finds nothing. ``flip``: the flip ensemble
    (:mod:`dicmini.models.flip_ensemble`); ``consistent``: each SR face's bicubic x1/8 is its 16-px face
    (:mod:`dicmini.models.consistency`); ``dlib_guidance``: steps 2..T guided by the landmarks dlib finds on the
    model's SR face (:mod:`dicmini.faces.guidance`; heatmaps of ``sigma``, the model's training sigma)."""
    from .detect import MIN_SCORE, as_rgb

    img = as_rgb(image)
    if int(zoom) != zoom or zoom < 1:
        raise ValueError(f"zoom: expected a whole number >= 1, got {zoom}")
    zoom = int(zoom)
    faces, skipped = _detect(img, upsample, best_only, MIN_SCORE if min_score is None else min_score, max_face,
                             small=True)
    h, w = img.shape[:2]
    out = img.copy() if zoom == 1 else np.array(Image.fromarray(img).resize((w * zoom, h * zoom), Image.BICUBIC))
    out = np.ascontiguousarray(out)
    if not faces:
        return out, [], skipped
    boxes = [face_box(f.landmarks, scale) for f in faces]
    lr = np.stack([resize(extract(img, b), LR_SIZE) for b in boxes])
    sr = _super_resolve(lr, model, device, flip, consistent, dlib_guidance, sigma)
    results = []
    for face, box, lr_i, sr_i in zip(faces, boxes, lr, sr):
        side = box.side * zoom
        patch = resize(sr_i, side).astype(np.float64)
        paste(out, patch, box.left * zoom, box.top * zoom, feather_mask(side, feather))
        results.append(PhotoFace(face.box, face.score, box, lr_i, sr_i))
    return out, results, skipped


def _super_resolve(lr: np.ndarray, model, device, flip: bool, consistent: bool, dlib_guidance: bool,
                   sigma: float) -> np.ndarray:
    """:func:`~dicmini.train.inference.super_resolve` of the 16-px faces ``lr`` with the test-time options."""
    from ..data.degrade import normalize
    from ..train.inference import load_model, super_resolve

    points = None
    if dlib_guidance:
        from .guidance import detected_landmarks

        model = load_model(model, device)
        points = detected_landmarks(model, normalize(lr).to(next(model.parameters()).device))
    return super_resolve(lr, model, device=device, flip=flip, consistent=consistent, guide_points=points,
                         sigma=sigma)


def simulate(image: np.ndarray, model, *, upsample: int = 1, best_only: bool = False, scale: float = CROP_SCALE,
             min_score: float | None = None, max_face: int = SMALL_FACE_MAX,
             device=None, flip: bool = False, consistent: bool = False, dlib_guidance: bool = False,
             sigma: float = 1.0) -> tuple[np.ndarray | None, list[PhotoFace], list[Skipped]]:
    """The x8 demonstration on the faces larger than ``max_face``: HR crop (crop rule, 128 px) -> PIL bicubic
    16 px -> SR. Returns ``(figure, faces, skipped)``: the figure (:func:`side_by_side`, None without a face)
    and each face with ``hr`` set; the photo itself is never returned degraded. ``flip``: the flip ensemble;
    ``consistent``: each SR face made consistent with its 16-px face (exact here: the LR is PIL bicubic x1/8);
    ``dlib_guidance``, ``sigma``: as for :func:`sr_photo`."""
    from ..data.degrade import downsample
    from ..data.crop import crop_with_landmarks
    from .detect import MIN_SCORE, as_rgb

    img = as_rgb(image)
    faces, skipped = _detect(img, upsample, best_only, MIN_SCORE if min_score is None else min_score, max_face,
                             small=False)
    if not faces:
        return None, [], skipped
    crops = [crop_with_landmarks(img, f.landmarks, SR_SIZE, scale) for f in faces]
    hr = np.stack([c[0] for c in crops])
    lr = np.stack([downsample(h, SR_SIZE // LR_SIZE) for h in hr])
    sr = _super_resolve(lr, model, device, flip, consistent, dlib_guidance, sigma)
    results = [PhotoFace(f.box, f.score, c[2], lr_i, sr_i, hr_i)
               for f, c, lr_i, sr_i, hr_i in zip(faces, crops, lr, sr, hr)]
    return side_by_side(results, flip=flip, consistent=consistent, dlib=dlib_guidance), results, skipped


def side_by_side(faces: list[PhotoFace], gap: int = 4, flip: bool = False, consistent: bool = False,
                 dlib: bool = False) -> np.ndarray:
    """One row per simulated face: LR 16 px (shown 8x, nearest) | bicubic x8 | DIC SR | original 128 px crop,
    with a header and each row's PSNR (MMagic protocol) of bicubic and SR against the original; ``flip``,
    ``consistent`` and ``dlib``: the SR column's header names the test-time options that made it."""
    from PIL import ImageDraw

    from ..data.degrade import bicubic_upsample
    from ..metrics import psnr

    header, label = 14, 12
    options = "+".join(name for name, on in (("flip", flip), ("cons", consistent), ("dlib", dlib)) if on)
    cols = ("LR 16 px", "bicubic x8", "DIC SR x8" + (f" ({options})" if options else ""), "original")
    width = 4 * SR_SIZE + 5 * gap
    height = header + len(faces) * (SR_SIZE + label + gap) + gap
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for j, name in enumerate(cols):
        draw.text((gap + j * (SR_SIZE + gap) + 2, 2), name, fill=(0, 0, 0))
    for i, f in enumerate(faces):
        bic = bicubic_upsample(f.lr, SR_SIZE // LR_SIZE)
        tiles = (np.repeat(np.repeat(f.lr, SR_SIZE // LR_SIZE, 0), SR_SIZE // LR_SIZE, 1), bic, f.sr, f.hr)
        y = header + i * (SR_SIZE + label + gap)
        for j, tile in enumerate(tiles):
            canvas.paste(Image.fromarray(np.asarray(tile, dtype=np.uint8)), (gap + j * (SR_SIZE + gap), y))
        draw.text((gap + 2, y + SR_SIZE), f"face {i}: {face_size(f.detector_box)} px, score {f.score:.2f}; PSNR "
                  f"bicubic {psnr(bic, f.hr):.2f} dB, SR {psnr(f.sr, f.hr):.2f} dB", fill=(0, 0, 0))
    return np.asarray(canvas)


def sr_photo_file(in_path: str | os.PathLike, out_path: str | os.PathLike, checkpoint, *, simulate_faces: bool = False,
                  faces_dir: str | os.PathLike | None = None, **kwargs) -> tuple[list[PhotoFace], list[Skipped]]:
    """Read a photo; :func:`sr_photo` it (or with ``simulate_faces`` :func:`simulate` it) and write the photo (or
    the side-by-side figure) to ``out_path`` (format from its suffix) -- nothing when no face was used. With
    ``faces_dir`` also each face's ``faceN_lr.png``, ``faceN_bicubic.png``, ``faceN_sr.png`` (and ``faceN_hr.png``
    when simulated). Returns ``(faces, skipped)``."""
    from ..data.degrade import bicubic_upsample
    from ..train.inference import load_model
    from ..utils import atomic_write, parse_device, refuse_overwriting
    from .detect import import_dlib, read_photo

    refuse_overwriting([out_path], [in_path], "OUT")
    if kwargs.get("device"):
        parse_device(kwargs["device"])
    import_dlib()  # the one-line hint before anything else when the extra is missing
    out_path = os.fspath(out_path)
    fmt = Image.registered_extensions().get(os.path.splitext(out_path)[1].lower())
    if fmt is None:
        raise ValueError(f"{out_path}: unknown image format; use .png or .jpg")
    image = read_photo(in_path)
    model = load_model(checkpoint, kwargs.get("device"))
    if kwargs.get("dlib_guidance") and "sigma" not in kwargs and isinstance(checkpoint, (str, os.PathLike)):
        from ..analysis import training_sigma

        kwargs["sigma"] = training_sigma(os.fspath(checkpoint))
    out, faces, skipped = (simulate if simulate_faces else sr_photo)(image, model, **kwargs)
    if not faces:
        return faces, skipped
    atomic_write(out_path, lambda tmp: Image.fromarray(out).save(tmp, format=fmt))
    if faces_dir is not None:
        d = Path(faces_dir)
        tags = ("lr", "bicubic", "sr") + (("hr",) if simulate_faces else ())
        refuse_overwriting([d / f"face{i}_{t}.png" for i in range(len(faces)) for t in tags],
                           [in_path, out_path], "--faces-dir")
        for i, f in enumerate(faces):
            for tag, arr in (("lr", f.lr), ("bicubic", bicubic_upsample(f.lr)), ("sr", f.sr), ("hr", f.hr)):
                if tag in tags:
                    atomic_write(d / f"face{i}_{tag}.png",
                                 lambda tmp, a=arr: Image.fromarray(a).save(tmp, format="PNG"))
    return faces, skipped
