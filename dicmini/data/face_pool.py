"""A pre-rendered pool of synthetic faces: render each training face once, read it back from disk afterwards.

Drawing a face costs about 10-40 ms on one core; a tiny DIC iteration on four faces costs about 0.4 s, so on the
fly a third of the training time goes to painting the same faces again every epoch. A pool file holds the
``uint8`` images and ``float32`` landmarks of seeds ``first_seed .. first_seed+count-1`` at one size; the file
name carries a fingerprint of the renderer (the pixels of one probe face), so a changed renderer never reads
a stale pool. Files are written atomically (:func:`dicmini.utils.atomic_write`) and read without pickle.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from .face_shape import PORTRAIT_YAW
from ..utils import atomic_write

#: the seed whose pixels fingerprint the renderer in pool file names
PROBE_SEED = 12345


def default_pool_dir() -> Path:
    """``$DICMINI_FACE_POOL`` or ``<repository>/.cache/face-pool`` (ignored by git)."""
    env = os.environ.get("DICMINI_FACE_POOL")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".cache" / "face-pool"


def renderer_fingerprint(size: int) -> str:
    """First 12 hex digits of the SHA-256 of the probe face's pixels and landmarks at ``size``."""
    from .synthetic import render_face

    image, points = render_face(PROBE_SEED, size=size)
    return hashlib.sha256(image.tobytes() + points.tobytes()).hexdigest()[:12]


def pool_path(first_seed: int, count: int, size: int, folder: Path | None = None,
              yaw: tuple[float, float] = PORTRAIT_YAW, backdrop: float = 0.0, grin: float = 0.0) -> Path:
    """Where the pool of ``count`` faces from ``first_seed`` at ``size`` pixels (and a ``yaw``, ``backdrop`` or
    ``grin`` other than the default, named in the file) lives."""
    folder = default_pool_dir() if folder is None else Path(folder)
    pose = "" if tuple(yaw) == PORTRAIT_YAW else f"-yaw{yaw[0]:g}-{yaw[1]:g}"
    leaves = f"-leaves{backdrop:g}" if backdrop else ""
    smiles = f"-grin{grin:g}" if grin else ""
    return (folder / f"synthetic-{first_seed}-{count}-{size}px{pose}{leaves}{smiles}-"
            f"{renderer_fingerprint(size)}.npz")


def load_or_render_pool(first_seed: int, count: int, size: int = 128, folder: Path | None = None,
                        progress: bool = True, yaw: tuple[float, float] = PORTRAIT_YAW, backdrop: float = 0.0,
                        grin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [count, size, size, 3], landmarks float32 [count, 68, 2])`` of seeds
    ``first_seed ..``: read from the pool file, or rendered (exactly :func:`render_face`) and written first."""
    path = pool_path(first_seed, count, size, folder, yaw, backdrop, grin)
    if path.is_file():
        with np.load(path, allow_pickle=False) as data:
            images, points = data["images"], data["landmarks"]
        if images.shape == (count, size, size, 3) and points.shape == (count, 68, 2):
            return images, points
        print(f"dicmini: {path}: unexpected shapes {images.shape} / {points.shape}; rendering again",
              file=sys.stderr)
    from tqdm.auto import tqdm

    from .synthetic import render_face

    images = np.empty((count, size, size, 3), np.uint8)
    points = np.empty((count, 68, 2), np.float32)
    for i in tqdm(range(count), desc=f"rendering the face pool ({path.name})", disable=not progress):
        images[i], points[i] = render_face(first_seed + i, size=size, yaw=yaw, backdrop=backdrop, grin=grin)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, images=images, landmarks=points)

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, write)
    return images, points
