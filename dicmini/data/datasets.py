"""Torch datasets of faces for DIC: synthetic faces made on the fly, and prepared folders.

Every sample is a dict with the tensors DIC trains on (paper §4.1;
docs/reference_implementations.md, Data and degradation):

* ``"lr"``: normalised LR image ``[3, H/8, W/8]`` (PIL bicubic from the HR image, then ``x/255 - MEAN``)
* ``"hr"``: normalised HR image ``[3, H, W]``
* ``"heatmaps"``: ``[68, H/4, W/4]`` Gaussian landmark heatmaps (``sigma`` 1 by default), the alignment-loss target
* ``"landmarks"``: ``[68, 2]`` float32 (x, y) in HR pixels
* ``"name"``: the file name (folders) or ``"seed_<n>"`` (synthetic)

The prepared-folder format (written by ``dicmini data synth`` and ``dicmini data prepare``)::

    DIR/
      000000.png ...        # 128x128 RGB PNG (any file names; .png, .jpg, .jpeg, .bmp accepted)
      landmarks.json        # {"000000.png": [[x, y], ... 68 pairs], ...} in that image's pixels

Images are read by :func:`dicmini.data.image_io.read_rgb`: grayscale is converted to RGB (the channel is
replicated: nothing is invented), 16-bit images are scaled to 8 bits, palette and CMYK converted; images with an
alpha channel are **refused** (there is no right background colour to composite on), as are images of
the wrong size. Errors name the offending file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .degrade import downsample, normalize
from .face_shape import PORTRAIT_YAW
from .image_io import ALPHA_MODES, ImageReadError, read_rgb, read_size
from .landmarks import NUM_LANDMARKS, landmarks_to_heatmaps

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
LANDMARKS_FILE = "landmarks.json"


class FaceDataError(ValueError):
    """A prepared face folder (or one of its files) is not in the expected format."""


def make_sample(hr: np.ndarray, landmarks: np.ndarray, name: str, scale: int = 8,
                heatmap_ratio: int = 4, sigma: float = 1.0) -> dict[str, Any]:
    """Build the training sample of one uint8 ``H x W x 3`` HR face and its ``68 x 2`` landmarks."""
    h = hr.shape[0]
    lr = downsample(hr, scale)
    heat = landmarks_to_heatmaps(landmarks, image_size=h, heatmap_size=h // heatmap_ratio, sigma=sigma)
    return {
        "lr": normalize(lr),
        "hr": normalize(hr),
        "heatmaps": torch.from_numpy(heat),
        "landmarks": torch.from_numpy(np.asarray(landmarks, dtype=np.float32)),
        "name": name,
    }


class SyntheticFaces(Dataset):
    """Procedural faces generated on the fly: sample ``i`` is ``render_face(first_seed + i)``.

    Seeds at or above :data:`dicmini.data.synthetic.HELD_OUT_SEED_START` are reserved for held-out
    evaluation; a training set (``held_out=False``) refuses to reach them, and ``held_out=True`` starts
    at that boundary (``first_seed`` is then an offset into the held-out range). ``pool=True`` renders every
    face once into a pool file (:mod:`dicmini.data.face_pool`) and reads the same pixels from it afterwards.
    ``yaw`` = (standard deviation, limit) of the heads' yaw in degrees (:func:`dicmini.data.face_shape.sample_shape`);
    ``backdrop`` = the share of faces with a dead-leaves background (:mod:`dicmini.data.synthetic.dead_leaves`);
    ``grin`` = the share with a photographed expression (:func:`dicmini.data.face_shape.grin`).
    """

    def __init__(self, length: int, first_seed: int = 0, held_out: bool = False, size: int = 128,
                 scale: int = 8, sigma: float = 1.0, pool: bool = False,
                 yaw: tuple[float, float] = PORTRAIT_YAW, backdrop: float = 0.0, grin: float = 0.0) -> None:
        from .synthetic import HELD_OUT_SEED_START

        if length <= 0:
            raise ValueError(f"length: expected a positive number of faces, got {length}")
        if first_seed < 0:
            raise ValueError(f"first_seed: expected >= 0, got {first_seed}")
        self.first_seed = first_seed + (HELD_OUT_SEED_START if held_out else 0)
        if not held_out and self.first_seed + length > HELD_OUT_SEED_START:
            raise ValueError(
                f"first_seed + length = {self.first_seed + length} reaches the held-out seeds "
                f"(>= {HELD_OUT_SEED_START}); use held_out=True for evaluation sets")
        self.length, self.size, self.scale, self.sigma, self.yaw = length, size, scale, sigma, tuple(yaw)
        self.backdrop, self.grin = backdrop, grin
        self._pool: tuple[np.ndarray, np.ndarray] | None = None
        if pool:
            from .face_pool import load_or_render_pool

            self._pool = load_or_render_pool(self.first_seed, length, size, yaw=self.yaw, backdrop=backdrop,
                                             grin=grin)

    def __len__(self) -> int:
        return self.length

    def seed(self, index: int) -> int:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} faces")
        return self.first_seed + index

    def __getitem__(self, index: int) -> dict[str, Any]:
        from .synthetic import render_face

        seed = self.seed(index)
        if self._pool is not None:
            image, points = self._pool[0][index], self._pool[1][index]
        else:
            image, points = render_face(seed, size=self.size, yaw=self.yaw, backdrop=self.backdrop, grin=self.grin)
        return make_sample(image, points, f"seed_{seed}", scale=self.scale, sigma=self.sigma)


def read_landmarks_file(path: Path) -> dict[str, np.ndarray]:
    """Read and validate ``landmarks.json``: each entry must be 68 finite (x, y) pairs."""
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise FaceDataError(f"{path}: landmarks file not found (expected {LANDMARKS_FILE} beside the images)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise FaceDataError(f"{path}: not valid JSON ({err})") from None
    except RecursionError:
        raise FaceDataError(f"{path}: JSON nested too deeply; expected an object mapping file name -> 68 [x, y] "
                            "pairs") from None
    except IsADirectoryError:
        raise FaceDataError(f"{path}: is a directory, expected the landmarks JSON file") from None
    if not isinstance(raw, dict):
        raise FaceDataError(f"{path}: expected a JSON object mapping file name -> 68 [x, y] pairs")
    out: dict[str, np.ndarray] = {}
    for name, pts in raw.items():
        try:
            arr = np.asarray(pts, dtype=np.float64)
        except (TypeError, ValueError):
            raise FaceDataError(f"{path}: entry {name!r} is not a list of numeric [x, y] pairs") from None
        if arr.shape != (NUM_LANDMARKS, 2):
            raise FaceDataError(f"{path}: entry {name!r} has shape {list(arr.shape)}, expected 68 [x, y] pairs")
        if not np.all(np.isfinite(arr)):
            raise FaceDataError(f"{path}: entry {name!r} contains NaN or infinite coordinates")
        out[name] = arr.astype(np.float32)
    return out


def load_face_image(path: Path, size: int | None = None) -> np.ndarray:
    """Load an RGB face as uint8 ``H x W x 3`` (:func:`dicmini.data.image_io.read_rgb`: grey, 16-bit, palette and
    CMYK converted, non-opaque alpha refused), size checked; errors are :class:`FaceDataError` naming the file."""
    try:
        arr = read_rgb(path, alpha="refuse")
    except (ImageReadError, FileNotFoundError) as err:
        raise FaceDataError(str(err)) from None
    if size is not None and arr.shape[:2] != (size, size):
        raise FaceDataError(f"{path}: image is {arr.shape[1]}x{arr.shape[0]}, expected {size}x{size}")
    return arr


class FaceFolder(Dataset):
    """A prepared folder of ``size x size`` face images plus ``landmarks.json`` (format above).

    The folder is validated when the dataset is built: no images, a missing or malformed landmarks
    file, images without landmarks, landmark entries without images, wrong point counts, NaN
    coordinates, and (reading only the image headers) wrong sizes or modes all raise
    :class:`FaceDataError` naming the file. Decoding errors of a truncated file are raised, with its
    name, when the sample is read.
    """

    def __init__(self, root: str | Path, size: int = 128, scale: int = 8, sigma: float = 1.0) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FaceDataError(f"{self.root}: not a directory")
        files = sorted(p.name for p in self.root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        if not files:
            raise FaceDataError(f"{self.root}: no images found (expected {', '.join(IMAGE_SUFFIXES)} files)")
        self.landmarks = read_landmarks_file(self.root / LANDMARKS_FILE)
        missing = [f for f in files if f not in self.landmarks]
        extra = sorted(set(self.landmarks) - set(files))
        if missing:
            raise FaceDataError(f"{self.root / LANDMARKS_FILE}: no landmarks for {len(missing)} image(s), "
                                f"e.g. {missing[:3]}")
        if extra:
            raise FaceDataError(f"{self.root / LANDMARKS_FILE}: {len(extra)} entry(ies) without an image, "
                                f"e.g. {extra[:3]}")
        for name in files:
            self._check_header(self.root / name, size)
        self.files, self.size, self.scale, self.sigma = files, size, scale, sigma

    @staticmethod
    def _check_header(path: Path, size: int) -> None:
        try:
            w, h, mode = read_size(path)
        except (ImageReadError, FileNotFoundError) as err:
            raise FaceDataError(str(err)) from None
        if (w, h) != (size, size):
            raise FaceDataError(f"{path}: image is {w}x{h}, expected {size}x{size}")
        if mode in ALPHA_MODES:
            raise FaceDataError(f"{path}: image has an alpha channel ({mode}); save it as RGB")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict[str, Any]:
        name = self.files[index]
        image = load_face_image(self.root / name, self.size)
        return make_sample(image, self.landmarks[name], name, scale=self.scale, sigma=self.sigma)


def collate(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the tensors of a list of samples; names become a list."""
    return {key: [s[key] for s in samples] if not isinstance(samples[0][key], torch.Tensor)
            else torch.stack([s[key] for s in samples]) for key in samples[0]}
