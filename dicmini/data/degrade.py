"""The x8 degradation, the bilinear skip path, and image normalisation — in one place.

Both reference implementations make the low-resolution input with PIL's bicubic resize of the 128x128
high-resolution face (docs/reference_implementations.md, Data and degradation), and both feed the networks RGB
images scaled to [0, 1] minus the CelebA mean ``(0.509, 0.424, 0.378)`` with unit std (official issue #15; MMagic's
``DataPreprocessor(mean=[129.795, 108.12, 96.39], std=[255]*3)`` is the same). Every DICNet and every
checkpoint of dicmini lives in this normalised space.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

#: CelebA RGB mean used by DIC (official and MMagic), in [0, 1] units.
MEAN: tuple[float, float, float] = (0.509, 0.424, 0.378)


def _check_uint8_hwc(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name}: expected a uint8 H x W x 3 RGB image, got {image.dtype} {list(image.shape)}")
    return image


def resize_bicubic(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """PIL bicubic resize of a uint8 ``H x W x 3`` image to ``size = (height, width)``."""
    image = _check_uint8_hwc(image, "image")
    out = Image.fromarray(image).resize((size[1], size[0]), Image.BICUBIC)
    return np.asarray(out)


def downsample(hr: np.ndarray, scale: int = 8) -> np.ndarray:
    """HR -> LR with PIL bicubic, as both references do: ``uint8 H x W x 3 -> uint8 H/scale x W/scale x 3``."""
    hr = _check_uint8_hwc(hr, "hr")
    h, w = hr.shape[:2]
    if h % scale or w % scale:
        raise ValueError(f"hr: height and width must be multiples of scale={scale}, got {h} x {w}")
    return resize_bicubic(hr, (h // scale, w // scale))


@functools.lru_cache(maxsize=16)
def resize_matrix(size_in: int, size_out: int) -> np.ndarray:
    """PIL's bicubic resize of one row or column, ``size_in -> size_out`` samples, as a float64
    ``size_out x size_in`` matrix ``R`` (cached, read-only). PIL resizes an image one axis after the other with
    these weights, so ``downsample(hr)`` is ``R_h @ hr @ R_w.T`` per channel, up to the rounding of PIL's 8-bit
    passes (``R_h = resize_matrix(H, H // scale)``). Read off PIL itself (it resizes unit impulses), so it is PIL's
    kernel, antialiasing included, whatever the version."""
    if size_in < 1 or size_out < 1:
        raise ValueError(f"resize_matrix: sizes must be positive, got {size_in} -> {size_out}")
    weights = np.empty((size_out, size_in), dtype=np.float64)
    for i in range(size_in):
        impulse = np.zeros((1, size_in), dtype=np.float32)
        impulse[0, i] = 1.0
        weights[:, i] = np.asarray(Image.fromarray(impulse, mode="F").resize((size_out, 1), Image.BICUBIC))[0]
    weights.setflags(write=False)
    return weights


def bicubic_upsample(lr: np.ndarray, scale: int = 8) -> np.ndarray:
    """The classical baseline: PIL bicubic ``uint8 h x w x 3 -> uint8 h*scale x w*scale x 3``."""
    lr = _check_uint8_hwc(lr, "lr")
    return resize_bicubic(lr, (lr.shape[0] * scale, lr.shape[1] * scale))


def bilinear_skip(lr: torch.Tensor, scale: int = 8) -> torch.Tensor:
    """The global skip path of DICNet: bilinear x``scale``, ``align_corners=False``.

    Equal to MMagic's ``F.interpolate(x, size=(128, 128))`` for 16x16 inputs and to the official
    ``scale_factor=8`` call for every size. Works in any (normalised) space since it is linear.
    """
    return F.interpolate(lr, size=(lr.shape[-2] * scale, lr.shape[-1] * scale), mode="bilinear",
                         align_corners=False)


def normalize(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 RGB ``H x W x 3`` (or ``B x H x W x 3``) -> float32 ``3 x H x W`` (or ``B x 3 x H x W``) tensor
    ``x / 255 - MEAN``."""
    t = image if isinstance(image, torch.Tensor) else torch.from_numpy(np.array(image))
    if t.dtype != torch.uint8 or t.dim() not in (3, 4) or t.shape[-1] != 3:
        raise ValueError(f"image: expected uint8 H x W x 3 or B x H x W x 3, got {t.dtype} {list(t.shape)}")
    t = t.float().div(255.0).movedim(-1, -3)
    mean = torch.tensor(MEAN, dtype=torch.float32).view(3, 1, 1)
    return t - mean


def denormalize(tensor: torch.Tensor) -> np.ndarray:
    """Normalised ``3 x H x W`` (or ``B x 3 x H x W``) tensor -> float64 ``H x W x 3`` (or ``B x H x W x 3``)
    array in [0, 255] (clamped, **not** rounded: the MMagic evaluation protocol works on this float image)."""
    if tensor.dim() not in (3, 4) or tensor.shape[-3] != 3:
        raise ValueError(f"tensor: expected 3 x H x W or B x 3 x H x W, got {list(tensor.shape)}")
    mean = torch.tensor(MEAN, dtype=torch.float64, device=tensor.device).view(3, 1, 1)
    img = ((tensor.detach().double() + mean) * 255.0).clamp(0, 255)
    return img.movedim(-3, -1).cpu().numpy()


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Round and clip a float image in [0, 255] to uint8 (what gets saved as PNG)."""
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
