"""The 68-point facial landmark layout, landmark heatmaps and the 68 -> 5 component merge.

DIC supervises its landmark branch with one Gaussian heatmap per landmark (paper §3.4, "alignment
loss"; docs/reference_implementations.md, Data and degradation) and guides the recovery branch with 5 *facial
component* attention maps obtained by normalising and summing groups of the 68 predicted heatmaps (paper §3.2, Fig. 3;
docs/reference_implementations.md, Component maps: official ``merge_heatmap_5``, MMagic
``reduce_to_five_heatmaps``).

Conventions used throughout dicmini:

* Landmarks follow the iBUG 300-W 68-point layout, **0-based** indices (the paper and both reference
  implementations use the same layout).
* A landmark is ``(x, y)`` = (column, row) in pixel units of its image, with pixel *centres* at integer
  coordinates. So the top-left pixel is centred at ``(0, 0)`` and a horizontal flip of a ``W``-wide
  image maps ``x`` to ``W - 1 - x``.
* Heatmaps live on a ``heatmap_size`` grid (32 for a 128 image); grid cell ``(u, v)`` corresponds to
  image position ``(u, v) * image_size / heatmap_size``, exactly as the reference formula assumes.
"""

from __future__ import annotations

from typing import overload

import numpy as np
import torch

NUM_LANDMARKS = 68

#: Contiguous index ranges (start, end-exclusive) of the iBUG 68-point layout.
LANDMARK_GROUPS: dict[str, tuple[int, int]] = {
    "jaw": (0, 17),
    "right_brow": (17, 22),  # the subject's right brow = image left
    "left_brow": (22, 27),
    "nose_bridge": (27, 31),
    "nostrils": (31, 36),
    "right_eye": (36, 42),  # the subject's right eye = image left
    "left_eye": (42, 48),
    "outer_lips": (48, 60),
    "inner_lips": (60, 68),
}

#: RGB colour (floats in [0, 1]) of each 68-point landmark group (:data:`LANDMARK_GROUPS`): the one colour
#: table of the package (figures, contact sheets, attention maps).
GROUP_COLORS: dict[str, tuple[float, float, float]] = {
    "jaw": (0.58, 0.40, 0.74),          # purple
    "right_brow": (0.55, 0.34, 0.29),
    "left_brow": (0.89, 0.47, 0.76),
    "nose_bridge": (1.00, 0.50, 0.05),  # orange
    "nostrils": (0.74, 0.74, 0.13),
    "right_eye": (0.12, 0.47, 0.71),    # blue
    "left_eye": (0.17, 0.63, 0.17),     # green
    "outer_lips": (0.84, 0.15, 0.16),   # red
    "inner_lips": (0.09, 0.75, 0.81),
}


def per_landmark(by_group: dict, default):
    """Expand a value per landmark group (keys of :data:`LANDMARK_GROUPS`) to a list of 68 values, one per
    point; points of groups missing from ``by_group`` get ``default`` (used for per-point colours)."""
    values = [default] * NUM_LANDMARKS
    for name, (a, b) in LANDMARK_GROUPS.items():
        if name in by_group:
            values[a:b] = [by_group[name]] * (b - a)
    return values


#: The 5 facial components that guide the attentive fusion, in channel order.
#: Note: component 4 ("face outline") is the jaw line *and* both eyebrows, exactly as the reference.
COMPONENT_NAMES: tuple[str, ...] = ("left eye", "right eye", "nose", "mouth", "face outline")
COMPONENT_RANGES: tuple[tuple[int, int], ...] = ((36, 42), (42, 48), (27, 36), (48, 68), (0, 27))

#: Points of the outer eye corners, the inter-ocular normaliser of the NME (0-based 36 and 45).
OUTER_EYE_CORNERS: tuple[int, int] = (36, 45)


