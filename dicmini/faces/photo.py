"""``dicmini sr-photo``: super-resolve the faces of a photograph with DIC and paste them back.

For each face the HOG detector finds (all of them, or only the best with ``best_only``):

1. its 68 landmarks give the square crop of :mod:`dicmini.faces.crop` (the rule the training faces were
   prepared with: side 1.6 x the landmarks' extent, centred between eyes and mouth);
2. the crop is brought to 16 x 16 with PIL bicubic -- the way DIC's LR inputs are made. A crop of exactly
   16 px is taken as it is, a smaller one is upsampled (it then holds less than a 16 px face's detail);
3. DIC maps the 16 x 16 face to 128 x 128 (:func:`dicmini.super_resolve`: the last step's image, rounded);
4. the 128 px face is resized (PIL bicubic) to the crop's size in the output photo and blended in with a
   feathered square mask (linear ramps over ``feather`` x the side on each edge), so the seam fades.

``zoom`` (an integer) scales the whole output photo with PIL bicubic first: a face crop of ``s`` px is
pasted at ``s x zoom`` px, so ``zoom = 128 / s`` shows the SR face at full resolution (a 16 px face needs
``--zoom 8``; at ``zoom = 1`` a crop larger than 128 px shows an upsampled SR face, and a smaller one a
downsampled one).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .crop import CROP_SCALE, CropBox, extract, face_box, resize

LR_SIZE = 16
SR_SIZE = 128


class NoFaceFound(Exception):
    """The detector found no face in the photo."""


@dataclass
class PhotoFace:
    """One super-resolved face: the detector's box and score, the crop box in the input photo, the 16 x 16
    input and the 128 x 128 output of DIC."""

    detector_box: tuple[int, int, int, int]
    score: float
    box: CropBox
    lr: np.ndarray
    sr: np.ndarray


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


def sr_photo(image: np.ndarray, model, *, upsample: int = 1, best_only: bool = False, zoom: int = 1,
             scale: float = CROP_SCALE, feather: float = 0.15, device=None) -> tuple[np.ndarray, list[PhotoFace]]:
    """Super-resolve every face of a uint8 RGB photo (module docstring). ``model``: a DICNet or anything
    :func:`dicmini.train.inference.load_model` accepts. Returns ``(output photo, faces)``; the output is
    ``zoom`` times the input's size. Raises :class:`NoFaceFound` when no face is found."""
    from ..train.inference import super_resolve
    from .detect import as_rgb, detect_faces

    img = as_rgb(image)
    if int(zoom) != zoom or zoom < 1:
        raise ValueError(f"zoom: expected a whole number >= 1, got {zoom}")
    zoom = int(zoom)
    faces = detect_faces(img, upsample)
    if not faces:
        raise NoFaceFound(f"no face found (HOG detector, upsample <= {upsample}; try --upsample 2 for faces "
                          f"smaller than ~40 px)")
    if best_only:
        faces = faces[:1]
    boxes = [face_box(f.landmarks, scale) for f in faces]
    lr = np.stack([resize(extract(img, b), LR_SIZE) for b in boxes])
    sr = super_resolve(lr, model, device=device)
    h, w = img.shape[:2]
    out = img.copy() if zoom == 1 else np.array(Image.fromarray(img).resize((w * zoom, h * zoom), Image.BICUBIC))
    out = np.ascontiguousarray(out)
    results = []
    for face, box, lr_i, sr_i in zip(faces, boxes, lr, sr):
        side = box.side * zoom
        patch = resize(sr_i, side).astype(np.float64)
        paste(out, patch, box.left * zoom, box.top * zoom, feather_mask(side, feather))
        results.append(PhotoFace(face.box, face.score, box, lr_i, sr_i))
    return out, results


def sr_photo_file(in_path: str | os.PathLike, out_path: str | os.PathLike, checkpoint, *,
                  faces_dir: str | os.PathLike | None = None, **kwargs) -> list[PhotoFace]:
    """Read a photo, :func:`sr_photo` it, write the result (format from ``out_path``'s suffix) and, with
    ``faces_dir``, each face's ``faceN_lr.png``, ``faceN_bicubic.png`` and ``faceN_sr.png``."""
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
    out, faces = sr_photo(image, model, **kwargs)
    atomic_write(out_path, lambda tmp: Image.fromarray(out).save(tmp, format=fmt))
    if faces_dir is not None:
        d = Path(faces_dir)
        refuse_overwriting([d / f"face{i}_{t}.png" for i in range(len(faces)) for t in ("lr", "bicubic", "sr")],
                           [in_path, out_path], "--faces-dir")
        for i, f in enumerate(faces):
            for tag, arr in (("lr", f.lr), ("bicubic", bicubic_upsample(f.lr)), ("sr", f.sr)):
                atomic_write(d / f"face{i}_{tag}.png", lambda tmp, a=arr: Image.fromarray(a).save(tmp, format="PNG"))
    return faces
