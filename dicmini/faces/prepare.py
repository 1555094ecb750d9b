"""Photos -> a prepared face folder (``dicmini data prepare``, ``data_scripts/prepare_faces.py``).

Two protocols (docs/reference_implementations.md, Data and degradation):

* ``crop`` (default; official DIC CelebA / Helen style): detect the face with dlib's HOG detector (the
  highest-scoring box; upsampling only when nothing is found, up to ``upsample`` times), predict its 68
  landmarks on the full-resolution photo, cut the square of :mod:`dicmini.data.crop` (side 1.6 x the
  landmarks' extent, centred between the eye centre and the mouth centre), resize it to ``size`` with PIL
  bicubic, and map the landmarks into the crop exactly.
* ``aligned`` (MMagic CelebA-HQ protocol): the image is already an aligned face: resize the whole (square)
  image to ``size`` with PIL bicubic and detect the landmarks **on the resized image**, as MMagic does with
  its landmark detector on the 128 px ground truth. No crop.

The output is the prepared-folder format of :mod:`dicmini.data.datasets` (``NAME.png`` per input
``NAME.*`` + ``landmarks.json``) plus:

* ``not_found.txt``: ``input-file<TAB>reason`` for every photo without a usable face (no face found,
  unreadable, not square for ``aligned``). Not fatal; re-runs skip these unless ``retry_not_found``.
* ``prepare.json``: the options that shape the images (protocol, size, scale, padding). Resuming a folder
  with different ones is refused, so a folder never mixes two crops.

Resumable like :func:`dicmini.data.face_folder.write_face_folder` (whose pieces it reuses): every PNG is
written atomically and its landmarks appended to ``landmarks.partial.jsonl`` at once, so a killed run
loses nothing and a re-run only does what is missing. ``workers > 1`` runs detection in worker processes.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..data.datasets import IMAGE_SUFFIXES as FOLDER_SUFFIXES
from ..data.datasets import LANDMARKS_FILE, read_landmarks_file
from ..data.face_folder import (PARTIAL_FILE, STALE_TEMP_AGE_S, read_partial, finish_landmarks, log_landmarks,
                                save_png)
from ..utils import atomic_write, refuse_overwriting, remove_stale_temp_files
from ..data.crop import CROP_SCALE, crop_with_landmarks, resize

PROTOCOLS = ("crop", "aligned")
#: photo formats looked for in the input folder
PHOTO_SUFFIXES = tuple(sorted(set(FOLDER_SUFFIXES) | {".ppm", ".pgm", ".tif", ".tiff", ".webp"}))
NOT_FOUND_FILE = "not_found.txt"
SETTINGS_FILE = "prepare.json"


@dataclass(frozen=True)
class PrepareOptions:
    """What a prepared folder is made with (``upsample`` only changes which faces are found)."""

    protocol: str = "crop"
    size: int = 128
    scale: float = CROP_SCALE
    pad_mode: str = "edge"
    upsample: int = 1

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol: expected one of {', '.join(PROTOCOLS)}, got {self.protocol!r}")
        if not 8 <= self.size <= 1024:
            raise ValueError(f"size: expected 8..1024, got {self.size}")
        if not 0 < self.scale <= 10:
            raise ValueError(f"scale: expected > 0 and <= 10, got {self.scale}")
        if self.pad_mode not in ("edge", "constant", "reflect"):
            raise ValueError(f"pad_mode: expected edge, constant or reflect, got {self.pad_mode!r}")
        if not 0 <= self.upsample <= 4:
            raise ValueError(f"upsample: expected 0..4, got {self.upsample}")

    def settings(self) -> dict:
        """The options recorded in ``prepare.json`` (those that shape the images)."""
        s = {"protocol": self.protocol, "size": self.size}
        if self.protocol == "crop":
            s.update(scale=self.scale, pad_mode=self.pad_mode)
        return s


@dataclass
class PrepareResult:
    """Outcome of :func:`prepare_folder`."""

    out_dir: Path
    prepared: list[str] = field(default_factory=list)  # output files written by this run
    already_done: int = 0  # outputs found from an earlier run
    not_found: dict[str, str] = field(default_factory=dict)  # input file -> reason (this and earlier runs)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return len(self.prepared) + self.already_done

    def summary(self) -> str:
        rate = f", {len(self.prepared) / self.seconds:.2f} img/s" if self.prepared and self.seconds > 0 else ""
        nf = (f"; {len(self.not_found)} without a usable face (listed in {self.out_dir / NOT_FOUND_FILE})"
              if self.not_found else "; no photo without a face")
        return (f"{self.out_dir}: {self.total} faces ({len(self.prepared)} prepared now, {self.already_done} "
                f"already done){nf}; {self.seconds:.1f} s{rate}")


# --------------------------------------------------------------------------------------------------
# one photo
# --------------------------------------------------------------------------------------------------
def prepare_image(image: np.ndarray, options: PrepareOptions = PrepareOptions()
                  ) -> tuple[np.ndarray, np.ndarray] | str:
    """One uint8 RGB photo -> ``(size x size crop, 68 x 2 landmarks in its pixels)``, or the reason
    (a string) why there is none."""
    from .detect import best_face

    if options.protocol == "aligned":
        h, w = image.shape[:2]
        if h != w:
            return f"not square ({w}x{h}): the aligned protocol needs square, already aligned faces"
        small = resize(image, options.size)
        face = best_face(small, options.upsample)
        if face is None:
            return f"no face found on the {options.size} px image (upsample <= {options.upsample})"
        return small, face.landmarks
    face = best_face(image, options.upsample)
    if face is None:
        return f"no face found (upsample <= {options.upsample})"
    crop, points, _ = crop_with_landmarks(image, face.landmarks, options.size, options.scale, options.pad_mode)
    return crop, points


def _work(task: tuple[str, str, str, PrepareOptions]) -> tuple[str, str, np.ndarray | None, np.ndarray | None, str]:
    """Worker: ``(input path, input name, output name, options) -> (input name, output name, image, points,
    reason)``."""
    from .detect import read_photo

    path, in_name, out_name, options = task
    try:
        image = read_photo(path)
    except (ValueError, OSError) as err:
        return in_name, out_name, None, None, f"unreadable: {str(err).splitlines()[0]}"
    result = prepare_image(image, options)
    if isinstance(result, str):
        return in_name, out_name, None, None, result
    return in_name, out_name, result[0], result[1], ""


# --------------------------------------------------------------------------------------------------
# folders
# --------------------------------------------------------------------------------------------------
def read_list(list_file: str | os.PathLike, partition: str | None = None) -> list[str]:
    """File names from a split list: the first whitespace-separated token of each non-empty line; with
    ``partition``, only lines whose second token equals it (CelebA ``list_eval_partition.txt``: 0 train,
    1 validation, 2 test). ``#`` starts a comment."""
    path = Path(list_file)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: list file not found")
    names = []
    for line in path.read_text().splitlines():
        parts = line.split("#", 1)[0].split()
        if not parts:
            continue
        if partition is not None and (len(parts) < 2 or parts[1] != str(partition)):
            continue
        names.append(parts[0])
    if not names:
        raise ValueError(f"{path}: no file names" + (f" in partition {partition}" if partition is not None else ""))
    return names


