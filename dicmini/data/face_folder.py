"""Writing prepared face folders, resumably and atomically.

A folder is complete when ``landmarks.json`` lists every image. While a folder is being written, each
PNG is written to a temporary file and renamed into place, and its landmarks are appended (one JSON line
per image, flushed) to ``landmarks.partial.jsonl``. A run that is killed therefore leaves only whole
files; re-running the same command skips every image already recorded and finishes the rest, and
re-running a complete folder does nothing. ``landmarks.json`` itself is written atomically at the end.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..utils import atomic_write, remove_stale_temp_files
from .datasets import LANDMARKS_FILE, read_landmarks_file

PARTIAL_FILE = "landmarks.partial.jsonl"
#: temporary files older than this (seconds) in a face folder are left-overs of a killed run and removed
STALE_TEMP_AGE_S = 60.0

#: ``make(key) -> (uint8 image H x W x 3, float 68 x 2 landmarks)``
FaceMaker = Callable[[int], tuple[np.ndarray, np.ndarray]]


def read_partial(path: Path) -> dict[str, list[list[float]]]:
    done: dict[str, list[list[float]]] = {}
    if not path.exists():
        return done
    for line in path.read_text().splitlines():
        try:
            entry = json.loads(line)
            done[entry["file"]] = entry["landmarks"]
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a line cut short by a killed run: that image is simply made again
    return done


def log_landmarks(log, fname: str, points: np.ndarray) -> list[list[float]]:
    """Append one image's landmarks (rounded to 1e-4 px) to the partial log, durably; return them as lists."""
    pts = np.asarray(points, dtype=np.float64).round(4).tolist()
    log.write(json.dumps({"file": fname, "landmarks": pts}) + "\n")
    log.flush()
    os.fsync(log.fileno())
    return pts


def finish_landmarks(out: Path, done: dict[str, list[list[float]]]) -> Path:
    """Write ``landmarks.json`` (sorted, atomically, only if it changed) and drop the partial log."""
    final, partial = out / LANDMARKS_FILE, out / PARTIAL_FILE
    text = json.dumps({n: done[n] for n in sorted(done)}, separators=(",", ":"))
    if not final.exists() or final.read_text() != text:
        atomic_write(final, lambda tmp: tmp.write_text(text))
    if partial.exists():
        partial.unlink()
    return final


def save_png(image: np.ndarray, path: Path) -> None:
    """Write a uint8 RGB image as PNG atomically."""
    atomic_write(path, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))


def write_face_folder(out_dir: str | Path, keys: Iterable[int], make: FaceMaker,
                      name: Callable[[int], str] = lambda k: f"{k:07d}.png",
                      progress: bool = True, desc: str = "faces") -> Path:
    """Write ``make(key)`` for every key as ``out_dir/name(key)`` plus ``landmarks.json``; resumable.

    Returns the path of ``landmarks.json``. Images already recorded (in a finished ``landmarks.json``
    or the partial log of an interrupted run) are not made again.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_files(out, min_age_s=STALE_TEMP_AGE_S)
    final, partial = out / LANDMARKS_FILE, out / PARTIAL_FILE
    keys = list(keys)
    names = [name(k) for k in keys]
    if len(set(names)) != len(names):
        raise ValueError("keys: file names must be unique")

    done: dict[str, list[list[float]]] = {}
    if final.exists():
        read_landmarks_file(final)  # validates; the raw values are kept so an unchanged file is not rewritten
        done.update(json.loads(final.read_text()))
    done.update(read_partial(partial))
    done = {k: v for k, v in done.items() if (out / k).exists()}

    todo = [(k, n) for k, n in zip(keys, names) if n not in done]
    if todo:
        with open(partial, "a") as log:
            for key, fname in tqdm(todo, desc=desc, disable=not progress, unit="img"):
                image, points = make(key)
                save_png(image, out / fname)
                done[fname] = log_landmarks(log, fname, points)

    return finish_landmarks(out, done)
