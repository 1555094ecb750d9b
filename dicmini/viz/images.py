"""Pure plotting helpers for the notebooks: image rows and grids, landmark and heatmap overlays,
a radial power spectrum (course_conventions §4.6, §4.9).

Every function either returns data (arrays) or draws on what it is given / returns the
:class:`~matplotlib.figure.Figure` it made. Nothing is shown or saved here: a notebook ends its cell with
``plt.show()``, a test closes the figure. Figures are made through :mod:`matplotlib.pyplot` (so the
inline backend can show them) and always with an explicit ``figsize``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..data.landmarks import COMPONENT_NAMES, GROUP_COLORS, NUM_LANDMARKS, per_landmark

__all__ = [
    "COMPONENT_COLORS",
    "GROUP_COLORS",
    "as_display_image",
    "component_colors",
    "heatmap_overlay",
    "image_grid",
    "image_row",
    "landmark_colors",
    "overlay_landmarks",
    "radial_power_spectrum",
    "upsample_nearest",
]


#: RGB colour of each of the 5 facial components, in channel order (left eye, right eye, nose, mouth, face
#: outline): the colour of the landmark group its range starts with (:data:`~dicmini.data.landmarks.COMPONENT_RANGES`;
#: the left eye, points 36-41, is the subject's ``right_eye``), so that an attention map and its landmark dots share a
#: colour: blue, green, orange, red, purple.
COMPONENT_COLORS: tuple[tuple[float, float, float], ...] = tuple(
    GROUP_COLORS[group] for group in ("right_eye", "left_eye", "nose_bridge", "outer_lips", "jaw"))


def component_colors(n: int = len(COMPONENT_NAMES)) -> list[tuple[float, float, float]]:
    """The first ``n`` component colours (cycled if ``n > 5``)."""
    if n < 1:
        raise ValueError(f"n: expected >= 1, got {n}")
    return [COMPONENT_COLORS[i % len(COMPONENT_COLORS)] for i in range(n)]


def landmark_colors() -> list[tuple[float, float, float]]:
    """One colour per 68-point landmark, from its group."""
    return per_landmark(GROUP_COLORS, (1.0, 1.0, 1.0))


def as_display_image(image) -> np.ndarray:
    """An image ready for ``imshow``: uint8 ``H x W x 3`` kept, float ``H x W x 3`` in [0, 255] rounded
    and clipped to uint8, ``3 x H x W`` tensors / arrays moved to channels-last, 2-D maps kept as float.
    """
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        return arr.astype(np.float64) if arr.dtype != np.uint8 else arr
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"image: expected H x W, H x W x 3 or 3 x H x W, got {list(arr.shape)}")
    if arr.dtype == np.uint8:
        return arr
    return np.clip(np.rint(arr.astype(np.float64)), 0, 255).astype(np.uint8)


def upsample_nearest(image: np.ndarray, factor: int) -> np.ndarray:
    """Enlarge ``H x W [x C]`` by pixel repetition (what "LR, nearest x8" means in the figures)."""
    if factor < 1:
        raise ValueError(f"factor: expected >= 1, got {factor}")
    arr = np.asarray(image)
    return arr.repeat(factor, axis=0).repeat(factor, axis=1)


def image_grid(images: Sequence, titles: Sequence[str] | None = None, ncols: int | None = None,
               figsize: tuple[float, float] | None = None, cmap: str = "viridis",
               suptitle: str | None = None, panel_size: float = 2.0, symmetric: bool = False):
    """A grid of images (``ncols`` per row; default: all in one row), one titled, axis-free panel each.

    ``images``: anything :func:`as_display_image` accepts; 2-D maps use ``cmap`` (nearest-neighbour
    display, so that a 16 x 16 image looks like 16 x 16 pixels); ``symmetric=True`` centres each map's
    colour scale on 0 (``[-max|v|, max|v|]``, for signed features and differences). Empty trailing panels
    are hidden.
    Returns the figure; ``figsize`` defaults to ``panel_size`` inches per panel.
    """
    import matplotlib.pyplot as plt

    images = list(images)
    if not images:
        raise ValueError("images: expected at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles: expected {len(images)} titles, got {len(titles)}")
    ncols = len(images) if ncols is None else ncols
    if ncols < 1:
        raise ValueError(f"ncols: expected >= 1, got {ncols}")
    nrows = -(-len(images) // ncols)
    if figsize is None:
        figsize = (panel_size * ncols, panel_size * nrows + (0.3 if suptitle else 0.0))
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= len(images):
            continue
        img = as_display_image(images[i])
        if img.ndim == 2:
            if symmetric:
                limit = float(np.abs(img).max()) or 1.0
                ax.imshow(img, cmap=cmap, interpolation="nearest", vmin=-limit, vmax=limit)
            else:
                ax.imshow(img, cmap=cmap, interpolation="nearest")
        else:
            ax.imshow(img, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


def image_row(images: Sequence, titles: Sequence[str] | None = None,
              figsize: tuple[float, float] | None = None, **kwargs):
    """One row of titled images (the standard "LR | bicubic | SR steps | HR" row). See :func:`image_grid`."""
    return image_grid(images, titles, ncols=len(list(images)), figsize=figsize, **kwargs)


def overlay_landmarks(ax, points, groups: bool = True, size: float = 10.0, numbers: bool = False,
                      color=(1.0, 1.0, 1.0), fontsize: float = 5.0, scale: float = 1.0):
    """Scatter landmarks ``N x 2`` ((x, y) pixels) on ``ax``; returns the scatter artist.

    ``groups=True`` colours a 68-point set by landmark group (:data:`GROUP_COLORS`), otherwise every
    point gets ``color``. ``numbers=True`` writes each point's 0-based index next to it. ``scale``
    multiplies the coordinates (e.g. 8 to draw 16-px landmarks on a x8 enlargement).
    """
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2) * scale
    if groups and len(pts) == NUM_LANDMARKS:
        colors = landmark_colors()
    else:
        colors = [color] * len(pts)
    art = ax.scatter(pts[:, 0], pts[:, 1], s=size, c=colors, edgecolors="black", linewidths=0.3, zorder=3)
    if numbers:
        for i, (x, y) in enumerate(pts):
            ax.annotate(str(i), (x, y), xytext=(1.5, 1.5), textcoords="offset points", fontsize=fontsize,
                        color="black", zorder=4)
    return art


def heatmap_overlay(image, maps, colors: Sequence[tuple[float, float, float]] | None = None,
                    alpha: float = 0.7, resample: str = "nearest") -> np.ndarray:
    """Blend ``K`` maps onto an image as coloured overlays: returns a uint8 ``H x W x 3`` image.

    ``image``: uint8 (or [0, 255] float) ``H x W x 3``; ``maps``: ``K x h x w`` (array or tensor) with
    ``H, W`` multiples of ``h, w`` (e.g. 5 component maps at 32 x 32 on a 128 x 128 face). Each map is
    clipped at 0, divided by its own maximum and enlarged (``resample="nearest"``: pixel repetition, shows
    the grid; ``"bilinear"``: smooth, ``align_corners=False``), then composited in order:
    ``out = out * (1 - a_k) + a_k * color_k`` with ``a_k = alpha * map_k``. ``colors`` defaults to
    :func:`component_colors`. The blend is computed in [0, 1] floats and rounded to uint8 at the end.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha: expected a value in [0, 1], got {alpha}")
    if resample not in ("nearest", "bilinear"):
        raise ValueError(f"resample: expected 'nearest' or 'bilinear', got {resample!r}")
    base = as_display_image(image)
    if base.ndim != 3:
        raise ValueError("image: expected an RGB image")
    if isinstance(maps, torch.Tensor):
        maps = maps.detach().cpu().numpy()
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3:
        raise ValueError(f"maps: expected K x h x w, got {list(maps.shape)}")
    h, w = maps.shape[1:]
    H, W = base.shape[:2]
    if H % h or W % w or H // h != W // w:
        raise ValueError(f"maps of {h} x {w} do not tile an image of {H} x {W}")
    colors = component_colors(len(maps)) if colors is None else list(colors)
    if len(colors) < len(maps):
        raise ValueError(f"colors: expected {len(maps)} colours, got {len(colors)}")
    out = base.astype(np.float64) / 255.0
    for m, c in zip(maps, colors):
        m = np.clip(m, 0.0, None)
        peak = m.max()
        if peak <= 0:
            continue
        m = m / peak
        if resample == "nearest":
            big = upsample_nearest(m, H // h)
        else:
            big = torch.nn.functional.interpolate(torch.from_numpy(m)[None, None], size=(H, W), mode="bilinear",
                                                  align_corners=False)[0, 0].numpy()
        a = alpha * np.clip(big, 0.0, 1.0)[..., None]
        out = out * (1.0 - a) + a * np.asarray(c, dtype=np.float64)
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def radial_power_spectrum(image) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of a square image (RGB is averaged to gray first).

    Returns ``(frequency, power)``: frequency in cycles per pixel, ``0, 1/N, ..., 1/2`` (``N // 2 + 1``
    bins, integer radii of the centred 2-D FFT), and the mean of ``|FFT|^2 / N^4`` over each ring.
    The mean (DC) is removed first, so ``power[0]`` is ~0; with this scaling the ring powers times the
    ring sizes sum to the image variance (Parseval), up to the corner frequencies beyond ``1/2``.
    """
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim == 3:
        arr = arr.mean(axis=2)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"image: expected a square H x W (x 3) image, got {list(np.shape(image))}")
    n = arr.shape[0]
    spec = np.abs(np.fft.fftshift(np.fft.fft2(arr - arr.mean()))) ** 2 / n**4
    yy, xx = np.indices(spec.shape)
    r = np.rint(np.hypot(yy - n // 2, xx - n // 2)).astype(int)
    nbins = n // 2 + 1
    keep = r < nbins
    sums = np.bincount(r[keep], weights=spec[keep], minlength=nbins)
    counts = np.bincount(r[keep], minlength=nbins)
    power = sums / np.maximum(counts, 1)
    return np.arange(nbins) / n, power


def finish_figure(fig, axes, suptitle: str | None = None, fontsize: int = 11):
    """Hide every axis frame, add the optional ``suptitle`` and tighten the layout; returns ``fig``."""
    for ax in getattr(axes, "flat", axes):
        ax.set_axis_off()
    if suptitle:
        fig.suptitle(suptitle, fontsize=fontsize)
    fig.tight_layout()
    return fig