def list_photos(in_dir: str | os.PathLike, names: Iterable[str] | None = None) -> list[Path]:
    """The photos to prepare: every photo file directly in ``in_dir`` (sorted), or the listed ``names``
    (relative to ``in_dir``; a listed name without that exact file is looked up by its stem, so a list of
    ``.jpg`` names also finds ``.png`` files)."""
    root = Path(in_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: input folder not found")
    if names is None:
        photos = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
        if not photos:
            raise ValueError(f"{root}: no photos found (expected {', '.join(PHOTO_SUFFIXES)} files)")
        return photos
    by_stem: dict[str, Path] | None = None
    photos, missing = [], []
    for name in names:
        p = root / name
        if p.is_file():
            photos.append(p)
            continue
        if by_stem is None:
            by_stem = {q.stem: q for q in sorted(root.iterdir()) if q.suffix.lower() in PHOTO_SUFFIXES}
        q = by_stem.get(Path(name).stem)
        if q is None:
            missing.append(name)
        else:
            photos.append(q)
    if missing:
        raise FileNotFoundError(f"{root}: {len(missing)} listed file(s) not found, e.g. {missing[0]}")
    return photos


def _read_not_found(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                name, _, reason = line.partition("\t")
                out[name] = reason
    return out


def _check_settings(out: Path, options: PrepareOptions) -> None:
    path = out / SETTINGS_FILE
    want = options.settings()
    if path.exists():
        try:
            have = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise ValueError(f"{path}: not valid JSON; delete it or use a new output folder") from None
        if have != want:
            diff = ", ".join(f"{k}={have.get(k)!r} (now {want.get(k)!r})" for k in sorted(set(have) | set(want))
                             if have.get(k) != want.get(k))
            raise ValueError(f"{out} was prepared with other options: {diff}; use a new output folder")
    else:
        text = json.dumps(want, indent=1)
        atomic_write(path, lambda tmp: tmp.write_text(text + "\n"))


def prepare_folder(in_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                   options: PrepareOptions = PrepareOptions(), names: Iterable[str] | None = None,
                   workers: int = 1, retry_not_found: bool = False, progress: bool = True) -> PrepareResult:
    """Prepare every photo of ``in_dir`` (or the listed ``names``) into ``out_dir``; resumable.

    Output names are the input stems with ``.png`` (two inputs with one stem are refused). Returns a
    :class:`PrepareResult`; faces not found are listed in ``out_dir/not_found.txt``, not raised.
    """
    from .detect import import_dlib, shape_predictor

    start = time.perf_counter()
    photos = list_photos(in_dir, names)
    out_names = [p.stem + ".png" for p in photos]
    seen: dict[str, Path] = {}
    for p, n in zip(photos, out_names):
        if n in seen and seen[n] != p:
            raise ValueError(f"{seen[n].name} and {p.name} would both be written as {n}; rename one of them")
        seen[n] = p
    photos = list(seen.values())
    out_names = list(seen)
    out = Path(out_dir)
    if out.resolve() == Path(in_dir).resolve():
        raise ValueError(f"OUT_DIR {out}: is the input folder; prepare into another folder")
    refuse_overwriting([out / n for n in out_names], photos, "OUT_DIR")
    import_dlib()  # one-line error before anything is written when the extra is missing

    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(out, min_age_s=STALE_TEMP_AGE_S)
    _check_settings(out, options)
    final, partial, nf_path = out / LANDMARKS_FILE, out / PARTIAL_FILE, out / NOT_FOUND_FILE

    done: dict[str, list[list[float]]] = {}
    if final.exists():
        read_landmarks_file(final)
        done.update(json.loads(final.read_text()))
    done.update(read_partial(partial))
    done = {k: v for k, v in done.items() if (out / k).exists()}
    not_found = {} if retry_not_found else _read_not_found(nf_path)
    root = Path(in_dir)
    rel = {p: p.relative_to(root).as_posix() for p in photos}  # input names as listed in not_found.txt
    result = PrepareResult(out)
    todo = []
    for p, n in zip(photos, out_names):
        if n in done:
            result.already_done += 1
        elif rel[p] not in not_found:
            todo.append((os.fspath(p), rel[p], n, options))
    if retry_not_found and nf_path.exists():
        nf_path.unlink()

    if todo:
        shape_predictor()  # load once here: forked workers share it
        workers = max(1, min(int(workers), len(todo)))
        pool = None
        if workers > 1:
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            pool = ctx.Pool(workers)
            results = pool.imap_unordered(_work, todo, chunksize=1)
        else:
            results = map(_work, todo)
        try:
            with open(partial, "a") as log, open(nf_path, "a") as nf_log:
                for in_name, name, image, points, reason in tqdm(results, total=len(todo), desc="prepare",
                                                                 disable=not progress, unit="img"):
                    if image is None:
                        not_found[in_name] = reason
                        nf_log.write(f"{in_name}\t{reason}\n")
                        nf_log.flush()
                        continue
                    save_png(image, out / name)
                    done[name] = log_landmarks(log, name, points)
                    result.prepared.append(name)
        finally:
            if pool is not None:
                pool.terminate()
                pool.join()

    finish_landmarks(out, done)
    if not_found:
        nf_text = "".join(f"{k}\t{not_found[k]}\n" for k in sorted(not_found))
        atomic_write(nf_path, lambda tmp: tmp.write_text(nf_text))
    elif nf_path.exists():
        nf_path.unlink()
    result.not_found = {k: not_found[k] for k in sorted(not_found)}
    result.seconds = time.perf_counter() - start
    return result