def _flip_permutation() -> tuple[int, ...]:
    """Index permutation that maps the landmarks of a mirrored face back onto the 68-point layout.

    After mirroring an image, the point that *was* the subject's right eye corner 36 is now where
    the left eye corner 45 should be, and so on. ``flipped[i] = mirrored[FLIP_PERMUTATION[i]]``.
    (The official Helen augmentation does not swap the eyes; docs/reference_implementations.md, Data and
    degradation.)
    """
    perm = list(range(NUM_LANDMARKS))

    def swap(a: list[int], b: list[int]) -> None:
        for i, j in zip(a, b):
            perm[i], perm[j] = j, i

    swap(list(range(0, 8)), list(range(16, 8, -1)))  # jaw, 8 (chin) stays
    swap(list(range(17, 22)), list(range(26, 21, -1)))  # brows
    swap([31, 32], [35, 34])  # nostrils, 33 stays; bridge 27-30 stays
    swap([36, 37, 38, 39, 40, 41], [45, 44, 43, 42, 47, 46])  # eyes
    swap([48, 49, 50, 55, 56], [54, 53, 52, 59, 58])  # outer lips, 51 and 57 stay
    swap([60, 61, 65], [64, 63, 67])  # inner lips, 62 and 66 stay
    return tuple(perm)


FLIP_PERMUTATION: tuple[int, ...] = _flip_permutation()


def flip_landmarks(points: np.ndarray, width: int) -> np.ndarray:
    """Landmarks of the horizontally mirrored image: ``x -> width - 1 - x`` plus the left/right swap.

    ``points`` is ``[..., 68, 2]``; the result has the same shape and dtype. Applying it twice gives
    the input back exactly.
    """
    points = np.asarray(points)
    if points.shape[-2:] != (NUM_LANDMARKS, 2):
        raise ValueError(f"points: expected shape [..., 68, 2], got {list(points.shape)}")
    mirrored = points.copy()
    mirrored[..., 0] = (width - 1) - mirrored[..., 0]
    return mirrored[..., list(FLIP_PERMUTATION), :]


def flip_image(image: np.ndarray) -> np.ndarray:
    """Mirror an ``H x W x C`` (or ``H x W``) image left-right."""
    return np.ascontiguousarray(np.asarray(image)[:, ::-1])


@overload
def landmarks_to_heatmaps(points: np.ndarray, image_size: int = ..., heatmap_size: int = ...,
                          sigma: float = ...) -> np.ndarray: ...
@overload
def landmarks_to_heatmaps(points: torch.Tensor, image_size: int = ..., heatmap_size: int = ...,
                          sigma: float = ...) -> torch.Tensor: ...


def landmarks_to_heatmaps(points, image_size: int = 128, heatmap_size: int = 32, sigma: float = 1.0):
    """Render one un-normalised Gaussian heatmap per landmark (docs/reference_implementations.md,
    Data and degradation).

    ``h[k, v, u] = exp(-((u - s*x_k)^2 + (v - s*y_k)^2) / (2 sigma^2))`` with ``s = heatmap_size /
    image_size`` and ``u, v`` the integer column/row indices of the heatmap grid. Computed in float64
    and returned as float32, no normalisation and no truncation (the peak is below 1 unless the scaled
    point falls on a grid point), exactly as MMagic's ``GenerateFacialHeatmap`` and the official
    ``generate_gt``.

    ``points``: ``[..., N, 2]`` (x, y) in pixels of the ``image_size`` image, NumPy or torch; the result
    is ``[..., N, heatmap_size, heatmap_size]`` of the same kind (torch keeps the device).
    """
    is_torch = isinstance(points, torch.Tensor)
    arr = points.detach().cpu().numpy() if is_torch else np.asarray(points)
    if arr.ndim < 2 or arr.shape[-1] != 2:
        raise ValueError(f"points: expected shape [..., N, 2] of (x, y), got {list(arr.shape)}")
    if image_size <= 0 or heatmap_size <= 0 or sigma <= 0:
        raise ValueError("image_size, heatmap_size and sigma must be positive")
    scaled = arr.astype(np.float64) * (heatmap_size / image_size)
    grid = np.arange(heatmap_size, dtype=np.float64)
    dx2 = (grid - scaled[..., 0:1]) ** 2  # [..., N, W]
    dy2 = (grid - scaled[..., 1:2]) ** 2  # [..., N, H]
    heat = np.exp(-(dy2[..., :, None] + dx2[..., None, :]) / (2.0 * sigma**2)).astype(np.float32)
    if is_torch:
        return torch.from_numpy(heat).to(points.device)
    return heat


def merge_to_components(heatmaps: torch.Tensor, detach: bool = False) -> torch.Tensor:
    """68 landmark heatmaps -> 5 facial-component attention maps (docs/reference_implementations.md,
    Component maps).

    Each heatmap is divided by its spatial maximum (clamped below at 0.05, so flat or negative maps of
    an untrained net do not explode), then the maps of each component are summed:
    left eye 36-41, right eye 42-47, nose 27-35, mouth 48-67, face outline 0-26 (jaw *and* brows).
    A 5-channel input is only normalised. ``[B, 68, h, w] -> [B, 5, h, w]``.
    """
    if heatmaps.dim() != 4:
        raise ValueError(f"heatmaps: expected [B, C, h, w], got {list(heatmaps.shape)}")
    peak = heatmaps.amax(dim=(2, 3), keepdim=True).clamp_min(0.05)
    normalised = heatmaps / peak
    channels = heatmaps.size(1)
    if channels == len(COMPONENT_RANGES):
        merged = normalised
    elif channels == NUM_LANDMARKS:
        merged = torch.stack([normalised[:, a:b].sum(1) for a, b in COMPONENT_RANGES], dim=1)
    else:
        raise ValueError(f"heatmaps: expected 68 landmark or 5 component channels, got {channels}")
    return merged.detach() if detach else merged


def heatmaps_to_landmarks(heatmaps: torch.Tensor | np.ndarray, image_size: int = 128,
                          method: str = "soft", window: int = 3) -> torch.Tensor | np.ndarray:
    """Landmark coordinates from heatmaps ``[..., N, h, w] -> [..., N, 2]`` in pixels of the image.

    * ``method="argmax"``: the grid cell of the maximum (resolution ``image_size / h`` pixels).
    * ``method="soft"``: sub-pixel soft-argmax, the centroid of the (non-negative part of the) heatmap
      in a ``(2*window+1)^2`` neighbourhood of the argmax. For the sigma=1 Gaussians of
      :func:`landmarks_to_heatmaps` it recovers the landmark to ~1e-2 image pixels while the window lies
      inside the grid; within ``window`` cells of the border the cut-off Gaussian biases it inwards.
    """
    is_torch = isinstance(heatmaps, torch.Tensor)
    h = heatmaps.detach().float() if is_torch else torch.from_numpy(np.asarray(heatmaps, dtype=np.float32))
    if h.dim() < 3:
        raise ValueError(f"heatmaps: expected [..., N, h, w], got {list(h.shape)}")
    lead, (hh, ww) = h.shape[:-2], h.shape[-2:]
    flat = h.reshape(-1, hh, ww)
    idx = flat.reshape(flat.size(0), -1).argmax(dim=1)
    vy, ux = (idx // ww).float(), (idx % ww).float()
    if method == "argmax":
        coords = torch.stack([ux, vy], dim=-1)
    elif method == "soft":
        offsets = torch.arange(-window, window + 1, device=flat.device, dtype=torch.float32)
        cols = (ux[:, None] + offsets[None]).clamp(0, ww - 1)  # [M, K]
        rows = (vy[:, None] + offsets[None]).clamp(0, hh - 1)
        m = torch.arange(flat.size(0), device=flat.device)[:, None, None]
        patch = flat[m, rows.long()[:, :, None], cols.long()[:, None, :]].clamp_min(0)  # [M, K, K]
        # de-duplicate clamped border positions so that they are not counted twice
        valid_c = torch.cat([torch.ones_like(cols[:, :1]), (cols[:, 1:] != cols[:, :-1]).float()], 1)
        valid_r = torch.cat([torch.ones_like(rows[:, :1]), (rows[:, 1:] != rows[:, :-1]).float()], 1)
        weight = patch * valid_r[:, :, None] * valid_c[:, None, :]
        total = weight.sum(dim=(1, 2)).clamp_min(1e-12)
        x = (weight.sum(1) * cols).sum(1) / total
        y = (weight.sum(2) * rows).sum(1) / total
        coords = torch.stack([x, y], dim=-1)
    else:
        raise ValueError(f"method: expected 'argmax' or 'soft', got {method!r}")
    coords = coords * (image_size / ww)
    coords = coords.reshape(*lead, 2)
    if is_torch:
        return coords.to(heatmaps.device)
    return coords.numpy()
